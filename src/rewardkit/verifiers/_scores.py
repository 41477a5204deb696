"""The score fields shared by verifiers with a correct / incorrect / no-answer verdict."""

from __future__ import annotations

from pydantic import Field

from rewardkit._components import ComponentConfig

__all__ = ["VerdictScoresConfig"]


class VerdictScoresConfig(ComponentConfig):
    """What each verdict scores; ``timeout`` and ``error`` always score 0."""

    correct_score: float = Field(default=1.0, description="Score of a correct answer.")
    incorrect_score: float = Field(
        default=0.0, description="Score of a wrong answer (and of a hedge between answers)."
    )
    no_answer_score: float = Field(
        default=0.0, description="Score when the completion states no answer."
    )
