"""Metric names and the per-component statistics the pipeline and the adapters log.

Every metric rewardkit logs is named ``rewardkit/<component>/<key>``; :func:`metric_name` is the
only place that spelling lives. The statistics functions are the ones
:meth:`RewardPipeline.combine <rewardkit.RewardPipeline.combine>` logs, so an adapter that scores
a reward on its own path logs the same numbers without re-deriving them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from rewardkit._rollout import Outcome, RewardResult

__all__ = ["METRIC_PREFIX", "metric_name", "reward_metrics", "stats", "term_metrics"]

#: The first part of every metric name rewardkit logs.
METRIC_PREFIX = "rewardkit"


def metric_name(component: str, key: str) -> str:
    """``rewardkit/<component>/<key>``: the name of one logged number (or table column).

    ``component`` is a config entry's name (or a fixed group such as ``reward``, ``token_mask``,
    ``token_entropy``); ``key`` the statistic. ``metric_name(component, "")`` is the prefix of
    all of a component's metrics (``rewardkit/<component>/``).
    """
    return f"{METRIC_PREFIX}/{component}/{key}"


def stats(values: Sequence[float]) -> dict[str, float]:
    """Mean, population std, min and max of the finite values (all NaN when none is finite)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan")}
    mean = sum(finite) / len(finite)
    var = sum((v - mean) ** 2 for v in finite) / len(finite)
    return {"mean": mean, "std": math.sqrt(var), "min": min(finite), "max": max(finite)}


def reward_metrics(name: str, results: Sequence[RewardResult]) -> dict[str, float]:
    """What is logged for one reward: mean and std of its scores, the share of each outcome."""
    st = stats([r.score for r in results])
    out = {metric_name(name, "mean"): st["mean"], metric_name(name, "std"): st["std"]}
    counts = Counter(r.outcome for r in results)
    n = len(results)
    for outcome in Outcome:
        out[metric_name(name, f"frac_{outcome.value}")] = counts.get(outcome, 0) / n if n else 0.0
    return out


def term_metrics(name: str, values: Sequence[float]) -> dict[str, float]:
    """What is logged for a shaping term's values: mean, std, min and max."""
    st = stats(values)
    return {metric_name(name, k): st[k] for k in ("mean", "std", "min", "max")}
