"""One rewardkit pipeline scoring each TRL generation batch once, for all its reward functions.

TRL calls every reward function separately on the same batch (sync ones on the main thread, in
list order). The functions built from one config share a :class:`RewardKitScorer`: the first
one called scores the whole batch - rewards, shaping terms, diagnostics - and the others read
their column from the cache, keyed by the identity of the ``completions`` list TRL passes to all
of them (the cache holds that list, so its id cannot be reused while cached).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from rewardkit import (
    ArgumentError,
    ArgumentTypeError,
    Batch,
    BatchError,
    Outcome,
    RewardComponent,
    RewardKitConfig,
    RewardPipeline,
    RewardResult,
    ScoredBatch,
    metric_name,
)
from rewardkit._metrics import reward_metrics
from rewardkit_trl._call import REFERENCE_COLUMNS, TRLCall
from rewardkit_trl._layout import ProcessLayout, all_gather, group_ids

__all__ = ["ConfigLike", "FailedAs", "RewardKitScorer", "is_io_bound"]

#: What a config can be given as: a pipeline, a validated config, a mapping or a file path.
ConfigLike = RewardPipeline | RewardKitConfig | Mapping[str, Any] | str | os.PathLike[str]

#: What a reward column holds for a rollout whose outcome is ``timeout`` or ``error``: its score
#: (0.0, ``"zero"``) or ``None`` (``"none"``), which TRL reads as "this function has no value
#: here" (see docs/trl.md, "Failed rollouts").
FailedAs = Literal["zero", "none"]
_FAILED = frozenset({Outcome.TIMEOUT, Outcome.ERROR})

logger = logging.getLogger("rewardkit_trl")

T = TypeVar("T")

#: Vision-language datasets' image columns: rewards see them, but they are too heavy to send to
#: every process for the group terms, which key on text, answers and ids.
_NOT_GATHERED = frozenset({"image", "images"})
_TOTAL = "\x00total"  # the cache key of the combined reward; no component can be named so


def is_io_bound(component: RewardComponent) -> bool:
    """Whether a reward waits on something outside the process (a sandbox, a remote judge).

    The component class declares it: :attr:`rewardkit.RewardComponent.io_bound` (the built-in
    ``code`` verifier, which waits on its sandbox subprocesses, sets it).
    """
    return getattr(type(component), "io_bound", False) is True


@dataclass(frozen=True, slots=True)
class _RankPayload:
    """What one rank contributes to the global batch: its rollouts and their reward results."""

    prompts: list[Any]
    completions: list[Any]
    references: list[Any] | None
    metadata: dict[str, list[Any]]
    results: dict[str, list[RewardResult]]
    logprobs: list[Any] | None = None
    #: Per local encoder of the config (same order on every rank): this rank's texts and their
    #: vectors, so no rank embeds another's rollouts.
    embeddings: list[tuple[list[str], Any]] | None = None


def _run_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also when this thread runs an event loop
    (notebooks): then it runs on a fresh loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rewardkit") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


class RewardKitScorer:
    """Scores TRL generation batches with one :class:`~rewardkit.RewardPipeline`.

    ``num_generations`` is TRL's G (``GRPOConfig.num_generations``): completion ``i`` of the
    global generation batch belongs to group ``i // G``. Without it, runs of equal prompts form
    the groups. ``reference_column`` names the dataset column holding each prompt's reference;
    when unset the first of ``reference``, ``ground_truth``, ``answer``, ``solution`` present is
    used. With ``async_io`` (default), I/O-bound rewards (see :func:`is_io_bound`) get async
    reward functions of their own when nothing else in the config reads their results (no
    shaping terms, no diagnostics); otherwise they run concurrently with the other rewards inside
    the shared scoring. ``failed_as`` (:data:`FailedAs`) says what a reward column holds for a
    rollout that timed out or errored: its score, 0 (``"zero"``, default) or ``None``
    (``"none"``); with ``"none"`` the shaping columns and the total are ``None`` too for a
    rollout on which every reward of the config failed, so TRL treats it as unscorable.
    """

    def __init__(
        self,
        config: ConfigLike,
        num_generations: int | None = None,
        *,
        reference_column: str | None = None,
        async_io: bool = True,
        failed_as: FailedAs = "zero",
    ) -> None:
        if failed_as not in get_args(FailedAs):
            raise ArgumentError(f"failed_as must be 'zero' or 'none', got {failed_as!r}")
        if num_generations is not None and (
            isinstance(num_generations, bool) or not isinstance(num_generations, int)
        ):
            raise ArgumentTypeError(f"num_generations must be an int, got {num_generations!r}")
        if num_generations is not None and num_generations < 1:
            raise ArgumentError(f"num_generations must be >= 1, got {num_generations}")
        self.pipeline = (
            config if isinstance(config, RewardPipeline) else RewardPipeline.from_config(config)
        )
        self.num_generations = num_generations
        self.reference_column = reference_column
        self.async_io = async_io
        self.failed_as: FailedAs = failed_as
        #: False while TRL evaluates: evaluation batches then leave stateful terms unchanged.
        #: Set per batch by the trainer mixin; plain GRPOTrainer cannot tell the scorer.
        self.training = True
        # TRL's AsyncGRPOTrainer runs sync reward functions in threads, concurrently.
        self._lock = threading.Lock()
        self._cache_for: Sequence[Any] | None = None
        self._cache: dict[str, list[float | None]] = {}
        #: Each reward's results for this process's completions of the last batch.
        self.last_results: dict[str, list[RewardResult]] = {}
        self._results_for: Sequence[Any] | None = None
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"RewardKitScorer({self.pipeline!r}, num_generations={self.num_generations}, "
            f"reference_column={self.reference_column!r}, failed_as={self.failed_as!r})"
        )

    # ------------------------------------------------------------------ what it produces

    @property
    def needs_whole_groups(self) -> bool:
        """Shaping terms and diagnostics read groups (and the batch); rewards are per rollout."""
        return bool(self.pipeline.shaping or self.pipeline.diagnostics)

    @property
    def async_rewards(self) -> tuple[str, ...]:
        """Rewards scored by their own async reward function rather than the shared scoring."""
        if not self.async_io or self.needs_whole_groups:
            return ()
        return tuple(c.name for c in self.pipeline.rewards if is_io_bound(c))

    @property
    def weights(self) -> dict[str, float]:
        """TRL ``reward_weights`` per column: the reward's weight; 1 for shaping terms.

        Shaping columns carry what the term added to the total (for ``combine: multiply`` that is
        ``total_after - total_before``), so TRL's weighted sum of the columns is rewardkit's
        total.
        """
        out = dict(self.pipeline.weights)
        out.update({t.name: 1.0 for t in self.pipeline.shaping})
        return out

    # ------------------------------------------------------------------ sync path

    def column(
        self,
        name: str,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> list[float | None]:
        """The local values of column ``name`` for this batch, scoring it on first request."""
        with self._lock:
            if self._cache_for is not completions:
                call = TRLCall.from_kwargs(
                    prompts, completions, kwargs, reference_column=self.reference_column
                )
                self._cache = self.score_call(call)
                self._cache_for = completions
            return self._cache[name]

    def total(
        self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> list[float | None]:
        """The local rewardkit totals (every component combined) for this batch."""
        return self.column(_TOTAL, prompts, completions, kwargs)

    def score_call(self, call: TRLCall) -> dict[str, list[float | None]]:
        """Score one call's completions; returns every column (and the total) for this rank.

        With several processes and group terms in the config, this is a collective: every rank
        gathers every rank's rollouts and reward results, scores the global batch identically
        (stateful terms stay in sync across ranks), and keeps its own slice. Errors on any rank
        are raised on every rank after the gather, so no rank is left waiting in a collective.
        """
        leader = [c for c in self.pipeline.rewards if c.name not in self.async_rewards]
        layout = ProcessLayout.current() if self.needs_whole_groups else ProcessLayout()
        error: Exception | None = None
        results: dict[str, list[RewardResult]] = {}
        embeddings: list[tuple[list[str], Any]] | None = None
        encoders = _local_encoders(self.pipeline) if layout.distributed else []
        try:
            self._check_references(call, leader)
            results = self._score_rewards(call, leader)
            if encoders:
                embeddings = _embed_own(encoders, self._rollout_batch(call), results)
        except Exception as exc:
            if not layout.distributed:
                raise
            error = exc
        payload = _RankPayload(
            list(call.prompts),
            list(call.completions),
            list(call.references) if call.references is not None else None,
            {k: list(v) for k, v in call.metadata.items() if k not in _NOT_GATHERED},
            results,
            list(call.completion_logprobs) if call.completion_logprobs is not None else None,
            embeddings,
        )
        if layout.distributed:
            gathered = all_gather(
                (None if error else payload, f"{type(error).__name__}: {error}" if error else ""),
                layout,
            )
            failures = [(rank, msg) for rank, (_, msg) in enumerate(gathered) if msg]
            if error is not None:
                raise error
            if failures:
                rank, msg = failures[0]
                raise RuntimeError(f"rewardkit scoring failed on rank {rank}: {msg}")
            payloads: list[_RankPayload] = [p for p, _ in gathered]  # type: ignore[misc]
            for k, (encoder, precision, _) in enumerate(encoders):
                for p in payloads:
                    if p.embeddings is not None:
                        encoder.prime(*p.embeddings[k], precision)
        else:
            payloads = [payload]
        offset = sum(len(p.completions) for p in payloads[: layout.rank])
        batch, merged = _merge(payloads, self.num_generations if self.needs_whole_groups else None)
        scored = self._finish(batch, merged, call.step)
        columns = self._failed_as_none(self._columns(scored, merged), merged)
        local = slice(offset, offset + len(call))
        out = {name: values[local] for name, values in columns.items()}
        self._remember(call, {name: res[local] for name, res in merged.items()})
        self._log(call, scored, local)
        return out

    def _remember(self, call: TRLCall, results: Mapping[str, list[RewardResult]]) -> None:
        if self._results_for is not call.completions:
            self._results_for = call.completions
            self.last_results = {}
        self.last_results.update(results)

    def correctness(self, n: int) -> list[float]:
        """Per completion of the last batch on this process: 1.0 when the config's first reward
        judged it ``correct``, 0.0 when ``incorrect`` or ``no_answer``, NaN when unknown
        (``timeout``, ``error``, or no results for ``n`` completions)."""
        first = self.pipeline.rewards[0].name if self.pipeline.rewards else None
        results = self.last_results.get(first) if first is not None else None
        if results is None or len(results) != n:
            return [math.nan] * n
        value = {Outcome.CORRECT: 1.0, Outcome.INCORRECT: 0.0, Outcome.NO_ANSWER: 0.0}
        return [value.get(r.outcome, math.nan) for r in results]

    def _check_references(self, call: TRLCall, rewards: Sequence[RewardComponent]) -> None:
        """A batch without any reference column is a setup mistake (raised with ``strict``, the
        pipeline's ``missing_reference: raise``); single rows whose reference is ``None`` are bad
        input, which the pipeline scores as outcome ``error`` (``missing_reference="error"``), so
        one bad dataset row never crashes a training step."""
        if call.references is not None or self.pipeline.missing_reference != "raise":
            return
        missing = self.pipeline.missing_references(self._rollout_batch(call).rollouts[:1], rewards)
        needing = next(iter(missing.values()), ())
        if needing:
            raise BatchError(
                f"reward(s) {', '.join(needing)} need a reference, but the batch has none of the "
                f"columns {', '.join(REFERENCE_COLUMNS)}; pass reference_column='<your column>' "
                f"(or set strict: false to score such rollouts as outcome 'error')"
            )

    def _rollout_batch(self, call: TRLCall) -> Batch:
        return Batch.from_columns(
            call.prompts,
            call.completions,
            references=call.references,
            metadata=call.metadata,
            completion_logprobs=call.completion_logprobs,
        )

    def _score_rewards(
        self, call: TRLCall, rewards: Sequence[RewardComponent]
    ) -> dict[str, list[RewardResult]]:
        """The pipeline's scoring entry point on this call's rollouts. A row without a reference
        gives the rewards that need one outcome ``error``, strict or not (bad input in one
        dataset row, not a setup mistake)."""
        batch = self._rollout_batch(call)
        if len(rewards) > 1 and any(is_io_bound(c) for c in rewards):
            # I/O-bound rewards wait on something else; run every reward concurrently.
            return _run_coroutine(
                lambda: self.pipeline.ascore_rewards(
                    batch, step=call.step, rewards=rewards, missing_reference="error"
                )
            )
        return self.pipeline.score_rewards(
            batch, step=call.step, rewards=rewards, missing_reference="error"
        )

    def _finish(
        self, batch: Batch, results: dict[str, list[RewardResult]], step: int | None
    ) -> ScoredBatch:
        # RewardPipeline.combine is the pipeline's public combine step (weighted sum, shaping in
        # order, diagnostics, metrics) on rewards scored elsewhere; here they were scored per
        # rank and gathered, which RewardPipeline.score cannot express.
        if self.training or not self.pipeline.stateful_terms:
            return self.pipeline.combine(batch, results, step)
        saved = json.loads(json.dumps(self.pipeline.state_dict()))
        try:
            return self.pipeline.combine(batch, results, step)
        finally:
            self.pipeline.load_state_dict(saved)

    def _columns(
        self, scored: ScoredBatch, results: Mapping[str, Sequence[RewardResult]]
    ) -> dict[str, list[float]]:
        """One column per reward (its unweighted score; TRL applies the weight) and per shaping
        term (what it added to the total, read from the pipeline's ``contributions``), and the
        total: TRL's weighted sum of the columns is the pipeline's total."""
        columns: dict[str, list[float]] = {name: scored.components[name] for name in results}
        for term in self.pipeline.shaping:
            columns[term.name] = scored.contributions[term.name]
        columns[_TOTAL] = list(scored.rewards)
        return columns

    def _failed_as_none(
        self,
        columns: dict[str, list[float]],
        results: Mapping[str, Sequence[RewardResult]],
    ) -> dict[str, list[float | None]]:
        """With ``failed_as="none"``: ``None`` in a reward's column where it timed out or
        errored, and in the shaping columns and the total where every reward did."""
        out: dict[str, list[float | None]] = dict(columns)  # type: ignore[arg-type]
        if self.failed_as == "zero" or not results:
            return out
        failed = {name: [r.outcome in _FAILED for r in res] for name, res in results.items()}
        for name, flags in failed.items():
            out[name] = [None if f else v for v, f in zip(columns[name], flags)]
        unscorable = [all(row) for row in zip(*failed.values())]
        for name in [*(t.name for t in self.pipeline.shaping), _TOTAL]:
            out[name] = [None if u else v for v, u in zip(columns[name], unscorable)]
        return out

    def _log(self, call: TRLCall, scored: ScoredBatch, local: slice) -> None:
        if call.log_metric is not None:
            skip = metric_name("reward", "") if self.async_rewards else None
            for key, value in scored.metrics.items():
                # Ranks may log different keys: TRL gathers the union and averages what exists.
                if math.isfinite(value) and not (skip and key.startswith(skip)):
                    call.log_metric(key, float(value))
        if call.log_extra is not None:
            details = {name: res[local] for name, res in scored.details.items()}
            _log_details(call.log_extra, details)
            for term in self.pipeline.shaping:
                if self.pipeline.combine_modes[term.name] == "multiply":
                    call.log_extra(
                        metric_name(term.name, "factor"), list(scored.components[term.name][local])
                    )

    # ------------------------------------------------------------------ async path

    async def ascore_reward(self, name: str, call: TRLCall) -> list[float | None]:
        """Score one I/O-bound reward on this rank's completions alone (no collectives).

        Only for rewards in :attr:`async_rewards`: nothing else in the config reads them, so
        they need neither the other rewards nor whole groups.
        """
        comp = next(c for c in self.pipeline.rewards if c.name == name)
        self._check_references(call, [comp])
        scored = await self.pipeline.ascore_rewards(
            self._rollout_batch(call), step=call.step, rewards=[comp], missing_reference="error"
        )
        results = scored[name]
        self._remember(call, {name: results})
        if call.log_metric is not None:
            for key, value in reward_metrics(name, results).items():
                if math.isfinite(value):
                    call.log_metric(key, value)
        if call.log_extra is not None:
            _log_details(call.log_extra, {name: results})
        if self.failed_as == "none":
            return [None if r.outcome in _FAILED else r.score for r in results]
        return [r.score for r in results]

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self.pipeline.close()

    def __getstate__(self) -> dict[str, Any]:
        # Config models are built at run time from the plugin registry and do not pickle; the
        # config travels as JSON and stateful terms as their state_dict.
        return {
            "config": self.pipeline.config.model_dump(mode="json"),
            "state": self.pipeline.state_dict(),
            "num_generations": self.num_generations,
            "reference_column": self.reference_column,
            "async_io": self.async_io,
            "failed_as": self.failed_as,
            "training": self.training,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["config"],
            state["num_generations"],
            reference_column=state["reference_column"],
            async_io=state["async_io"],
            failed_as=state.get("failed_as", "zero"),
        )
        self.training = state["training"]
        self.pipeline.load_state_dict(state["state"])


def _local_encoders(pipeline: RewardPipeline) -> list[tuple[Any, str, Any]]:
    """The in-process encoders the config's group terms and diagnostics embed with, each with
    the precision they read and which rollouts they embed (a component, or None for all).

    Each rank embeds its own rollouts with them before the gather and primes every encoder's
    cache with all ranks' vectors after it, so the terms, run on the global batch by every rank,
    find every vector cached instead of each rank embedding the whole batch. Remote backends
    (ray, http) are left alone: they embed elsewhere already.
    """
    from rewardkit.judges import TextEmbedder

    out: list[tuple[Any, str, Any]] = []
    for comp in (*pipeline.shaping, *pipeline.diagnostics):
        # What a component embeds with, by what it has (no built-in type names): a judge's
        # embedder, or its own (the embedding_diversity diagnostic's).
        judge = getattr(comp, "judge", None)
        if judge is not None:
            encoder, precision = getattr(judge, "embedder", None), getattr(judge, "precision", None)
        else:
            encoder = getattr(comp, "embedder", None)
            precision = getattr(getattr(comp, "config", None), "precision", None)
        if isinstance(encoder, TextEmbedder):
            out.append((encoder, encoder.resolve(precision), comp))
    return out


def _embed_own(
    encoders: Sequence[tuple[Any, str, Any]],
    batch: Batch,
    results: Mapping[str, Sequence[RewardResult]],
) -> list[tuple[list[str], Any]]:
    """This rank's texts and vectors per encoder: every completion, or only the correct ones
    for a ``semantic_diversity`` with ``partition: correct`` (the only ones it embeds)."""
    from rewardkit.judges import correct_flags

    texts = [r.completion_text for r in batch]
    out = []
    for encoder, precision, comp in encoders:
        mine = texts
        if getattr(comp.config, "partition", "all") != "all":
            flags = correct_flags(len(texts), results, comp.config.answer_from)
            mine = [t for t, ok in zip(texts, flags) if ok]
        out.append((mine, encoder.encode(mine, precision=precision)))
    return out


def _merge(
    payloads: Sequence[_RankPayload], num_generations: int | None
) -> tuple[Batch, dict[str, list[RewardResult]]]:
    """The global batch, in rank order, with TRL's groups, and its reward results."""
    prompts: list[Any] = []
    completions: list[Any] = []
    references: list[Any] = []
    results: dict[str, list[RewardResult]] = {}
    logprobs: list[Any] | None = [] if all(p.logprobs is not None for p in payloads) else None
    keys = set.intersection(*(set(p.metadata) for p in payloads))
    metadata: dict[str, list[Any]] = {k: [] for k in sorted(keys)}
    for p in payloads:
        prompts += p.prompts
        completions += p.completions
        references += p.references if p.references is not None else [None] * len(p.completions)
        for k in keys:
            metadata[k] += p.metadata[k]
        for name, res in p.results.items():
            results.setdefault(name, []).extend(res)
        if logprobs is not None:
            logprobs += p.logprobs  # type: ignore[operator]
    batch = Batch.from_columns(
        prompts,
        completions,
        references=references,
        groups=group_ids(prompts, num_generations),
        metadata=metadata,
        completion_logprobs=logprobs,
    )
    return batch, results


def _log_details(
    log_extra: Callable[[str, list[Any]], None], details: Mapping[str, Sequence[RewardResult]]
) -> None:
    """Completions-table columns: each reward's outcome, canonical answer and reason."""
    for name, res in details.items():
        log_extra(metric_name(name, "outcome"), [r.outcome.value for r in res])
        log_extra(metric_name(name, "answer"), [r.answer for r in res])
        log_extra(metric_name(name, "reason"), [r.reason for r in res])
