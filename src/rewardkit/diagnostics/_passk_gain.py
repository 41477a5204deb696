"""Diagnostics for the pass@k objective and the unlikeliness reward.

* ``pass_at_k_gain`` - per group, how much k attempts would add over one: pass@k - pass@1;
* ``logprob_rank`` - where the correct rollouts sit in their group's likelihood order, so a run
  shows whether the policy still finds solutions it considers unlikely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field

from rewardkit._components import ComponentConfig, DiagnosticMetric
from rewardkit.diagnostics._math import pass_at_k
from rewardkit.judges import answer_from_field, correct_flags
from rewardkit.shaping._logprobs import logprob_ranks, mean_logprobs

if TYPE_CHECKING:
    from rewardkit._scored import ScoredBatch

__all__ = ["LogprobRank", "PassAtKGain", "correct_logprob_rank", "pass_at_k_gain"]


def pass_at_k_gain(n: int, c: int, k: int) -> float:
    """``pass@k - pass@1`` of a group of ``n`` with ``c`` correct (unbiased estimates): what
    sampling k attempts instead of one would add. 0 when nothing or everything is solved (or
    k = 1); largest for groups solved now and then - the groups a pass@k objective trains on."""
    return pass_at_k(n, c, k) - c / n


def correct_logprob_rank(mean_logprobs: list[float], correct: list[bool]) -> float | None:
    """Mean of ``rank / (G - 1)`` over the correct rollouts of a group, ranks ascending by mean
    log-prob (0 = least likely, ties by position as in :func:`logprob_ranks`).

    None unless the group has both correct and incorrect rollouts: with every rollout correct the
    value is 0.5 whatever the policy does, so only mixed groups say something.
    """
    g = len(correct)
    if g < 2 or all(correct) or not any(correct):
        return None
    ranks = logprob_ranks(mean_logprobs)
    chosen = [r / (g - 1) for r, ok in zip(ranks, correct) if ok]
    return sum(chosen) / len(chosen)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class PassAtKGain(DiagnosticMetric):
    """Per group pass@k - pass@1 for each configured k, and the share of groups where it is positive."""

    type: ClassVar[str] = "pass_at_k_gain"

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field()
        k: list[Annotated[int, Field(ge=2)]] = Field(
            default_factory=lambda: [2, 4, 8],
            min_length=1,
            description="The k values; reported as gain@<k> (mean over groups of >= k rollouts) "
            "and frac_gain@<k> (share of those groups with a positive gain, i.e. solved by some "
            "but not all rollouts).",
        )

    config: Config

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        correct = correct_flags(len(scored.batch), scored.details, self.config.answer_from)
        groups = list(scored.batch.groups.values())
        out: dict[str, float] = {}
        for k in self.config.k:
            gains = [
                pass_at_k_gain(len(m), sum(correct[i] for i in m), k) for m in groups if len(m) >= k
            ]
            mean = _mean(gains)
            if mean is not None:
                out[f"gain@{k}"] = mean
                out[f"frac_gain@{k}"] = sum(g > 0 for g in gains) / len(gains)
        return out


class LogprobRank(DiagnosticMetric):
    """Mean likelihood rank of correct rollouts in mixed groups (0 = least likely, 1 = most likely; needs log-probs)."""

    type: ClassVar[str] = "logprob_rank"
    needs_logprobs: ClassVar[bool] = True

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field()

    config: Config

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        batch = scored.batch
        correct = correct_flags(len(batch), scored.details, self.config.answer_from)
        means = mean_logprobs(batch, f"diagnostic {self.name!r} (logprob_rank)")
        values = []
        for members in batch.groups.values():
            v = correct_logprob_rank([means[i] for i in members], [correct[i] for i in members])
            if v is not None:
                values.append(v)
        out: dict[str, float] = {"frac_mixed_groups": len(values) / len(batch.groups)}
        mean = _mean(values)
        if mean is not None:
            out["correct_rank"] = mean
        return out
