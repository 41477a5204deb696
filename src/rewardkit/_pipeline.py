"""The reward pipeline: rewards, weighted sum, shaping terms in order, diagnostics, metrics."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

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
from rewardkit._errors import (
    ArgumentError,
    BatchError,
    EngineClosedError,
    RewardKitError,
    ShapingError,
    StateError,
)
from rewardkit._metrics import metric_name, reward_metrics, stats, term_metrics
from rewardkit._rollout import Batch, RewardResult, Rollout
from rewardkit._scored import ScoredBatch
from rewardkit._state import read_state_file, write_state_file
from rewardkit._sync_async import Core, run_async, run_sync
from rewardkit._tokens import TOKEN_STAGES

logger = logging.getLogger(__name__)

__all__ = ["MISSING_REFERENCE_REASON", "MissingReference", "RewardPipeline", "ScoredBatch"]

#: What happens to a rollout without a reference for a reward that needs one
#: (``requires_reference``): ``"error"`` gives that reward outcome ``error`` with reason
#: :data:`MISSING_REFERENCE_REASON` for that rollout (the reward never sees it; rewards that need
#: no reference score it as usual); ``"raise"`` makes the whole call a :class:`BatchError` naming
#: the rollout. The config's ``strict`` picks the default (``"raise"`` when true).
MissingReference = Literal["error", "raise"]
#: The reason of the ``error`` outcome a reward gets for a rollout without the reference it needs.
MISSING_REFERENCE_REASON = "missing reference"


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


def _shaped(term: ShapingTerm, data: ShapingInput, n: int) -> list[float]:
    """A shaping term's values, or :class:`ShapingError` naming the term when it breaks its
    contract (it raises, or returns other than ``n`` finite numbers).

    A shaping term changes the training signal of every rollout of the batch, so a broken one
    fails the step instead of being dropped or zeroed without a word (errors rewardkit raises on
    purpose, such as :class:`JudgeUnavailableError`, pass unchanged).
    """
    where = f"shaping term {term.name!r} ({term.type})"
    try:
        raw = list(term.shape(data))
    except RewardKitError:
        raise
    except Exception as exc:
        raise ShapingError(f"{where} raised {type(exc).__name__}: {exc}") from exc
    if len(raw) != n:
        raise ShapingError(f"{where} returned {len(raw)} values for {n} rollouts")
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError) as exc:
        raise ShapingError(f"{where} returned a value that is not a number: {exc}") from None
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise ShapingError(
            f"{where} returned a non-finite value ({values[bad[0]]}) for rollout {bad[0]} "
            f"({len(bad)} of {n} rollouts)"
        )
    return values


def _diagnosed(diag: DiagnosticMetric, scored: ScoredBatch, warned: set[str]) -> dict[str, float]:
    """A diagnostic's metrics, named ``rewardkit/<name>/<key>``; one that raises or returns
    something other than named numbers is logged as a warning (once per diagnostic, with the
    traceback) and adds no metric this step: a broken diagnostic never fails a step. Errors
    rewardkit raises on purpose (a :class:`BatchError` for input the diagnostic needs and the
    batch lacks, such as log-probs) pass unchanged: the input is wrong, not the diagnostic."""
    try:
        out = diag.compute(scored)
        return {metric_name(diag.name, str(key)): float(value) for key, value in out.items()}
    except RewardKitError:
        raise
    except Exception as exc:
        if diag.name not in warned:
            warned.add(diag.name)
            logger.warning(
                "rewardkit: diagnostic %r (%s) failed (%s: %s); its metrics are left out "
                "(reported once)",
                diag.name,
                diag.type,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        return {}


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
        stages = TOKEN_STAGES
        terms: list[TokenMaskComponent] = [
            component_of(e)(e, name="token_mask" if e is tm else e.type)  # type: ignore[call-arg]
            for e in entries
        ]
        self.token_terms: list[TokenMaskComponent] = sorted(
            terms, key=lambda t: stages.index(t.token_stage)
        )
        self.token_mask: TokenMaskComponent | None = next(
            (t for t in self.token_terms if t.token_stage == "mask"), None
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
        self._check_open()
        if self._engine is None or self._engine_pid != os.getpid():
            self._engine = ExecutionEngine(self.config.engine)
            self._engine_pid = os.getpid()
        return self._engine

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError(
                "this RewardPipeline is closed; build a new one (RewardPipeline.from_config) to "
                "score again"
            )

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

    @property
    def missing_reference(self) -> MissingReference:
        """The config's missing-reference policy: ``"raise"`` when ``strict``, else ``"error"``
        (see :data:`MissingReference`)."""
        return "raise" if self.config.strict else "error"

    def missing_references(
        self,
        rollouts: Batch | Sequence[Rollout],
        rewards: Sequence[RewardComponent] | None = None,
    ) -> dict[int, tuple[str, ...]]:
        """The one missing-reference rule: for each rollout whose ``reference`` is None, the
        names of the rewards (default: all of this pipeline's) that need one, in config order.
        Rollouts every reward can score are left out."""
        needing = tuple(
            c.name for c in (self.rewards if rewards is None else rewards) if c.requires_reference
        )
        if not needing:
            return {}
        return {i: needing for i, r in enumerate(rollouts) if r.reference is None}

    def _policy(self, missing_reference: MissingReference | None) -> MissingReference:
        if missing_reference is None:
            return self.missing_reference
        if missing_reference not in get_args(MissingReference):
            raise ArgumentError(
                f"missing_reference must be 'error' or 'raise', got {missing_reference!r}"
            )
        return missing_reference

    def _rewards_core(
        self,
        rollouts: Sequence[Rollout],
        rewards: Sequence[RewardComponent],
        step: int | None,
        missing_reference: MissingReference | None,
    ) -> Core[dict[str, list[RewardResult]]]:
        """The one implementation of :meth:`score_rewards` and :meth:`ascore_rewards`.

        Yields the ``(reward, rollouts, context)`` jobs to score (the sync driver scores them in
        turn, the async one concurrently) and returns every reward's results in input order.
        A closed pipeline raises :class:`EngineClosedError` here, with or without rewards (its
        shaping terms and diagnostics were released too).
        """
        policy = self._policy(missing_reference)
        self._check_open()
        missing = self.missing_references(rollouts, rewards)
        if missing and policy == "raise":
            i, names = next(iter(missing.items()))
            comp = next(c for c in rewards if c.name == names[0])
            # The hint names what chose "raise": the caller's argument, or the config's strict.
            fix = (
                "pass missing_reference='error'"
                if missing_reference is not None
                else "set strict: false"
            )
            raise BatchError(
                f"rollout {i}: field 'reference' is missing but reward {comp.name!r} (type "
                f"{comp.type}) needs one; {fix} to score such rollouts as outcome 'error' instead"
            )
        n = len(rollouts)
        ctx = ScoringContext(engine=self.engine, step=step) if rewards else None
        skipped: dict[str, set[int]] = {}
        jobs: list[tuple[RewardComponent, list[Rollout], ScoringContext]] = []
        for comp in rewards:
            skip = {i for i, names in missing.items() if comp.name in names}
            skipped[comp.name] = skip
            if skip:
                self._warn_missing(comp, len(skip), n)
            if len(skip) < n:
                todo = [r for i, r in enumerate(rollouts) if i not in skip]
                jobs.append((comp, todo, ctx))  # type: ignore[arg-type]
        outs: list[list[RewardResult]] = (yield jobs) if jobs else []
        scored = {comp.name: res for (comp, _, _), res in zip(jobs, outs)}
        no_reference = RewardResult.error(MISSING_REFERENCE_REASON)
        results: dict[str, list[RewardResult]] = {}
        for comp in rewards:
            done = iter(scored.get(comp.name, ()))
            skip = skipped[comp.name]
            results[comp.name] = [no_reference if i in skip else next(done) for i in range(n)]
        return results

    def _warn_missing(self, comp: RewardComponent, count: int, n: int) -> None:
        key = f"{comp.name}\x00missing-reference"
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(
                "rewardkit: %d of %d rollouts have no reference; reward %r (%s) needs one and "
                "gives them outcome 'error' (%r) without scoring them (reported once)",
                count,
                n,
                comp.name,
                comp.type,
                MISSING_REFERENCE_REASON,
            )

    def score_rewards(
        self,
        batch: Batch | Sequence[Rollout],
        *,
        step: int | None = None,
        rewards: Sequence[RewardComponent] | None = None,
        missing_reference: MissingReference | None = None,
    ) -> dict[str, list[RewardResult]]:
        """Every reward (or the given subset of this pipeline's ``rewards``) on the batch, one
        after another: the scoring entry point of :meth:`score`, both adapters and the CLI.

        A rollout without a reference is handled by ``missing_reference``
        (:data:`MissingReference`; default :attr:`missing_reference`, from ``strict``); each
        reward goes through :meth:`score_reward`, so a failing reward gives ``error`` outcomes.
        """
        rollouts = batch.rollouts if isinstance(batch, Batch) else list(batch)
        comps = self.rewards if rewards is None else list(rewards)
        core = self._rewards_core(rollouts, comps, step, missing_reference)
        return run_sync(core, lambda jobs: [self.score_reward(*job) for job in jobs])

    async def ascore_rewards(
        self,
        batch: Batch | Sequence[Rollout],
        *,
        step: int | None = None,
        rewards: Sequence[RewardComponent] | None = None,
        missing_reference: MissingReference | None = None,
    ) -> dict[str, list[RewardResult]]:
        """Async :meth:`score_rewards` (the same implementation): the rewards run concurrently,
        so I/O-bound ones do not wait on the others."""
        import asyncio  # lazily: asyncio costs ~40 ms of `import rewardkit`

        rollouts = batch.rollouts if isinstance(batch, Batch) else list(batch)
        comps = self.rewards if rewards is None else list(rewards)
        core = self._rewards_core(rollouts, comps, step, missing_reference)

        async def score_all(jobs: list[Any]) -> list[list[RewardResult]]:
            return list(await asyncio.gather(*(self.ascore_reward(*job) for job in jobs)))

        return await run_async(core, score_all)

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

    def _reward_core(
        self, comp: RewardComponent, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> Core[list[RewardResult]]:
        """The one implementation of :meth:`score_reward` and :meth:`ascore_reward`: yields the
        call to make (the drivers call ``score`` or await ``ascore``) and checks what it gave."""
        try:
            return self._checked(comp, (yield (comp, rollouts, context)), len(rollouts))
        except EngineClosedError:
            raise  # the pipeline's lifecycle, not the reward's failure
        except Exception as exc:
            return self._failed(comp, len(rollouts), exc)

    def score_reward(
        self, comp: RewardComponent, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        """One configured reward on ``rollouts``, never raising for the reward's own failure.

        :meth:`score_rewards` scores each reward through here: an exception, a wrong number of
        results or a non-:class:`RewardResult` gives outcome ``error`` for each rollout (reason
        ``reward failed: ...``) and one logged warning per reward. It applies no
        missing-reference policy (use :meth:`score_rewards` for that).
        """
        core = self._reward_core(comp, rollouts, context)
        return run_sync(core, lambda call: call[0].score(call[1], call[2]))

    async def ascore_reward(
        self, comp: RewardComponent, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        """Async :meth:`score_reward` (the same implementation)."""
        core = self._reward_core(comp, rollouts, context)
        return await run_async(core, lambda call: call[0].ascore(call[1], call[2]))

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
        own path adds that column itself). The returned batch's ``contributions`` say what each
        reward and term added to the total.
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
        contributions: dict[str, list[float]] = {}
        for name, res in results.items():
            w = self.weights[name]
            values = [r.score for r in res]
            components[name] = values
            if w != 0.0:
                contributions[name] = [w * v for v in values]
                totals = [t + c for t, c in zip(totals, contributions[name])]
            else:
                contributions[name] = [0.0] * n
        for term in self.shaping:
            values = _shaped(term, ShapingInput(b, tuple(totals), results, step), n)
            components[term.name] = values
            if self.combine_modes[term.name] == "multiply":
                after = [t * v for t, v in zip(totals, values)]
                contributions[term.name] = [a - t for a, t in zip(after, totals)]
                totals = after
            else:
                contributions[term.name] = list(values)
                totals = [t + v for t, v in zip(totals, values)]
        scored = ScoredBatch(b, totals, components, results, {}, step, contributions)
        scored.metrics.update(self._metrics(scored))
        for diag in self.diagnostics:
            scored.metrics.update(_diagnosed(diag, scored, self._warned))
        return scored

    def _metrics(self, scored: ScoredBatch) -> dict[str, float]:
        m: dict[str, float] = {}
        for name, values in scored.components.items():
            if name in scored.details:
                m.update(reward_metrics(name, scored.details[name]))
            else:
                m.update(term_metrics(name, values))
        st = stats(scored.rewards)
        m[metric_name("reward", "mean")] = st["mean"]
        m[metric_name("reward", "std")] = st["std"]
        return m

    def score(
        self,
        batch: Batch | Sequence[Rollout],
        *,
        step: int | None = None,
        missing_reference: MissingReference | None = None,
    ) -> ScoredBatch:
        """Score a batch: rewards, weighted sum, shaping in order, diagnostics, metrics.

        ``missing_reference`` (:data:`MissingReference`; default from the config's ``strict``)
        says what a rollout without the reference a reward needs becomes.
        """
        b = batch if isinstance(batch, Batch) else Batch(batch)
        results = self.score_rewards(b, step=step, missing_reference=missing_reference)
        return self.combine(b, results, step)

    async def ascore(
        self,
        batch: Batch | Sequence[Rollout],
        *,
        step: int | None = None,
        missing_reference: MissingReference | None = None,
    ) -> ScoredBatch:
        """Async :meth:`score`: rewards run concurrently, so I/O-bound ones do not wait on others."""
        import asyncio  # lazily: asyncio costs ~40 ms of `import rewardkit`

        b = batch if isinstance(batch, Batch) else Batch(batch)
        results = await self.ascore_rewards(b, step=step, missing_reference=missing_reference)
        return await asyncio.to_thread(self.combine, b, results, step)
