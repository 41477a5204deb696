"""Rollout log-probabilities for the terms that read them: presence checks and group ranks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rewardkit._errors import BatchError
from rewardkit._rollout import Batch

__all__ = ["LOGPROBS_HINT", "logprob_consumers", "logprob_ranks", "mean_logprobs"]

#: Where each entry point gets ``completion_logprobs`` from; every "missing" error ends with it.
LOGPROBS_HINT = (
    "Supply the sampling policy's per-token log-probs: RewardPipeline - "
    "Rollout(completion_logprobs=[...]); `rewardkit score` - a 'completion_logprobs' column "
    "(another name: --logprobs-key); TRL - train with RewardKitGRPOTrainer or "
    "RewardKitRLOOTrainer (the plain reward functions of build_reward_funcs never receive "
    "log-probs); verl - trainer.v1.trainer_mode=rewardkit (it reads old_log_probs)."
)


def logprob_consumers(components: Iterable[Any]) -> list[str]:
    """Names of the components that declare ``needs_logprobs``."""
    return [c.name for c in components if getattr(c, "needs_logprobs", False)]


def mean_logprobs(batch: Batch, who: str) -> list[float]:
    """Every rollout's mean token log-prob; :class:`BatchError` naming ``who`` if one has none."""
    out = []
    for i, r in enumerate(batch):
        m = r.mean_logprob
        if m is None:
            raise BatchError(
                f"{who} needs each rollout's completion_logprobs, but rollout {i} has none. "
                + LOGPROBS_HINT
            )
        out.append(m)
    return out


def logprob_ranks(values: Sequence[float]) -> list[int]:
    """Ascending ranks, 0 for the smallest (the least likely rollout), ties by position.

    The reference (``_compute_advantages`` in AndreHe02/rewarding-unlikely-release) computes
    ``argsort(argsort(x))`` with torch's default sort; here the sort is stable, so tied values
    keep their order and the earlier rollout gets the lower rank. torch's default sort does the
    same on CPU only for at most 16 values (torch 2.13); beyond that, and on CUDA, it may order
    ties otherwise.
    """
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = rank
    return ranks
