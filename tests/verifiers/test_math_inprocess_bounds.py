"""Issue 17 part 1: nothing the trainer's process runs on an answer may hang it.

Extraction, normalisation, answer keys, closed forms and the in-process half of every answer
verifier are bounded in work (sizes, digits, radicands, nesting, exponents); past a bound the
answer goes to the engine's deadline-guarded workers. Hypothesis feeds them hostile LaTeX with
a per-example deadline.
"""

from __future__ import annotations

import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewardkit import ExecutionEngine, Outcome, Rollout, ScoringContext
from rewardkit.verifiers import (
    ChoiceVerifier,
    ExactMatchVerifier,
    MathVerifier,
    NumericVerifier,
    extract_answer,
    extract_final_answer,
    normalize_answer,
    reference_answer,
)
from rewardkit.verifiers._choice import extract_choice
from rewardkit.verifiers._closed_form import _squarefree, closed_form
from rewardkit.verifiers._extract import canonical_answer
from rewardkit.verifiers._math import _fast_verdict
from rewardkit.verifiers._numeric import _canonical, _number_in

RADICALS = "\\sqrt{99999999977}\\sqrt{99999999947}"  # a ~10^22 product of two primes


def test_product_of_big_radicals_is_instant_in_process() -> None:
    t0 = time.monotonic()
    assert extract_final_answer(f"\\boxed{{{RADICALS}}}") == RADICALS
    assert closed_form(RADICALS) is None  # too big for the fast path: the engine decides
    assert canonical_answer(RADICALS) == RADICALS
    assert time.monotonic() - t0 < 1.0


def test_product_of_big_radicals_goes_to_the_engine(engine: ExecutionEngine) -> None:
    verifier = MathVerifier()
    rollouts = [Rollout(prompt="q", completion=f"\\boxed{{{RADICALS}}}", reference="7")]
    t0 = time.monotonic()
    (result,) = verifier.score(rollouts, ScoringContext(engine=engine))
    assert result.outcome in (Outcome.INCORRECT, Outcome.TIMEOUT)
    assert time.monotonic() - t0 < 30


def test_squarefree_is_bounded_and_exact() -> None:
    t0 = time.monotonic()
    assert _squarefree(999_999_999_989) == (1, 999_999_999_989)  # the largest prime < 10^12
    assert _squarefree(999_983**2) == (999_983, 1)  # a prime squared, past the trial limit
    assert _squarefree(999_983 * 999_979) == (1, 999_983 * 999_979)
    assert _squarefree(72) == (6, 2)
    assert _squarefree(12 * 10_007**2) == (2 * 10_007, 3)
    assert time.monotonic() - t0 < 1.0
    assert closed_form("\\sqrt{999966000289}") == ("num", (1 * 999_983, 1, 0))  # type: ignore[comparison-overlap]


# --------------------------------------------------------------------------- fuzzing


def _digits(n: int) -> str:
    return ("9876543210" * (n // 10 + 1))[:n]


_PIECES = st.sampled_from(
    [
        "\\sqrt{",
        "\\frac{",
        "}{",
        "}",
        "{",
        "^{",
        "^",
        "\\cdot",
        "\\times",
        "\\pi",
        "(",
        ")",
        "-",
        "/",
        ",",
        "\\,",
        " ",
        "10^{",
        "\\!",
        "{,}",
        "\\\\",
        "&",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "\\%",
        "^\\circ",
        "\\text{ cm}",
        "x",
        "=",
        ".",
    ]
)
_NUMBERS = st.one_of(
    st.integers(0, 10**30).map(str),
    st.integers(1, 2000).map(_digits),
    st.sampled_from(["99999999977", "99999999947", "999999999989", "999966000289", "4294967297"]),
)
_SOUP = st.lists(st.one_of(_PIECES, _NUMBERS), max_size=40).map("".join)


def _nested_radicals(depth: int, n: str) -> str:
    return "\\sqrt{" * depth + n + "}" * depth


_LATEX = st.one_of(
    _SOUP,
    st.builds(_nested_radicals, st.integers(1, 300), _NUMBERS),
    st.lists(_NUMBERS.map(lambda n: f"\\sqrt{{{n}}}"), min_size=2, max_size=30).map("".join),
    st.builds(lambda b, e: f"{b}^{{{e}}}", _NUMBERS, _NUMBERS),  # big exponents
    st.lists(_NUMBERS, min_size=1, max_size=20).map("^".join),  # power towers
    st.integers(1, 5000).map(lambda d: "{" * d + "7" + "}" * d),  # deep nesting
    st.integers(1, 3000).map(lambda d: "\\frac{1}{" * d + "2" + "}" * d),
    st.integers(1, 3000).map(lambda d: "(" * d + "3" + ")" * d),
    st.builds(lambda a, b: f"{a}\\frac{{{b}}}{{{a}}}", _NUMBERS, _NUMBERS),  # mixed numbers
    st.lists(_NUMBERS, min_size=2, max_size=200).map("\\,".join),  # digit groups
    st.lists(_NUMBERS, min_size=2, max_size=50).map(lambda xs: "\\cdot".join(xs)),
    st.text(max_size=200),
)


def _in_process_paths(latex: str) -> None:
    """Everything rewardkit runs in the caller's process on a math or number answer."""
    for text in (f"\\boxed{{{latex}}}", f"The answer is ${latex}$.", f"#### {latex}", latex):
        extract_final_answer(text)
        extract_answer(text, ("boxed", "answer_is", "hashes", "last_dollar", "last_number"))
        extract_choice(text)
        reference_answer(text)
    norm = normalize_answer(latex)
    closed_form(norm)
    canonical_answer(norm)
    _fast_verdict(norm, "7", strict=True)
    _fast_verdict("\\sqrt{99999999977}", norm, strict=True)
    value = _number_in(latex)
    if value is not None:
        _canonical(value)


@settings(
    max_examples=150,
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(latex=_LATEX, reference=st.one_of(_LATEX, st.sampled_from(["7", "\\frac{1}{2}", "A"])))
def test_fuzz_in_process_paths_are_bounded(
    engine: ExecutionEngine, latex: str, reference: str
) -> None:
    _in_process_paths(latex)
    # The in-process half of each answer verifier (the math verifier's triage: extraction,
    # normalisation, fast verdict, keys; numeric, exact and choice entirely).
    context = ScoringContext(engine=engine)  # numeric, exact, choice never call it
    rollout = Rollout(prompt="q", completion=f"so \\boxed{{{latex}}}", reference=reference)
    MathVerifier()._triage(rollout, 0, 100_000)
    NumericVerifier().score([rollout], context)
    ExactMatchVerifier().score([rollout], context)
    ChoiceVerifier().score([rollout], context)


def test_tiny_and_huge_decimals_print_briefly() -> None:
    from decimal import Decimal

    t0 = time.monotonic()
    assert _canonical(Decimal("1e-999999")) == "1E-999999"
    assert _canonical(Decimal("-2.5e-70")) == "-2.5E-70"
    assert _canonical(Decimal("0.001")) == "0.001"
    assert time.monotonic() - t0 < 1.0
