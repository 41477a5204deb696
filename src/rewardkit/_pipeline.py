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
    Component,
    DiagnosticMetric,
    RewardComponent,
    ScoringContext,
    ShapingInput,
    ShapingTerm,
    TokenMaskComponent,
)
from rewardkit._config import RewardKitConfig, component_of, load_config, parse_config
from rewardkit._engine import ExecutionEngine
from rewardkit._errors import BatchError, EngineClosedError, StateError
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


def _json_type(value: Any) -> str:
    """How a JSON value reads in an error message: ``null``, ``an array``, ``a string``."""
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}
    return names.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _mismatch_message(
    where: str, comps: Mapping[str, Component], missing: list[str], unexpected: list[str]
) -> str:
    parts = []
    if missing:
        listed = ", ".join(f"{n!r} ({comps[n].type})" for n in missing)
        parts.append(f"it has no state for the stateful components {listed} (missing)")
    if unexpected:
        listed = ", ".join(repr(n) for n in unexpected)
        parts.append(
            f"it holds state for {listed}, which this config has no stateful component of "
            "that name for (unexpected)"
        )
    return (
        f"{where} does not match this config: {'; '.join(parts)}. State is matched by component "
        "name, so a renamed entry (or one whose `name` was dropped) loses its state. Use the "
        "names of the run that saved it, or set allow_partial_state: true to start missing "
        "components empty and ignore unexpected state (with a warning each)."
    )


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
    once and may load models lazily; stateful components (shaping terms such as UCB counts,
    stateful diagnostics) keep their state across calls. Use it as a context manager (or call
    :meth:`close`) to stop the worker processes; a closed pipeline raises
    :class:`EngineClosedError` instead of scoring (build a new one to score again).
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
        # token_mask: is shorthand for a one-item token: list. The terms are kept in the order
        # the adapters apply them (by stage: mask, advantage, loss, diagnostic; docs/masks.md).
        tm = self.config.token_mask
        entries = [tm] if tm is not None else list(self.config.token)
        stages = ("mask", "advantage", "loss", "diagnostic")
        terms: list[TokenMaskComponent] = [
            component_of(e)(e, name="token_mask" if e is tm else e.type)  # type: ignore[call-arg]
            for e in entries
        ]
        self.token_terms: list[TokenMaskComponent] = sorted(
            terms, key=lambda t: stages.index(getattr(t, "token_stage", "mask"))
        )
        self.token_mask: TokenMaskComponent | None = next(
            (t for t in self.token_terms if getattr(t, "token_stage", "mask") == "mask"), None
        )
        self._engine: ExecutionEngine | None = None
        self._engine_pid: int | None = None
        self._closed = False
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
        """The worker-process engine, started on first use (and again in a forked child).

        Raises :class:`EngineClosedError` after :meth:`close`: scoring never silently starts
        new workers for a pipeline its owner has shut down.
        """
        if self._closed:
            raise EngineClosedError(
                "this RewardPipeline is closed; build a new one (RewardPipeline.from_config) to "
                "score again"
            )
        if self._engine is None or self._engine_pid != os.getpid():
            self._engine = ExecutionEngine(self.config.engine)
            self._engine_pid = os.getpid()
        return self._engine

    def close(self) -> None:
        """Stop worker processes and release what components hold. Idempotent; afterwards
        :meth:`score`, :meth:`ascore` and :attr:`engine` raise :class:`EngineClosedError`."""
        self._closed = True
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
    def stateful_components(self) -> list[Component]:
        """Every component that keeps state across batches (it overrides ``state_dict``):
        shaping terms such as ``ucb_exploration``, and stateful diagnostics or rewards."""
        return [c for c in (*self.rewards, *self.shaping, *self.diagnostics) if c.stateful]

    @property
    def stateful_terms(self) -> list[Component]:
        """The same as :attr:`stateful_components` (the older name, kept for callers)."""
        return self.stateful_components

    def state_dict(self) -> dict[str, Any]:
        """State of every stateful component, by its config name."""
        return {c.name: c.state_dict() for c in self.stateful_components}

    def load_state_dict(
        self,
        state: Mapping[str, Any],
        *,
        allow_partial: bool | None = None,
        source: str | None = None,
    ) -> None:
        """Restore what :meth:`state_dict` returned, all or nothing.

        Every stateful component must find its state under its name, and every name must be a
        stateful component of this pipeline; otherwise :class:`StateError` names the missing and
        the unexpected ones. ``allow_partial`` (default: the config's ``allow_partial_state``)
        instead lets missing components keep their current (fresh) state and ignores unexpected
        names, with a warning for each. A component whose state does not fit raises
        :class:`StateError` too, and every component keeps the state it had before the call.
        """
        where = f"state file {source}" if source else "the state"
        if not isinstance(state, Mapping):
            raise StateError(
                f"{where} is not a pipeline state: expected a JSON object mapping component "
                f"names to their state, got {_json_type(state)}"
            )
        if allow_partial is None:
            allow_partial = self.config.allow_partial_state
        comps = {c.name: c for c in self.stateful_components}
        missing = [name for name in comps if name not in state]
        unexpected = [str(name) for name in state if name not in comps]
        if (missing or unexpected) and not allow_partial:
            raise StateError(_mismatch_message(where, comps, missing, unexpected))
        for name in missing:
            logger.warning(
                "rewardkit: %s has no state for %r (%s); it starts empty (allow_partial_state)",
                where,
                name,
                comps[name].type,
            )
        for name in unexpected:
            logger.warning(
                "rewardkit: %s holds state for %r, which is no stateful component of this "
                "config; ignored (allow_partial_state)",
                where,
                name,
            )
        for name in comps:
            if name in state and not isinstance(state[name], Mapping):
                raise StateError(
                    f"{where}: the state of {name!r} ({comps[name].type}) must be a JSON "
                    f"object, got {_json_type(state[name])}"
                )
        before = {name: comps[name].state_dict() for name in comps if name in state}
        loaded: list[str] = []
        try:
            for name in before:
                comps[name].load_state_dict(state[name])
                loaded.append(name)
        except (StateError, KeyError, TypeError, ValueError, AttributeError) as exc:
            for name in loaded:  # all or nothing: no component keeps half a resume
                comps[name].load_state_dict(before[name])
            failed = next(n for n in before if n not in loaded)
            if isinstance(exc, StateError):
                raise StateError(f"{where}: {exc}") from None
            raise StateError(
                f"{where}: the state of {failed!r} ({comps[failed].type}) does not fit it: "
                f"{type(exc).__name__}: {exc}"
            ) from None

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state_dict` to a file atomically (temporary file, fsync, rename)."""
        write_state_file(path, kind="pipeline", payload=self.state_dict())

    def load_state(self, path: str | os.PathLike[str]) -> None:
        """Restore a file written by :meth:`save_state` (see :meth:`load_state_dict`).

        Raises :class:`StateError` for a missing, corrupt, foreign or oversized file (over the
        config's ``max_state_file_mb``), a payload of the wrong shape, or state that does not
        match this config's stateful components.
        """
        payload = read_state_file(
            path, kind="pipeline", max_bytes=self.config.max_state_file_mb * 2**20
        )
        self.load_state_dict(payload, source=os.fspath(path))

    def resume_state(self, path: str | os.PathLike[str]) -> bool:
        """What a trainer resuming from a checkpoint calls: :meth:`load_state`, where a missing
        file means that no stateful component has its state.

        Returns True when state was loaded, False when there was no file and nothing needs one.
        A missing file with stateful components is a :class:`StateError`, or, with
        ``allow_partial_state``, a warning per component and False.
        """
        if os.path.lexists(path):
            self.load_state(path)
            return True
        comps = self.stateful_components
        if not comps:
            return False
        if not self.config.allow_partial_state:
            raise StateError(
                f"resuming: there is no state file {os.fspath(path)}, so the stateful "
                f"components {[c.name for c in comps]} would silently start empty; resume from "
                "a checkpoint saved with them, or set allow_partial_state: true in the config "
                "to start them empty"
            )
        for c in comps:
            logger.warning(
                "rewardkit: no state file %s; %r (%s) starts empty (allow_partial_state)",
                os.fspath(path),
                c.name,
                c.type,
            )
        return False

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
        except EngineClosedError:
            raise  # the pipeline's lifecycle, not the reward's failure
        except Exception as exc:
            return self._failed(comp, len(rollouts), exc)

    async def ascore_reward(
        self, comp: RewardComponent, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        """Async :meth:`score_reward`."""
        try:
            return self._checked(comp, await comp.ascore(rollouts, context), len(rollouts))
        except EngineClosedError:
            raise  # the pipeline's lifecycle, not the reward's failure
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
