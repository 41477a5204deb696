"""The ``math`` verifier against its oracle, math-verify (issue 11).

A rewardkit verdict may differ from math-verify's only in a documented deliberate difference
(``math_pairs.DELIBERATE``, the table in docs/verifiers.md); two answers math-verify calls equal
get one answer key. The fixed-seed corpus run is ``benchmarks/math_differential.py``.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from math_pairs import (
    DELIBERATE,
    FORMS,
    SPELLING_FORMS,
    SPELLING_SOURCES,
    SPELLINGS,
    HypothesisSource,
    Pair,
    completion_of,
    explain,
    explain_spelling,
    key_pair_explained,
    make_pair,
    math_verify_verdict,
)

from rewardkit import ExecutionEngine, Outcome, Rollout, ScoringContext
from rewardkit.verifiers import MathVerifier
from rewardkit.verifiers._math import MathConfig


def _results(engine: ExecutionEngine, rows: list[tuple[str, str]]) -> list:  # type: ignore[type-arg]
    """rewardkit's results for (reference, completion) rows (generous deadline)."""
    rollouts = [Rollout(prompt="q", completion=c, reference=r) for r, c in rows]
    verifier = MathVerifier(MathConfig(timeout_s=30.0))
    return verifier.score(rollouts, ScoringContext(engine=engine))


def _disagreements(engine: ExecutionEngine, pairs: list[Pair]) -> list[str]:
    rows = [(p.gold, completion_of(p.pred)) for p in pairs]
    out = []
    for pair, row, result in zip(pairs, rows, _results(engine, rows)):
        mv = math_verify_verdict(*row)
        rk = result.outcome is Outcome.CORRECT
        if rk != mv and explain(pair, mv, result) is None:
            out.append(f"{pair} math-verify={mv} rewardkit={result}")
    return out


# --------------------------------------------------------------------------- issue rows


ISSUE_ROWS = [
    # (reference, model's boxed answer, the answer key of the verdict)
    (
        "\\begin{pmatrix} -6 \\\\ 6 \\end{pmatrix}",
        "\\begin{pmatrix}-6\\\\6\\end{pmatrix}",
        "Matrix([[-6], [6]])",
    ),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        "Matrix([[1, 2], [3, 4]])",
    ),
    ("1000000", "1{,}000{,}000", "1000000"),
    ("\\frac{9}{4}", "2\\frac{1}{4}", "9/4"),
]


@pytest.mark.parametrize(("gold", "pred", "key"), ISSUE_ROWS)
def test_issue_rows_are_correct_as_math_verify_says(
    engine: ExecutionEngine, gold: str, pred: str, key: str
) -> None:
    completion = completion_of(pred)
    assert math_verify_verdict(gold, completion)
    (result,) = _results(engine, [(gold, completion)])
    assert result.outcome is Outcome.CORRECT, result
    assert result.answer == key


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        ("1{,}000{,}000", "1000000"),  # was {0, 1000}
        ("2\\frac{1}{4}", "9/4"),  # was 1/2
        ("-2\\frac{1}{4}", "-9/4"),
        ("2\\cdot\\frac{1}{4}", "1/2"),  # an explicit product is not a mixed number
        ("1.5\\times 10^{3}", "1500"),
    ],
)
def test_wrong_answers_get_the_key_of_their_value(
    engine: ExecutionEngine, answer: str, key: str
) -> None:
    (result,) = _results(engine, [("\\text{zz}", completion_of(answer))])
    assert result.outcome is Outcome.INCORRECT
    assert result.answer == key


def test_vectors_spelled_differently_share_one_key(engine: ExecutionEngine) -> None:
    spellings = [
        "\\begin{pmatrix} -6 \\\\ 6 \\end{pmatrix}",
        "\\begin{pmatrix}-6\\\\6\\end{pmatrix}",
        "\\begin{bmatrix} -6 \\\\ 6 \\end{bmatrix}",
    ]
    results = _results(engine, [("7", completion_of(s)) for s in spellings])
    assert [r.outcome for r in results] == [Outcome.INCORRECT] * 3
    assert len({r.answer for r in results}) == 1, results


# --------------------------------------------------------------------------- every form


