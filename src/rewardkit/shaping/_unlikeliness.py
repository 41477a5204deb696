"""``unlikeliness``: reward the unlikely correct rollouts (arXiv 2506.02355)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import (
    ComponentConfig,
    EntryCheckContext,
    ShapingInput,
    ShapingTerm,
    require_combine,
)
from rewardkit.shaping._logprobs import logprob_ranks, mean_logprobs

__all__ = ["Unlikeliness", "unlikeliness_factors"]


def unlikeliness_factors(mean_logprobs: Sequence[float], beta: float) -> list[float]:
    """``1 - beta * rank_i / G`` for one group of G rollouts, rank 0 the least likely.

    ``rank_i`` is the ascending rank of the rollout's mean token log-prob among all G rollouts
    of the group (correct or not), ties by position (:func:`logprob_ranks`).
    """
    g = len(mean_logprobs)
    return [1.0 - beta * r / g for r in logprob_ranks(mean_logprobs)]


class Unlikeliness(ShapingTerm):
    """Scale each reward by 1 - beta x (its log-prob rank in the group) / G, so unlikely correct answers gain.

    He, Fried & Welleck, "Rewarding the Unlikely" (arXiv 2506.02355): GRPO sharpens the policy
    onto the answers it already finds likely; multiplying the reward by this factor makes the
    least likely correct rollout (rank 0) keep its full reward and the most likely one keep
    ``1 - beta (G-1)/G``. Needs each rollout's ``completion_logprobs`` (the mean over its tokens
    is ranked); meant for non-negative rewards such as 0/1 correctness.
    """

    type: ClassVar[str] = "unlikeliness"
    default_combine: ClassVar[Literal["add", "multiply"]] = "multiply"
    needs_logprobs: ClassVar[bool] = True

    class Config(ComponentConfig):
        beta: float = Field(
            default=0.25,
            ge=0,
            le=1,
            description="The rank penalty beta (the reference's lean.rank_penalty; its example "
            "script uses 0.25). 0 leaves rewards unchanged.",
        )

    config: Config

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """The term is a factor on the reward so far: ``combine: multiply``."""
        return require_combine(
            entry,
            "multiply",
            "unlikeliness is a factor on the reward so far, so it needs combine: "
            "multiply (remove combine: add)",
        )

    def shape(self, data: ShapingInput) -> list[float]:
        batch = data.batch
        means = mean_logprobs(batch, f"shaping term {self.name!r} (unlikeliness)")
        out = [1.0] * len(batch)
        for members in batch.groups.values():
            factors = unlikeliness_factors([means[i] for i in members], self.config.beta)
            for i, f in zip(members, factors):
                out[i] = f
        return out
