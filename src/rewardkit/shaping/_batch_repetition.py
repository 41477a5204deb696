"""``batch_repetition``: a penalty for repeating an answer that other rollouts also gave."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, ShapingInput, ShapingTerm
from rewardkit.judges import answer_from_field, answer_keys

__all__ = ["BatchRepetitionPenalty", "repetition_penalty"]


def repetition_penalty(answers: Sequence[str | None]) -> list[float]:
    """``b_i = -(1/n) * #{j != i : a_j = a_i}`` over one scope of ``n`` rollouts.

    A rollout without an answer (``None``) repeats nothing and is repeated by nothing: it gets 0
    and does not count for others, but it still counts in ``n``.
    """
    n = len(answers)
    counts = Counter(a for a in answers if a is not None)
    return [0.0 if a is None else -(counts[a] - 1) / n for a in answers]


class BatchRepetitionPenalty(ShapingTerm):
    """Penalise answers repeated within the group (or batch): -(1/n) x other rollouts with the same answer.

    The history-free alternative to UCB (arXiv 2509.06941, "Batch"): its expectation is
    ``-((n-1)/n) * sum_a p(a)^2``, the collision probability of the answer distribution, so it
    pushes toward spread-out answers. Rollouts without an answer get 0.
    """

    type: ClassVar[str] = "batch_repetition"

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field(answers=True)
        scope: Literal["group", "batch"] = Field(
            default="group",
            description="Count repeats within each prompt group ('group') or across the whole "
            "batch ('batch'; n is then the batch size).",
        )
        coefficient: float = Field(
            default=1.0, ge=0, description="Scale of the penalty (the paper's c)."
        )

    config: Config

    def shape(self, data: ShapingInput) -> list[float]:
        answers = answer_keys(data.batch, data.results, self.config.answer_from)
        c = self.config.coefficient
        if self.config.scope == "batch":
            return [c * v for v in repetition_penalty(answers)]
        out = [0.0] * len(answers)
        for members in data.batch.groups.values():
            values = repetition_penalty([answers[i] for i in members])
            for i, v in zip(members, values):
                out[i] = c * v
        return out
