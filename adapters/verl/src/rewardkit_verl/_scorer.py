"""Scoring one sample at a time, as verl's reward loop asks, with a fixed result key set.

verl scores every trajectory on its own (``run_single`` in a Ray reward worker; GRPO siblings
land on different workers), so only the per-rollout rewards run here; shaping terms, which need
whole groups, run on the driver (:mod:`rewardkit_verl._shaping`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rewardkit import (
    Batch,
    Outcome,
    RewardPipeline,
    RewardResult,
    Rollout,
    ScoredBatch,
    ScoringContext,
)
from rewardkit_verl._extra_info import ExtraInfoLayout
from rewardkit_verl._log import logger
from rewardkit_verl._settings import AdapterSettings

__all__ = ["NO_REFERENCE_REASON", "SampleScorer", "close_scorers", "scorer_for"]

#: Reason of the ``error`` outcome of a reward that needs a reference on a sample without one.
NO_REFERENCE_REASON = "no reference: the sample's reward_model.ground_truth is missing"


class SampleScorer:
    """A config's rewards (no shaping, no diagnostics) scoring one rollout at a time.

    Every call returns the layout's keys: a reward that fails or overruns gives outcome
    ``error``/``timeout`` (the engine's hard per-item deadline for verifiers; ``sample_timeout_s``
    around the whole sample for rewards that do not use the engine). Nothing is raised. A
    sample without a reference (``reward_model.ground_truth`` missing or None) is bad input, not
    a setup mistake: rewards that need one give it outcome ``error`` (:data:`NO_REFERENCE_REASON`)
    without seeing it, the others score it as usual, ``strict`` or not.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        self.settings = settings
        per_sample = settings.config.model_copy(
            update={"shaping": [], "diagnostics": [], "token_mask": None, "token": []}
        )
        self.pipeline = RewardPipeline(per_sample)
        self.layout = ExtraInfoLayout.for_config(settings.config)
        self._warned_no_reference = False

    def __repr__(self) -> str:
        return f"SampleScorer({[r.name for r in self.pipeline.rewards]}, source={self.settings.source!r})"

    async def ascore(self, rollout: Rollout) -> dict[str, Any]:
        """The extra-info dict of one rollout (``score`` is the weighted total)."""
        limit = self.settings.sample_timeout_s
        try:
            scored = await asyncio.wait_for(self._ascore(rollout), timeout=limit)
        except asyncio.TimeoutError:
            return self.layout.failed(
                Outcome.TIMEOUT, f"sample not scored within rewardkit_sample_timeout_s={limit:g}"
            )
        except Exception as exc:
            logger.warning("rewardkit: scoring a sample failed: %s: %s", type(exc).__name__, exc)
            return self.layout.failed(Outcome.ERROR, f"{type(exc).__name__}: {exc}"[:500])
        return self.layout.encode(
            scored.rewards[0], {name: res[0] for name, res in scored.details.items()}
        )

    async def _ascore(self, rollout: Rollout) -> ScoredBatch:
        needing = {c.name for c in self.pipeline.rewards if c.requires_reference}
        if rollout.reference is None and needing:
            return await self._ascore_without_reference(rollout, needing)
        return await self.pipeline.ascore(Batch([rollout]))

    async def _ascore_without_reference(self, rollout: Rollout, needing: set[str]) -> ScoredBatch:
        if not self._warned_no_reference:
            self._warned_no_reference = True
            logger.warning(
                "rewardkit: a sample has no reward_model.ground_truth; rewards %s score such "
                "samples as outcome 'error' (reported once per process)",
                sorted(needing),
            )
        others = [c for c in self.pipeline.rewards if c.name not in needing]
        ctx = ScoringContext(engine=self.pipeline.engine, step=None)
        outs = await asyncio.gather(
            *(self.pipeline.ascore_reward(c, [rollout], ctx) for c in others)
        )
        results = {c.name: o for c, o in zip(others, outs)}
        results.update({name: [RewardResult.error(NO_REFERENCE_REASON)] for name in needing})
        return await asyncio.to_thread(self.pipeline.combine, Batch([rollout]), results)

    def score(self, rollout: Rollout) -> dict[str, Any]:
        """Synchronous :meth:`ascore` (for callers without an event loop)."""
        return asyncio.run(self.ascore(rollout))

    def close(self) -> None:
        self.pipeline.close()


_scorers: dict[str, SampleScorer] = {}
_scorers_lock = threading.Lock()


def scorer_for(settings: AdapterSettings) -> SampleScorer:
    """The process's scorer for these settings, built once.

    One per process and config, so a reward worker's manager and a ``compute_score`` call share
    the worker processes and the verdict cache.
    """
    key = settings.fingerprint
    with _scorers_lock:
        scorer = _scorers.get(key)
        if scorer is None:
            scorer = _scorers[key] = SampleScorer(settings)
            logger.info(
                "rewardkit: %r ready (extra-info keys %s)", scorer, list(scorer.layout.keys)
            )
        return scorer


def close_scorers() -> None:
    """Stop every scorer's worker processes (tests, and actors shutting down)."""
    with _scorers_lock:
        scorers = list(_scorers.values())
        _scorers.clear()
    for s in scorers:
        s.close()
