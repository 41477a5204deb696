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
    MISSING_REFERENCE_REASON,
    Batch,
    EngineClosedError,
    Outcome,
    RewardPipeline,
    Rollout,
)
from rewardkit_verl._extra_info import ExtraInfoLayout
from rewardkit_verl._log import logger
from rewardkit_verl._settings import AdapterSettings

__all__ = ["NO_REFERENCE_REASON", "SampleScorer", "close_scorers", "scorer_for"]

#: Reason of the ``error`` outcome of a reward that needs a reference on a sample without one
#: (``reward_model.ground_truth`` missing or None): the pipeline's, as for every caller.
NO_REFERENCE_REASON = MISSING_REFERENCE_REASON


class SampleScorer:
    """A config's rewards (no shaping, no diagnostics) scoring one rollout at a time.

    Every call returns the layout's keys (after :meth:`close` it raises ``EngineClosedError``
    instead): a reward that fails or overruns gives outcome
    ``error``/``timeout`` (the engine's hard per-item deadline for verifiers; ``sample_timeout_s``
    around the whole sample for rewards that do not use the engine). Nothing is raised. A
    sample without a reference (``reward_model.ground_truth`` missing or None) is bad input, not
    a setup mistake: the pipeline's ``missing_reference="error"`` policy gives the rewards that
    need one outcome ``error`` (:data:`NO_REFERENCE_REASON`) without them seeing it, and the
    others score it as usual, ``strict`` or not.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        self.settings = settings
        per_sample = settings.config.model_copy(
            update={"shaping": [], "diagnostics": [], "token_mask": None, "token": []}
        )
        self.pipeline = RewardPipeline(per_sample)
        self.layout = ExtraInfoLayout.for_config(settings.config)

    def __repr__(self) -> str:
        return f"SampleScorer({[r.name for r in self.pipeline.rewards]}, source={self.settings.source!r})"

    async def ascore(self, rollout: Rollout) -> dict[str, Any]:
        """The extra-info dict of one rollout (``score`` is the weighted total)."""
        limit = self.settings.sample_timeout_s
        try:
            scored = await asyncio.wait_for(
                self.pipeline.ascore(Batch([rollout]), missing_reference="error"), timeout=limit
            )
        except EngineClosedError:
            raise  # a lifecycle mistake, not bad input: never an all-error batch that trains
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

    def score(self, rollout: Rollout) -> dict[str, Any]:
        """Synchronous :meth:`ascore` (for callers without an event loop)."""
        return asyncio.run(self.ascore(rollout))

    def close(self) -> None:
        """Stop the worker processes; this scorer then raises ``EngineClosedError``.

        It also leaves the process's cache, so a later :func:`scorer_for` builds a fresh one.
        """
        with _scorers_lock:
            if _scorers.get(self.settings.fingerprint) is self:
                del _scorers[self.settings.fingerprint]
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
