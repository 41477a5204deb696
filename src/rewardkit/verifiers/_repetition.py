"""The ``ngram_repetition`` reward: a penalty for n-grams repeated inside one completion.

The reward is ``-penalty * (1 - distinct n-grams / n-grams)``: 0 for text without repeated
n-grams, approaching ``-penalty`` for a completion that loops. This is the repetition penalty
of open-r1's GRPO recipes (after Yeo et al., "Demystifying Long Chain-of-Thought Reasoning"),
which punishes degenerate loops without touching ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._rollout import RewardResult, Rollout
from rewardkit.verifiers._extract import completion_tail

__all__ = ["NgramRepetitionPenalty", "repeated_ngram_fraction"]

_WORD = re.compile(r"\w+|[^\w\s]")


def repeated_ngram_fraction(text: str, n: int, unit: Literal["words", "chars"]) -> float | None:
    """Share of the n-grams of ``text`` that repeat an earlier one; None when it has none."""
    tokens: Sequence[str] = _WORD.findall(text.lower()) if unit == "words" else text
    total = len(tokens) - n + 1
    if total <= 0:
        return None
    grams = {tuple(tokens[i : i + n]) for i in range(total)}
    return 1.0 - len(grams) / total


class RepetitionConfig(ComponentConfig):
    n: int = Field(default=4, ge=1, le=64, description="N-gram size.")
    unit: Literal["words", "chars"] = Field(
        default="words", description="N-grams of words (and punctuation marks) or of characters."
    )
    penalty: float = Field(
        default=1.0,
        gt=0,
        description="Penalty of a completion made only of repeats (reward -penalty).",
    )
    max_chars: int | None = Field(
        default=None,
        ge=64,
        description="Look at only the last this many characters; default: the engine's "
        "max_input_chars.",
    )


class NgramRepetitionPenalty(RewardComponent):
    """Penalty proportional to the share of repeated n-grams inside one completion."""

    type: ClassVar[str] = "ngram_repetition"
    Config: ClassVar[type[ComponentConfig]] = RepetitionConfig
    config: RepetitionConfig

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        cfg = self.config
        limit = cfg.max_chars or context.engine.config.max_input_chars
        out = []
        for r in rollouts:
            text = completion_tail(r.completion, limit)
            frac = repeated_ngram_fraction(text, cfg.n, cfg.unit)
            if frac is None or frac == 0.0:
                out.append(RewardResult.correct(0.0))
            else:
                out.append(
                    RewardResult.incorrect(
                        -cfg.penalty * frac, reason=f"{frac:.0%} of {cfg.n}-grams repeat"
                    )
                )
        return out
