"""The reward pipeline: rewards, weighted sum, shaping terms in order, diagnostics, metrics."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit._components import (
    DiagnosticMetric,
    RewardComponent,
    ScoringContext,
    ShapingInput,
    ShapingTerm,
    TokenMaskComponent,
)
from rewardkit._config import RewardKitConfig, component_of, load_config, parse_config
from rewardkit._engine import ExecutionEngine
from rewardkit._errors import BatchError
from rewardkit._rollout import Batch, Outcome, RewardResult, Rollout
from rewardkit._state import read_state_file, write_state_file

logger = logging.getLogger(__name__)

__all__ = ["RewardPipeline", "ScoredBatch"]

METRIC_PREFIX = "rewardkit"


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """A batch with its rewards.

    ``rewards`` is the final per-rollout reward; ``components`` maps every reward and shaping
    term name to its per-rollout value (rewards unweighted); ``details`` maps reward names to
    their :class:`RewardResult` per rollout; ``metrics`` is named ``rewardkit/<component>/<stat>``.
    """

    batch: Batch
    rewards: list[float]
    components: dict[str, list[float]]
    details: dict[str, list[RewardResult]]
    metrics: dict[str, float] = field(default_factory=dict)
    step: int | None = None

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


def _stats(values: Sequence[float]) -> dict[str, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan")}
    mean = sum(finite) / len(finite)
    var = sum((v - mean) ** 2 for v in finite) / len(finite)
    return {"mean": mean, "std": math.sqrt(var), "min": min(finite), "max": max(finite)}


class RewardPipeline:
    """Scores batches with a config's rewards, shaping terms and diagnostics.

    Build it from a config object, a mapping or a config file path. Components are constructed
    once and may load models lazily; stateful shaping terms keep their state across calls.
    Use it as a context manager (or call :meth:`close`) to stop the worker processes.
    """

    def __init__(self, config: RewardKitConfig | Mapping[str, Any]) -> None:
        self.config = parse_config(config)
        self.rewards: list[RewardComponent] = [
            component_of(e)(e, name=e.name) for e in self.config.rewards
        ]  # type: ignore[call-arg]
        self.weights: dict[str, float] = {e.name: float(e.weight) for e in self.config.rewards}
        self.shaping: list[ShapingTerm] = [
            component_of(e)(e, name=e.name) for e in self.config.shaping
        ]  # type: ignore[call-arg]
        self.combine_modes: dict[str, str] = {e.name: e.combine for e in self.config.shaping}
        self.diagnostics: list[DiagnosticMetric] = [
            component_of(e)(e, name=e.name)  # type: ignore[call-arg]
            for e in self.config.diagnostics
        ]
        tm = self.config.token_mask
        self.token_mask: TokenMaskComponent | None = (
            component_of(tm)(tm, name="token_mask") if tm is not None else None  # type: ignore[call-arg]
        )
        self._engine: ExecutionEngine | None = None
        self._engine_pid: int | None = None
        self._warned: set[str] = set()  # rewards whose failure was logged

    @classmethod
    def from_config(
        cls, config: RewardKitConfig | Mapping[str, Any] | str | os.PathLike[str]
    ) -> RewardPipeline:
        """Build from a config object, a mapping, or the path of a YAML/TOML/JSON file."""
        if isinstance(config, (str, os.PathLike)):
            config = load_config(config)
        return cls(config)

    def __repr__(self) -> str:
        names = [c.name for c in (*self.rewards, *self.shaping, *self.diagnostics)]
        return f"RewardPipeline({names})"

    # ------------------------------------------------------------------ engine and lifecycle

    @property
    def engine(self) -> ExecutionEngine:
        """The worker-process engine, started on first use (and again in a forked child)."""
        if self._engine is None or self._engine_pid != os.getpid():
            self._engine = ExecutionEngine(self.config.engine)
            self._engine_pid = os.getpid()
        return self._engine

    def close(self) -> None:
        """Stop worker processes and release what components hold."""
        if self._engine is not None and self._engine_pid == os.getpid():
            self._engine.close()
        self._engine = None
        for comp in (*self.rewards, *self.shaping, *self.diagnostics):
            comp.close()

    def __enter__(self) -> RewardPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Worker pools do not cross process boundaries; a copy starts its own on first use.
        state = self.__dict__.copy()
        state["_engine"] = None
        state["_engine_pid"] = None
        return state

    # ------------------------------------------------------------------ state

    @property
    def stateful_terms(self) -> list[ShapingTerm]:
        return [t for t in self.shaping if t.stateful]

    def state_dict(self) -> dict[str, Any]:
        """State of every stateful shaping term, by name."""
        return {t.name: t.state_dict() for t in self.stateful_terms}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for t in self.stateful_terms:
            if t.name in state:
                t.load_state_dict(state[t.name])

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state_dict` to a file atomically (temporary file, fsync, rename)."""
        write_state_file(path, kind="pipeline", payload=self.state_dict())

    def load_state(self, path: str | os.PathLike[str]) -> None:
        self.load_state_dict(read_state_file(path, kind="pipeline"))

    # ------------------------------------------------------------------ scoring

    def _as_batch(self, batch: Batch | Sequence[Rollout]) -> Batch:
        b = batch if isinstance(batch, Batch) else Batch(batch)
        if self.config.strict:
            for comp in self.rewards:
                if comp.requires_reference:
                    for i, r in enumerate(b):
                        if r.reference is None:
                            raise BatchError(
                                f"rollout {i}: field 'reference' is missing but reward "
                                f"{comp.name!r} (type {comp.type}) needs one; set strict: false "
                                f"to score such rollouts as outcome 'error' instead"
                            )
        return b

    def _checked(self, comp: RewardComponent, results: Any, n: int) -> list[RewardResult]:
        results = list(results)
        if len(results) != n:
            return self._failed(
                comp, n, RuntimeError(f"returned {len(results)} results for {n} rollouts")
            )
        if not all(isinstance(r, RewardResult) for r in results):
            return self._failed(comp, n, TypeError("returned something that is not a RewardResult"))
        return results

    def _failed(self, comp: RewardComponent, n: int, exc: Exception) -> list[RewardResult]:
        # A reward that raises or breaks its contract (a plugin's bug) must not crash the
        # trainer: each of its rollouts gets outcome `error`, the others still count.
        if comp.name not in self._warned:
            self._warned.add(comp.name)
            logger.warning(
                "rewardkit: reward %r failed (%s); its rollouts get outcome 'error' "
                "(reported once)",
                comp.name,
                type(exc).__name__,
                exc_info=exc,
            )
        return [RewardResult.error(f"reward failed: {type(exc).__name__}: {exc}"[:300])] * n

    def score_reward(
        self, comp: RewardComponent, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        """One configured reward on ``rollouts``, never raising for the reward's own failure.

        :meth:`score` and the adapters score each reward through here: an exception, a wrong
        number of results or a non-:class:`RewardResult` gives outcome ``error`` for each rollout
        (reason ``reward failed: ...``) and one logged warning per reward.
        """
        try:
            return self._checked(comp, comp.score(rollouts, context), len(rollouts))
        except Exception as exc:
            return self._failed(comp, len(rollouts), exc)

    async def ascore_reward(
        self, comp: RewardComponent, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        """Async :meth:`score_reward`."""
        try:
            return self._checked(comp, await comp.ascore(rollouts, context), len(rollouts))
        except Exception as exc:
            return self._failed(comp, len(rollouts), exc)

    def combine(
        self,
        batch: Batch | Sequence[Rollout],
        results: Mapping[str, Sequence[RewardResult]],
        step: int | None = None,
    ) -> ScoredBatch:
        """Weighted sum, shaping terms, diagnostics and metrics for rewards scored elsewhere.

        Adapters use it when rewards are scored per process and shaping needs the gathered
        batch. ``results`` holds one result per rollout for each reward it names; a configured
        reward left out contributes nothing (an adapter that scores an I/O-bound reward on its
        own path adds that column itself).
        """
        b = batch if isinstance(batch, Batch) else Batch(batch)
        n = len(b)
        for name, res in results.items():
            if name not in self.weights:
                raise BatchError(f"results name {name!r}, which is no reward of this pipeline")
            if len(res) != n:
                raise BatchError(f"reward {name!r}: {len(res)} results for {n} rollouts")
        results = {c.name: list(results[c.name]) for c in self.rewards if c.name in results}
        totals = [0.0] * n
        components: dict[str, list[float]] = {}
        for name, res in results.items():
            w = self.weights[name]
            values = [r.score for r in res]
            components[name] = values
            if w != 0.0:
                totals = [t + w * v for t, v in zip(totals, values)]
        for term in self.shaping:
            values = [float(v) for v in term.shape(ShapingInput(b, tuple(totals), results, step))]
            if len(values) != n:
                raise RuntimeError(
                    f"shaping term {term.name!r} returned {len(values)} values for {n} rollouts"
                )
            components[term.name] = values
            if self.combine_modes[term.name] == "multiply":
                totals = [t * v for t, v in zip(totals, values)]
            else:
                totals = [t + v for t, v in zip(totals, values)]
        scored = ScoredBatch(b, totals, components, results, {}, step)
        scored.metrics.update(self._metrics(scored))
        for diag in self.diagnostics:
            for key, value in diag.compute(scored).items():
                scored.metrics[f"{METRIC_PREFIX}/{diag.name}/{key}"] = float(value)
        return scored

    def _metrics(self, scored: ScoredBatch) -> dict[str, float]:
        m: dict[str, float] = {}
        for name, values in scored.components.items():
            st = _stats(values)
            m[f"{METRIC_PREFIX}/{name}/mean"] = st["mean"]
            m[f"{METRIC_PREFIX}/{name}/std"] = st["std"]
            if name in scored.details:
                counts = Counter(r.outcome for r in scored.details[name])
                n = len(values)
                for outcome in Outcome:
                    m[f"{METRIC_PREFIX}/{name}/frac_{outcome.value}"] = counts.get(outcome, 0) / n
            else:
                m[f"{METRIC_PREFIX}/{name}/min"] = st["min"]
                m[f"{METRIC_PREFIX}/{name}/max"] = st["max"]
        st = _stats(scored.rewards)
        m[f"{METRIC_PREFIX}/reward/mean"] = st["mean"]
        m[f"{METRIC_PREFIX}/reward/std"] = st["std"]
        return m

    def score(self, batch: Batch | Sequence[Rollout], *, step: int | None = None) -> ScoredBatch:
        """Score a batch: rewards, weighted sum, shaping in order, diagnostics, metrics."""
        b = self._as_batch(batch)
        ctx = ScoringContext(engine=self.engine, step=step)
        results = {c.name: self.score_reward(c, b.rollouts, ctx) for c in self.rewards}
        return self.combine(b, results, step)

    async def ascore(
        self, batch: Batch | Sequence[Rollout], *, step: int | None = None
    ) -> ScoredBatch:
        """Async :meth:`score`: rewards run concurrently, so I/O-bound ones do not wait on others."""
        import asyncio  # lazily: asyncio costs ~40 ms of `import rewardkit`

        b = self._as_batch(batch)
        ctx = ScoringContext(engine=self.engine, step=step)
        outs = await asyncio.gather(*(self.ascore_reward(c, b.rollouts, ctx) for c in self.rewards))
        results = {c.name: o for c, o in zip(self.rewards, outs)}
        return await asyncio.to_thread(self.combine, b, results, step)
