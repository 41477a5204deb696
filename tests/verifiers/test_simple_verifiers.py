"""numeric, exact, choice, format, length and ngram_repetition."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from rewardkit import Outcome, RewardComponent, Rollout, ScoringContext
from rewardkit.verifiers import (
    ChoiceVerifier,
    ExactMatchVerifier,
    FormatReward,
    NgramRepetitionPenalty,
    NumericVerifier,
    OverlongPenalty,
    extract_choice,
    soft_overlong_penalty,
)


def _one(
    cls: type[RewardComponent],
    context: ScoringContext,
    completion: Any,
    reference: Any = None,
    metadata: dict[str, Any] | None = None,
    **cfg: Any,
):  # type: ignore[no-untyped-def]
    comp = cls(cls.Config(**cfg))
    rollout = Rollout(
        prompt="q", completion=completion, reference=reference, metadata=metadata or {}
    )
    (result,) = comp.score([rollout], context)
    return result


# --------------------------------------------------------------------------- numeric


@pytest.mark.parametrize(
    ("completion", "reference", "outcome"),
    [
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "#### 72", Outcome.CORRECT),
        ("so the total is \\boxed{1,234}", 1234, Outcome.CORRECT),
        ("The answer is $5.00.", "5", Outcome.CORRECT),
        ("The answer is 42 apples.", "42", Outcome.CORRECT),
        ("\\boxed{\\frac{1}{2}}", "0.5", Outcome.CORRECT),
        ("#### 71", "72", Outcome.INCORRECT),
        ("we got 72 earlier, but it is 70", "72", Outcome.INCORRECT),
        ("\\boxed{2\\sqrt{3}}", "3", Outcome.NO_ANSWER),  # not a number: not its last digit
        ("no numbers", "3", Outcome.NO_ANSWER),
        ("#### 1e999999", "1e999999", Outcome.CORRECT),  # no bignum expansion
        ("\\boxed{5}", None, Outcome.ERROR),
        ("\\boxed{5}", "x+1", Outcome.ERROR),
    ],
)
def test_numeric(
    context: ScoringContext, completion: str, reference: Any, outcome: Outcome
) -> None:
    assert _one(NumericVerifier, context, completion, reference).outcome is outcome


def test_numeric_tolerance_and_canonical_answer(context: ScoringContext) -> None:
    assert _one(NumericVerifier, context, "#### 3.1416", "3.14159").outcome is Outcome.INCORRECT
    close = _one(NumericVerifier, context, "#### 3.1416", "3.14159", rel_tol=1e-4)
    assert close.outcome is Outcome.CORRECT and close.answer == "3.1416"
    assert _one(NumericVerifier, context, "#### 72.0", "72").answer == "72"


# --------------------------------------------------------------------------- exact


def test_exact(context: ScoringContext) -> None:
    assert (
        _one(ExactMatchVerifier, context, "\\boxed{\\text{Paris}}", "paris").outcome
        is Outcome.CORRECT
    )
    assert (
        _one(ExactMatchVerifier, context, "\\boxed{Paris}", "paris", case_sensitive=True).outcome
        is Outcome.INCORRECT
    )
    assert (
        _one(ExactMatchVerifier, context, "The answer is Lyon.", ["Paris", "Lyon"]).outcome
        is Outcome.CORRECT
    )
    whole = _one(ExactMatchVerifier, context, "  Blue.\n", "blue", answer_sources=["whole"])
    assert whole.outcome is Outcome.CORRECT
    assert _one(ExactMatchVerifier, context, "nothing", "x").outcome is Outcome.NO_ANSWER
    assert _one(ExactMatchVerifier, context, "\\boxed{a}", None).outcome is Outcome.ERROR


# --------------------------------------------------------------------------- choice


@pytest.mark.parametrize(
    ("text", "letter", "hedged"),
    [
        ("... so the answer is (B).", "B", False),
        ("Answer: C", "C", False),
        ("Therefore, the correct option is D) 42", "D", False),
        ("\\boxed{E}", "E", False),
        ("\\boxed{\\text{(A)}}", "A", False),
        ("I think about it.\n\n**J**", "J", False),
        ("The answer is A or B.", "A", True),
        ("A triangle has three sides. Considering all of this carefully.", None, False),
        ("The answer is (K).", None, False),  # not an option letter
    ],
)
def test_extract_choice(text: str, letter: str | None, hedged: bool) -> None:
    assert extract_choice(text) == (letter, hedged)


def test_choice(context: ScoringContext) -> None:
    assert _one(ChoiceVerifier, context, "Answer: (c)", "C").outcome is Outcome.NO_ANSWER
    assert _one(ChoiceVerifier, context, "Answer: (C)", "c").outcome is Outcome.CORRECT
    assert _one(ChoiceVerifier, context, "Answer: B", "(C)").outcome is Outcome.INCORRECT
    hedge = _one(ChoiceVerifier, context, "The answer is B or C", "C")
    assert hedge.outcome is Outcome.INCORRECT and "hedged" in hedge.reason
    assert _one(ChoiceVerifier, context, "Answer: B", "banana").outcome is Outcome.ERROR
    assert (
        _one(ChoiceVerifier, context, "Answer: E", "D", letters="ABCD").outcome is Outcome.NO_ANSWER
    )


# --------------------------------------------------------------------------- format


def test_format_tags(context: ScoringContext) -> None:
    good = "<think>reasoning</think>\n<answer>42</answer>"
    assert _one(FormatReward, context, good).score == 1.0
    assert _one(FormatReward, context, "<answer>42</answer><think>r</think>").score == 0.0
    assert _one(FormatReward, context, "hi <think>r</think><answer>4</answer>").score == 0.0
    assert (
        _one(FormatReward, context, "<think>a</think><think>b</think><answer>4</answer>").score
        == 0.0
    )
    partial = _one(FormatReward, context, "<think>r</think> 42", mode="fraction")
    assert partial.outcome is Outcome.INCORRECT and 0 < partial.score < 1
    assert _one(FormatReward, context, "").outcome is Outcome.NO_ANSWER


def test_format_think_then_free_answer_and_template_opened_tag(context: ScoringContext) -> None:
    cfg = {"tags": ["think"], "allow_outside_text": True}
    assert _one(FormatReward, context, "<think>r</think> The answer is 4.", **cfg).score == 1.0
    opened = {**cfg, "opened_by_prompt": True}
    assert _one(FormatReward, context, "r</think> The answer is 4.", **opened).score == 1.0


def test_format_regex_runs_under_the_deadline(context: ScoringContext) -> None:
    assert _one(FormatReward, context, "Answer: 42", pattern=r"Answer: \d+").score == 1.0
    assert _one(FormatReward, context, "nope", pattern=r"Answer: \d+").score == 0.0
    t0 = time.monotonic()
    evil = _one(FormatReward, context, "a" * 40 + "!", pattern=r"(a+)+$")
    assert evil.outcome is Outcome.TIMEOUT
    assert time.monotonic() - t0 < 10
    with pytest.raises(ValidationError):
        FormatReward.Config(pattern="(unclosed")


# --------------------------------------------------------------------------- length


def test_soft_overlong_penalty_formula() -> None:
    assert soft_overlong_penalty(100, 200, 50, 1.0) == 0.0
    assert soft_overlong_penalty(150, 200, 50, 1.0) == 0.0
    assert soft_overlong_penalty(175, 200, 50, 1.0) == pytest.approx(-0.5)
    assert soft_overlong_penalty(200, 200, 50, 1.0) == pytest.approx(-1.0)
    assert soft_overlong_penalty(201, 200, 50, 2.0) == -2.0


def test_length_reads_token_ids_from_metadata(context: ScoringContext) -> None:
    cfg = {"max_tokens": 200, "buffer_tokens": 50}
    ok = _one(OverlongPenalty, context, "x", metadata={"completion_ids": list(range(100))}, **cfg)
    assert ok.score == 0.0 and ok.outcome is Outcome.CORRECT
    ramp = _one(OverlongPenalty, context, "x", metadata={"completion_ids": list(range(175))}, **cfg)
    assert ramp.score == pytest.approx(-0.5) and ramp.outcome is Outcome.INCORRECT
    count = _one(OverlongPenalty, context, "x", metadata={"response_length": 500}, **cfg)
    assert count.score == -1.0
    missing = _one(OverlongPenalty, context, "x", **cfg)
    assert missing.outcome is Outcome.ERROR and "tokenizer" in missing.reason
    chars = _one(OverlongPenalty, context, "y" * 175, unit="chars", **cfg)
    assert chars.score == pytest.approx(-0.5)
    with pytest.raises(ValidationError):
        OverlongPenalty.Config(max_tokens=10, buffer_tokens=20)


# --------------------------------------------------------------------------- repetition


def test_ngram_repetition(context: ScoringContext) -> None:
    fresh = _one(NgramRepetitionPenalty, context, "the quick brown fox jumps over the lazy dog")
    assert fresh.score == 0.0
    loop = _one(NgramRepetitionPenalty, context, "I am stuck. " * 200)
    assert loop.score < -0.9 and loop.outcome is Outcome.INCORRECT
    half = _one(NgramRepetitionPenalty, context, "a b c d e f g h a b c d e f g h", n=2)
    assert -0.6 < half.score < -0.3
    assert _one(NgramRepetitionPenalty, context, None).score == 0.0
    big = _one(NgramRepetitionPenalty, context, "word " * 1_000_000)
    assert big.score < -0.9