def _sample(per_form: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    return [make_pair(rng, form) for form in sorted(FORMS) for _ in range(per_form)]


def test_every_form_agrees_with_math_verify(engine: ExecutionEngine) -> None:
    pairs = _sample(6, seed=11)
    assert {p.form for p in pairs} == set(FORMS)
    assert _disagreements(engine, pairs) == []


def test_answers_math_verify_calls_equal_share_one_key(engine: ExecutionEngine) -> None:
    pairs = [p for p in _sample(6, seed=12) if not key_pair_explained(p)]
    equal = [p for p in pairs if math_verify_verdict(p.gold, completion_of(p.pred))]
    assert len(equal) > 20
    # Both spellings scored as wrong answers to an unrelated reference: one key.
    rows = [("\\text{zz}", completion_of(x)) for p in equal for x in (p.gold, p.pred)]
    results = _results(engine, rows)
    split = [
        (p, results[2 * i].answer, results[2 * i + 1].answer)
        for i, p in enumerate(equal)
        if results[2 * i].answer != results[2 * i + 1].answer
    ]
    assert split == []


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_differential_against_math_verify(engine: ExecutionEngine, data: st.DataObject) -> None:
    pair = make_pair(HypothesisSource(data))
    assert _disagreements(engine, [pair]) == []


# --------------------------------------------------------------------------- unboxed spellings


def _spelled_disagreements(engine: ExecutionEngine, pairs: list[Pair], spelling: str) -> list[str]:
    """Disagreements with math-verify on ``spelling`` that neither a documented difference nor
    math-verify's own verdict on the same answer boxed explains, and every pair whose verdict or
    answer key differs from rewardkit's own on the boxed ending (where math-verify cannot read
    an ending, it would "agree" with any rewardkit miss)."""
    rows = [(p.gold, completion_of(p.pred, spelling=spelling)) for p in pairs]
    rollouts = [Rollout(prompt="q", completion=c, reference=r) for r, c in rows]
    sources = SPELLING_SOURCES.get(spelling)
    config = MathConfig(timeout_s=30.0, **({"answer_sources": sources} if sources else {}))
    results = MathVerifier(config).score(rollouts, ScoringContext(engine=engine))
    boxed = _results(engine, [(p.gold, completion_of(p.pred)) for p in pairs])
    out = [
        f"{pair} {spelling}={result} boxed={own}"
        for pair, result, own in zip(pairs, results, boxed)
        if (result.outcome, result.answer) != (own.outcome, own.answer)
    ]
    for pair, row, result in zip(pairs, rows, results):
        mv = math_verify_verdict(*row)
        if (result.outcome is Outcome.CORRECT) == mv:
            continue
        mv_boxed = math_verify_verdict(pair.gold, completion_of(pair.pred))
        if explain_spelling(pair, spelling, mv, mv_boxed, result) is None:
            out.append(f"{pair} math-verify={mv} boxed={mv_boxed} rewardkit={result}")
    return out


@pytest.mark.parametrize("spelling", [s for s in SPELLINGS if s != "boxed"])
def test_every_form_agrees_with_math_verify_unboxed(engine: ExecutionEngine, spelling: str) -> None:
    rng = random.Random(21)
    pairs = [make_pair(rng, form) for form in SPELLING_FORMS for _ in range(3)]
    assert _spelled_disagreements(engine, pairs, spelling) == []


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_differential_against_math_verify_any_spelling(
    engine: ExecutionEngine, data: st.DataObject
) -> None:
    src = HypothesisSource(data)
    spelling = src.choice(sorted(SPELLINGS))
    pair = make_pair(src, src.choice(SPELLING_FORMS))
    assert _spelled_disagreements(engine, [pair], spelling) == []


@pytest.mark.parametrize(
    ("gold", "completion", "correct"),
    [
        # Each row failed on the extractor before the fix (rewardkit's old verdict in the comment).
        ("429", "The final answer is $\\$429$.", True),  # no_answer: `\$` closed the math
        ("4290", "Final Answer: $\\$4{,}290$", True),  # no_answer
        ("20", "So the total is $2 \\cdot \\$10$.", True),  # incorrect: read `10`
        ("5", "So it is $5\\$$.", True),  # incorrect: read `5\`
        ("100", "The price is $$100\\$$$", True),  # incorrect: read `100\`
        # The escaped `\$` opens nothing, so the answer is not `5`.
        ("5", "We get $x$, and the cost is \\$5$.", False),  # correct: read `5`
        # A currency `$` earlier on the line leaves the last `$` unpaired from the left; it pairs
        # with the `$` before it (no_answer after the first fix of this round).
        ("20", "He pays $5 per apple, so the total is $20$.", True),
        ("18", "She earns $18 a day, i.e. $x = 18$.", True),
    ],
)
def test_an_escaped_dollar_is_a_dollar_sign_not_a_math_delimiter(
    engine: ExecutionEngine, gold: str, completion: str, correct: bool
) -> None:
    (result,) = _results(engine, [(gold, completion)])
    assert (result.outcome is Outcome.CORRECT) is correct, result
    assert math_verify_verdict(gold, completion) is correct


_TALL = "\\begin{pmatrix}\n1 \\\\\n2 \\\\\n3 \\\\\n4\n\\end{pmatrix}"


@pytest.mark.parametrize(
    ("gold", "answer", "completion"),
    [
        # rewardkit's verdict before: incorrect, reading `\begin{bmatrix}` (the line's end)
        (
            "\\begin{pmatrix} -4&7 \\end{pmatrix}",
            "\\begin{bmatrix}\n-4& 7\n\\end{bmatrix}",
            "Work.\n\nThe final answer is $\\begin{bmatrix}\n-4& 7\n\\end{bmatrix}$.",
        ),
        # before: no_answer (the cue is six lines from the end)
        (
            "\\begin{pmatrix}1\\\\2\\\\3\\\\4\\end{pmatrix}",
            _TALL,
            f"Work.\n\nFinal Answer: ${_TALL}$",
        ),
        # before: no_answer
        (
            "\\begin{pmatrix}1\\\\2\\\\3\\\\4\\end{pmatrix}",
            _TALL,
            f"Work.\n\nThe answer is {_TALL}.",
        ),
    ],
)
def test_a_matrix_over_several_lines_is_one_answer(
    engine: ExecutionEngine, gold: str, answer: str, completion: str
) -> None:
    assert math_verify_verdict(gold, completion_of(answer))  # the oracle, on the answer boxed
    (result,) = _results(engine, [(gold, completion)])
    assert result.outcome is Outcome.CORRECT, result
    (boxed,) = _results(engine, [(gold, completion_of(answer))])
    assert result.answer == boxed.answer


def test_a_unit_inside_dollar_math_keys_as_inside_a_box(engine: ExecutionEngine) -> None:
    # Found by the unboxed endings' self-check: `$420\mathrm{dollars}$` kept its `$`s past the
    # unit rule and keyed as a product of letters (`420*a*do*l**2*r*s`).
    rows = [
        ("7", "The final answer is $420\\mathrm{dollars}$."),
        ("7", completion_of("420\\mathrm{dollars}")),
    ]
    spelled, boxed = _results(engine, rows)
    assert spelled.outcome is boxed.outcome is Outcome.INCORRECT
    assert spelled.answer == boxed.answer == "420"


_FILLER = "\n".join(f"Step {i} of the check." for i in range(30))


@pytest.mark.parametrize(
    "completion",
    [
        # A derivation is not a block: the cue above it stays out of the last three lines.
        "Let us check whether the answer is 12.\n\\begin{align*}\na&=3\\\\\nb&=4\\\\\n"
        "c&=5\\\\\nd&=6\n\\end{align*}\nSo x = 13.",
        # An `\end` that nothing opens merges nothing.
        "Work.\nThe answer is 12.\nA\nB\nC\nD\n\\end{proof}",
        "Work.\nThe answer is 12.\nA\nB\nC\nD\n\\end{pmatrix}",
        f"The answer is 12.\n{_FILLER}\n\\end{{pmatrix}}",
    ],
    ids=["align", "end-proof", "end-pmatrix", "end-pmatrix-far"],
)
def test_a_cue_above_the_last_lines_is_not_the_answer(
    engine: ExecutionEngine, completion: str
) -> None:
    (result,) = _results(engine, [("12", completion)])
    assert result.outcome is Outcome.NO_ANSWER, result


@pytest.mark.parametrize("opener,closer", [("$$", "$$"), ("\\[", "\\]")])
def test_display_math_opened_on_the_cue_line_is_the_answer(
    engine: ExecutionEngine, opener: str, closer: str
) -> None:
    # Before: the answer was the bare `$$` / `\[` (an empty answer: no_answer).
    gold = "\\begin{pmatrix}1\\\\2\\end{pmatrix}"
    completion = f"The final answer is {opener}\n{gold}\n{closer}"
    (result,) = _results(engine, [(gold, completion)])
    assert result.outcome is Outcome.CORRECT, result
    assert math_verify_verdict(gold, completion)


# --------------------------------------------------------------------------- documented differences


DELIBERATE_CASES = [
    # (name, reference, completion, rewardkit correct?)
    ("percent sign", "50", completion_of("50\\%"), True),
    ("percent sign", "75\\%", completion_of("75%"), True),
    ("degree sign", "30", completion_of("30°"), True),
    ("degree sign", "135^\\circ", completion_of("135\\degree"), True),
    ("spaced digit groups", "1234567", completion_of("1\\,234\\,567"), True),
    ("spaced digit groups", "918\u2009822", completion_of("918822"), True),
    ("value words", "3", completion_of("3\\text{ million}"), False),
    ("hedged", "5", "It is $\\boxed{3}$ or maybe $\\boxed{5}$.", False),
    ("boxes read as one list", "3, 5", "It is $\\boxed{3}$ or maybe $\\boxed{5}$.", True),
    ("exact decimal arithmetic", "60200", completion_of("6.02\\times10^4"), True),
    ("plain-word unit", "365", completion_of("365 dollars"), True),
    ("trailing period", "5", completion_of("5."), True),
    ("trailing period", "\\frac{1}{2}", completion_of("\\frac{1}{2}."), True),
    ("Unicode digits", "5", completion_of("\uff15"), True),
    ("variable name", "x=5", completion_of("y=5"), True),
]


def test_every_documented_difference_has_a_case() -> None:
    assert {c[0] for c in DELIBERATE_CASES} == set(DELIBERATE)


@pytest.mark.parametrize(("name", "gold", "completion", "rk_correct"), DELIBERATE_CASES)
def test_documented_differences_from_math_verify(
    engine: ExecutionEngine, name: str, gold: str, completion: str, rk_correct: bool
) -> None:
    # Each row of the table in docs/verifiers.md: rewardkit and math-verify really differ.
    (result,) = _results(engine, [(gold, completion)])
    assert (result.outcome is Outcome.CORRECT) is rk_correct, result
    assert math_verify_verdict(gold, completion) is not rk_correct
