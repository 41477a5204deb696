""":class:`ScoredBatch`: a batch with its rewards, what the pipeline returns and diagnostics read.

A data type of the bottom layer (with :mod:`rewardkit._rollout`), so the component kinds can
name it without importing the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rewardkit._rollout import Batch, RewardResult

__all__ = ["ScoredBatch"]


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """A batch with its rewards.

    ``rewards`` is the final per-rollout reward; ``components`` maps every reward and shaping
    term name to its per-rollout value (rewards unweighted); ``details`` maps reward names to
    their :class:`RewardResult` per rollout; ``metrics`` is named ``rewardkit/<component>/<stat>``.
    ``contributions`` maps the same names to what each added to the total, per rollout: a
    reward's ``weight * score``, an ``add`` term's value, a ``multiply`` term's
    ``total_after - total_before``; they sum to ``rewards``, so adapters that log one column
    per component read them instead of redoing the arithmetic.
    """

    batch: Batch
    rewards: list[float]
    components: dict[str, list[float]]
    details: dict[str, list[RewardResult]]
    metrics: dict[str, float] = field(default_factory=dict)
    step: int | None = None
    contributions: dict[str, list[float]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ScoredBatch({len(self.rewards)} rollouts, components={list(self.components)})"

    def answers(self, reward_name: str) -> list[str | None]:
        """The canonical answers a reward extracted, per rollout."""
        return [r.answer for r in self.details[reward_name]]

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per rollout: reward, components, details."""
        out = []
        for i in range(len(self.rewards)):
            out.append(
                {
                    "reward": self.rewards[i],
                    "components": {k: v[i] for k, v in self.components.items()},
                    "details": {k: v[i].to_dict() for k, v in self.details.items()},
                }
            )
        return out
