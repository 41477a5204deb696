"""The ``choice`` verifier: a multiple-choice letter from the usual ways models state it.

Hand-written rather than math-verify's ``StringExtractionConfig``, which picks up stray capital
letters anywhere in the text ("A" in "A triangle has..."). Here a letter only counts when it is
boxed, follows an answer cue ("the answer is (B)", "Answer: B", "option C") in the last lines,
or stands alone on the last line ("**D**", "(E)."); and naming two letters there is a hedge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._rollout import RewardResult, Rollout
from rewardkit.verifiers._extract import completion_tail, final_lines, last_boxed, normalize_answer
from rewardkit.verifiers._scores import VerdictScoresConfig

__all__ = ["ChoiceVerifier", "extract_choice"]

_CUE = re.compile(
    r"(?i:\b(?:final\s+answer|answer|option|choice)\b)\s*(?i:is|:|=)?\s*"
    r"(?i:option\s+|choice\s+)?[\(\[]?\**\s*([A-Z])\b"
)
_ALONE = re.compile(r"^[\s*_\(\[]*([A-Z])[\s*_\)\].:]*$")
_LEADING = re.compile(r"^[\(\[]?([A-Z])(?:[\)\].:]|\s|$)")
_ALSO = re.compile(r"\b(?:or|and|/|,)\s*[\(\[]?\**([A-Z])\b")


def _letter_of(text: str, letters: str) -> tuple[str | None, bool]:
    """(letter, hedged) from a short statement such as ``(B)``, ``B) 42`` or ``A or B``."""
    s = text.strip().strip("*").strip()
    m = _LEADING.match(s)
    if m is None or m.group(1) not in letters:
        return None, False
    others = {x for x in _ALSO.findall(s[m.end() - 1 :]) if x in letters and x != m.group(1)}
    return m.group(1), bool(others)


def extract_choice(text: str, letters: str = "ABCDEFGHIJ") -> tuple[str | None, bool]:
    """The chosen letter of a completion and whether it hedged between several.

    The last ``\\boxed{}``; else the last answer cue in the last three lines; else a letter
    alone on the last line.
    """
    boxed = last_boxed(text)
    if boxed is not None:
        letter, hedged = _letter_of(normalize_answer(boxed), letters)
        if letter is not None:
            return letter, hedged
    tail = final_lines(text, 3)
    last = None
    for m in _CUE.finditer(tail):
        if m.group(1) in letters:
            last = m
    if last is not None:
        statement = tail[last.start(1) :].split("\n", 1)[0]
        return _letter_of(statement, letters)
    final_line = final_lines(text, 1).strip()
    m = _ALONE.match(final_line)
    if m is not None and m.group(1) in letters:
        return m.group(1), False
    return None, False


class ChoiceConfig(VerdictScoresConfig):
    letters: str = Field(
        default="ABCDEFGHIJ",
        pattern=r"^[A-Z]{2,26}$",
        description="The option letters a question may have (upper case).",
    )


class ChoiceVerifier(RewardComponent):
    """Multiple-choice letter (A-J) from boxed answers, answer cues or a lone final letter."""

    type: ClassVar[str] = "choice"
    provides_answers: ClassVar[bool] = True
    Config: ClassVar[type[ComponentConfig]] = ChoiceConfig
    requires_reference: ClassVar[bool] = True
    config: ChoiceConfig

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        max_chars = context.engine.config.max_input_chars
        return [self._one(r, max_chars) for r in rollouts]

    def _one(self, rollout: Any, max_chars: int) -> RewardResult:
        cfg = self.config
        try:
            ref = rollout.reference
            gold = None
            if isinstance(ref, str):
                gold, _ = _letter_of(normalize_answer(ref).upper(), cfg.letters)
            if gold is None:
                return RewardResult.error(
                    "missing reference"
                    if ref is None
                    else f"reference {repr(ref)[:60]} is not a letter"
                )
            letter, hedged = extract_choice(
                completion_tail(rollout.completion, max_chars), cfg.letters
            )
            if letter is None:
                return RewardResult.no_answer("no option letter found", score=cfg.no_answer_score)
            if hedged:
                return RewardResult.incorrect(
                    cfg.incorrect_score, answer=letter, reason="hedged: several letters"
                )
            if letter == gold:
                return RewardResult.correct(cfg.correct_score, answer=letter)
            return RewardResult.incorrect(cfg.incorrect_score, answer=letter)
        except Exception as exc:  # never raise into the trainer for one odd rollout
            return RewardResult.error(f"{type(exc).__name__}: {exc}"[:300])
