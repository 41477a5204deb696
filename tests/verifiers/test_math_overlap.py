"""``numeric``, ``exact`` and ``choice`` where their normalisation overlaps with ``math``.

On number answers (digit groups, signs, decimals, fractions, mixed numbers) ``numeric`` gives
the ``math`` verdict; ``exact`` gives it where the two spellings normalise to one string (digit
groups, signs, spacing) and is a string match otherwise (documented in docs/verifiers.md);
``choice`` reads letters only and shares no number form with ``math``.
"""

from __future__ import annotations

import pytest

from rewardkit import ExecutionEngine, Outcome, Rollout, ScoringContext
from rewardkit.verifiers import ChoiceVerifier, ExactMatchVerifier, MathVerifier, NumericVerifier
from rewardkit.verifiers._math import MathConfig

# (reference, boxed answer): numbers spelled as the normalisation rules overlap on
NUMBER_PAIRS = [
    # digit groups
    ("1000000", "1{,}000{,}000"),
    ("1000000", "1,000,000"),
    ("1234567", "1\\,234\\,567"),
    ("1234567", "1\u2009234\u2009567"),
    ("1234", "1\\!234"),
    ("1234", "1,235"),
    ("1{,}234", "1234"),
    ("12.5", "12.50"),
    # signs
    ("-5", "- 5"),
    ("-5", "-{5}"),
    ("-5", "{-5}"),
    ("-5", "(-5)"),
    ("-5", "5"),
    ("5", "+5"),
    # decimals and fractions
    ("0.5", ".5"),
    ("0.5", "\\frac{1}{2}"),
    ("\\frac{3}{4}", "0.75"),
    ("\\frac{3}{4}", "0.7"),
    ("-\\frac{3}{4}", "\\frac{-3}{4}"),
    ("2.5", "5/2"),
    # mixed numbers and scientific notation
    ("\\frac{9}{4}", "2\\frac{1}{4}"),
    ("-\\frac{9}{4}", "-2\\frac{1}{4}"),
    ("\\frac{1}{2}", "2\\frac{1}{4}"),
    ("\\frac{1}{2}", "2\\cdot\\frac{1}{4}"),
    ("1500", "1.5\\times 10^{3}"),
    ("1500", "1.5\\times 10^{4}"),
]


def _score(verifier, engine: ExecutionEngine, pairs: list[tuple[str, str]]) -> list:  # type: ignore[no-untyped-def,type-arg]
    rollouts = [Rollout(prompt="q", completion=f"so \\boxed{{{a}}}", reference=r) for r, a in pairs]
    return verifier.score(rollouts, ScoringContext(engine=engine))


def test_numeric_agrees_with_math_on_number_forms(engine: ExecutionEngine) -> None:
    math = _score(MathVerifier(MathConfig(timeout_s=30.0)), engine, NUMBER_PAIRS)
    numeric = _score(NumericVerifier(), engine, NUMBER_PAIRS)
    assert [m.outcome for m in math] == [n.outcome for n in numeric], [
        (p, m.outcome, n.outcome)
        for p, m, n in zip(NUMBER_PAIRS, math, numeric)
        if m.outcome != n.outcome
    ]
    assert sum(m.outcome is Outcome.CORRECT for m in math) >= 15  # the list is mostly equal


@pytest.mark.parametrize(
    ("reference", "answer"),
    [
        ("1000000", "1{,}000{,}000"),
        ("1000000", "1,000,000"),
        ("1234567", "1\\,234\\,567"),
        ("1234567", "1\u2009234\u2009567"),
        ("-5", "- 5"),
        ("-5", "{-5}"),
        ("0.5", " 0.5 "),
    ],
)
def test_exact_agrees_with_math_on_digit_groups_and_signs(
    engine: ExecutionEngine, reference: str, answer: str
) -> None:
    (m,) = _score(MathVerifier(MathConfig(timeout_s=30.0)), engine, [(reference, answer)])
    (e,) = _score(ExactMatchVerifier(), engine, [(reference, answer)])
    assert m.outcome is e.outcome is Outcome.CORRECT


@pytest.mark.parametrize(
    ("reference", "answer"),
    [("0.5", "\\frac{1}{2}"), ("0.5", "0.50"), ("\\frac{9}{4}", "2\\frac{1}{4}")],
)
def test_exact_is_a_string_match_for_values(
    engine: ExecutionEngine, reference: str, answer: str
) -> None:
    # Documented: `exact` compares normalised strings, not values (use `math` or `numeric`).
    (m,) = _score(MathVerifier(MathConfig(timeout_s=30.0)), engine, [(reference, answer)])
    (e,) = _score(ExactMatchVerifier(), engine, [(reference, answer)])
    assert m.outcome is Outcome.CORRECT
    assert e.outcome is Outcome.INCORRECT


def test_numeric_is_exact_where_math_verify_rounds(engine: ExecutionEngine) -> None:
    # Documented: numeric compares exact decimals (tolerance 0 by default); math-verify rounds.
    pair = [("\\frac{1}{3}", "0.333333")]
    (m,) = _score(MathVerifier(MathConfig(timeout_s=30.0)), engine, pair)
    (n,) = _score(NumericVerifier(), engine, pair)
    assert m.outcome is Outcome.CORRECT
    assert n.outcome is Outcome.INCORRECT


def test_choice_reads_no_numbers(engine: ExecutionEngine) -> None:
    (c,) = _score(ChoiceVerifier(), engine, [("B", "1{,}000")])
    assert c.outcome is Outcome.NO_ANSWER
