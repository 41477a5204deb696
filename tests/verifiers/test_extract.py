"""Final-answer extraction and normalisation: rules, traps, and fuzzing for speed and safety."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardkit.verifiers import (
    extract_answer,
    extract_final_answer,
    normalize_answer,
    reference_answer,
)
from rewardkit.verifiers._closed_form import closed_form, format_closed_form
from rewardkit.verifiers._extract import canonical_answer, find_boxed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the result is \\boxed{\\dfrac{1}{2}}.", "1/2"),
        ("\\boxed 5$ done", "5"),
        ("first \\boxed{3}, then on reflection \\boxed{4}", "4"),
        ("The answer is $\\frac13$.", "1/3"),
        ("Final answer: 1,234", "1234"),
        ("**Final Answer:** 17", "17"),
        ("**Final Answer**: $-3$", "-3"),
        ("blah\n#### 72", "72"),
        ("\\boxed{x = 5}", "5"),
        ("\\boxed{10\\text{ cm}}", "10"),
        ("\\boxed{30^\\circ}", "30"),
        ("\\boxed{\\$1,000.}", "1000"),
        ("\\boxed{\\left( 1, 2 \\right)}", "(1, 2)"),
        ("\\boxed{2 \\sqrt 3}", "2*sqrt(3)"),
        ("\\boxed{\\pi r^2}", "\\pi r^2"),  # the space that ends a command is kept
        ("\\boxed{\\text{(B)}}", "(B)"),
        ("\\boxed{50\\%}", "50"),
        ("\\boxed{{5}}", "5"),
        ("\\boxed{1{,}000}", "1000"),
        ("\\boxed{(10^{10})!}", "(10^{10})!"),  # a factorial is not punctuation
        ("\\fbox{7}", "7"),
        ("a truncated box \\boxed{5} and \\boxed{", "5"),
        # wrappers TRL's accuracy_reward sees through
        ("\\boxed{\\boxed{2}}", "2"),
        ("\\boxed{\\fbox{\\boxed{-2}}}", "-2"),
        ("The answer is \\[ 42 \\]", "42"),
        ("The answer is \\[ 42. \\] Done.", "42"),
        ("The answer is \\( x^2 \\).", "x^2"),
        ("the answer is **10**.", "10"),
        ("**The answer is 10**", "10"),
        ("The answer is __7__", "7"),
        ("The answer is *x+1*.", "x+1"),
        ("\\boxed{**3**}", "3"),
        ("\\boxed{x^*}", "x^*"),  # a superscript star is not emphasis
        # plain-word units after a number; algebra and function names are kept
        ("\\boxed{12 apples}", "12"),
        ("The answer is 1,500 square feet.", "1500"),
        ("\\boxed{x = 4 cm}", "4"),
        ("\\boxed{2x}", "2x"),
        ("\\boxed{2 \\sin x}", "2\\sin x"),
        ("\\boxed{2 sin x}", "2sinx"),
        ("\\boxed{3 or 5}", "3or5"),
        # one key per value for the simple forms
        ("\\boxed{0.50}", "1/2"),
        ("\\boxed{.5}", "1/2"),
        ("\\boxed{\\frac{2}{4}}", "1/2"),
        ("\\boxed{5, 3}", "{3, 5}"),
        ("\\boxed{(-\\infty, 2]}", "(-oo, 2]"),
        ("\\boxed{\\frac{\\sqrt{2}\\pi}{4}}", "sqrt(2)*pi/4"),
        ("\\boxed{" + "{" * 900 + "1" + "}" * 900 + "}", "1"),  # grouping, however deep
    ],
)
def test_extract_final_answer(text: str, expected: str) -> None:
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no answer here at all",
        "If the answer is 5 then we are done.\nBut it is not.\nKeep going.\nStill going.",
        "\\boxed{",
        "\\boxed{}",
        "the answer is ",
    ],
)
def test_no_final_answer(text: str) -> None:
    assert extract_final_answer(text) is None


def test_non_strings_are_no_answer() -> None:
    for value in (None, 5, b"\\boxed{5}", ["\\boxed{5}"]):
        assert extract_final_answer(value) is None  # type: ignore[arg-type]


def test_phrase_fallbacks_only_look_at_the_end() -> None:
    early = "The answer is 3, I guessed.\n" + "more reasoning\n" * 10 + "so it is 9"
    assert extract_answer(early, ("answer_is",)) is None
    assert extract_answer(early, ("last_number",)) == "9"
    assert extract_answer("we get $x = 4$ and then $5$.", ("last_dollar",)) == "5"
    assert extract_answer("$x=3$ is not final, we go on", ("last_dollar",)) is None


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("3, 5", "3, 5"),
        ("$(-\\infty, 2]$", "(-\\infty, 2]"),
        ("\\boxed{2\\sqrt{3}}", "2\\sqrt{3}"),
        ("Add them: $3+4$.\nSo the total is $\\boxed{7}$.", "7"),
        ("Natalia sold 48 clips.\n#### 72", "72"),
        (42, "42"),
        (None, None),
        (True, None),
        ("", None),
    ],
)
def test_reference_answer(reference: object, expected: str | None) -> None:
    assert reference_answer(reference) == expected


def test_normalisation_is_idempotent_on_examples() -> None:
    for s in ["\\frac{1}{2}", "(1,2]", "x^2+1", "\\sqrt{3}", "1000", "\\pi r^2"]:
        assert normalize_answer(normalize_answer(s)) == normalize_answer(s)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 1_000_000 + "\\boxed{7}",
        "{" * 1_000_000,
        "\\boxed{" * 300_000,
        "the answer is " * 100_000,
        "\\boxed{" + "\\text{" * 3000 + "5" + "}" * 3001,
        "$" * 1_000_000,
        "#### " * 200_000,
        "\\boxed{" + "{" * 3000 + "1" + "}" * 3001,
    ],
)
def test_megabyte_and_deeply_nested_inputs_are_cheap(text: str) -> None:
    t0 = time.perf_counter()
    extract_final_answer(text)
    for source in ("last_dollar", "last_number"):
        extract_answer(text, (source,))  # type: ignore[arg-type]
    assert time.perf_counter() - t0 < 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_fuzz_extraction_never_raises(text: str) -> None:
    got = extract_final_answer(text)
    assert got is None or (isinstance(got, str) and got)
    if got is not None:
        closed_form(got)


_LATEXY = st.lists(
    st.sampled_from([*"{}\\$()[],.=^_ 0123456789xab", "\\boxed", "\\frac", "\\text"]),
    max_size=400,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_LATEXY, st.integers(min_value=0, max_value=3000))
def test_fuzz_latex_soup_and_nesting(body: str, depth: int) -> None:
    text = "\\boxed{" * depth + body + "}" * depth
    t0 = time.perf_counter()
    got = extract_final_answer(text)
    assert time.perf_counter() - t0 < 0.5
    if got is not None:
        assert normalize_answer(got) is not None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(1, 10**6))
def test_fuzz_closed_form_matches_arithmetic(num: int, den: int) -> None:
    from fractions import Fraction

    value = closed_form(normalize_answer(f"\\frac{{{num}}}{{{den}}}"))
    assert value == ("num", (Fraction(num, den), 1, 0))


def test_exact_verifier_strips_emphasis_and_math_delimiters() -> None:
    from rewardkit import EngineConfig, ExecutionEngine, Outcome, Rollout, ScoringContext
    from rewardkit.verifiers import ExactMatchVerifier

    completions = [
        "The answer is: **Paris**",
        "The answer is \\( Paris \\)",
        "**Final Answer:** Paris",
    ]
    # `exact` needs no workers: the engine is only consulted for its input cap.
    with ExecutionEngine(EngineConfig(workers=1)) as engine:
        results = ExactMatchVerifier().score(
            [Rollout(prompt="q", completion=c, reference="Paris") for c in completions],
            ScoringContext(engine=engine),
        )
    assert [(r.outcome, r.answer) for r in results] == [(Outcome.CORRECT, "paris")] * 3


def test_canonical_answer_leaves_other_answers_alone() -> None:
    for s in ["x^2+1", "\\pi r^2", "(B)", "\\frac{1}{0}", "9^{9^{9}}", "1,2,x"]:
        assert canonical_answer(s) == s


_NUMBER_PARTS = st.tuples(
    st.fractions(max_denominator=50).filter(lambda f: abs(f) < 10**6),
    st.sampled_from([1, 2, 3, 5, 6, 7, 10]),
    st.integers(0, 3),
)


@settings(max_examples=200, deadline=None)
@given(_NUMBER_PARTS)
def test_closed_form_text_is_what_sympy_prints(parts: tuple[Fraction, int, int]) -> None:
    # The closed-form key and the worker's sympy key agree, so `2^{-1}` and `0.5` collide.
    import sympy

    coef, radicand, power = parts
    value = (coef, radicand, power) if coef else (Fraction(0), 1, 0)
    expected = sympy.Rational(coef.numerator, coef.denominator) * sympy.sqrt(radicand)
    assert format_closed_form(("num", value)) == str(expected * sympy.pi**power)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fractions(max_denominator=20), min_size=2, max_size=5, unique=True))
def test_set_keys_ignore_order(members: list[Fraction]) -> None:
    texts = [f"\\frac{{{m.numerator}}}{{{m.denominator}}}" for m in members]
    key = canonical_answer(normalize_answer(", ".join(texts)))
    assert key == canonical_answer(normalize_answer(", ".join(reversed(texts))))
    assert key.startswith("{") and key.count(",") == len(members) - 1


def test_find_boxed_counts_outermost_boxes_only() -> None:
    nested = "\\boxed{" * 20 + "2" + "}" * 20
    # The inner boxes of the last answer must not use up the budget and hide the first answer.
    assert find_boxed(f"\\boxed{{1}} then {nested}") == ["1", nested[len("\\boxed{") : -1]]
    assert find_boxed("\\boxed{\\boxed{2}}") == ["\\boxed{2}"]
    # Thousands of unclosed boxes stay cheap (a bounded number of commands is examined).
    assert find_boxed("\\boxed{" * 50_000) == []


def test_a_row_break_with_spacing_does_not_open_display_math() -> None:
    # `\\[2pt]` is a matrix row break with extra space, not `\[`: the matrix still spans its
    # lines (before, the unclosed "display math" kept the statement to its first line).
    text = "The final answer is $\\begin{pmatrix}1 \\\\[2pt]\n2\\end{pmatrix}$."
    assert extract_answer(text, ["answer_is"]) == "$\\begin{pmatrix}1 \\\\[2pt]\n2\\end{pmatrix}$"
