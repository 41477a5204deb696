"""Diagnostic metrics that make the exploration paradox visible, computed per prompt group.

Every value is computed per group, then averaged over groups; a metric with no group to
average over (no unsolved group, no group of at least k) is left out rather than logged as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from rewardkit._components import ComponentConfig, DiagnosticMetric, EntryCheckContext
from rewardkit._errors import BatchError, JudgeUnavailableError, StateError
from rewardkit._rollout import Rollout
from rewardkit.diagnostics._math import (
    answer_entropy,
    distinct_answers,
    distinct_n,
    embedding_diversity,
    num_partitions,
    pass_at_k,
)
from rewardkit.judges import (
    BackendConfig,
    JudgeConfig,
    answer_from_field,
    answer_judge_problems,
    answer_keys,
    build_encoder,
    build_judge,
    correct_flags,
    unavailable_floor_warning,
)
from rewardkit.shaping._counts import (
    check_prompt_id_column,
    check_state_format,
    pack_u64,
    prompt_id,
    unpack_u64,
)

if TYPE_CHECKING:
    from rewardkit._scored import ScoredBatch
    from rewardkit.judges import Encoder

__all__ = ["AnswerDiversity", "DistinctN", "EmbeddingDiversity", "PartitionCount", "PassAtK"]


def _mean(values: Iterable[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def _put(out: dict[str, float], key: str, value: float | None) -> None:
    if value is not None:
        out[key] = value


_HISTORY_FORMAT = 1


class AnswerDiversity(DiagnosticMetric):
    """Distinct final answers per group (all, solved, unsolved groups) and answer entropy.

    A group is solved when at least one rollout is correct (arXiv 2509.06941's split). Rollouts
    without an answer are not counted as answers; ``frac_no_answer`` reports them.

    With ``history`` (the default) it also remembers, per prompt, whether any rollout of it was
    ever correct, and splits the groups by that: ``distinct_ever_solved`` /
    ``distinct_never_solved``. A prompt solved at an earlier step and missed now counts as
    unsolved in the per-batch split but as ever solved here. The remembered prompt ids are
    checkpointed with the pipeline's state (``state_dict``/``load_state_dict``).
    """

    type: ClassVar[str] = "answer_diversity"

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field(answers=True)
        history: bool = Field(
            default=True,
            description="Also split groups by whether their prompt was ever solved over the run "
            "(distinct_ever_solved / distinct_never_solved); the set of solved prompts is kept "
            "and checkpointed with the pipeline's state. false: per-batch split only, no state.",
        )
        prompt_id_column: str | None = Field(
            default=None,
            description="History only: metadata column with a stable prompt id (a dataset "
            "index). Unset: a content hash of the prompt, as ucb_exploration. Never a per-step "
            "id such as verl's 'uid'.",
        )

        _not_per_step = field_validator("prompt_id_column")(check_prompt_id_column)

    config: Config

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        #: 64-bit ids of the prompts with at least one correct rollout so far.
        self.ever_solved: set[int] = set()

    @property
    def stateful(self) -> bool:
        return self.config.history

    def _prompt_of(self, rollouts: Sequence[Rollout], members: Sequence[int]) -> int:
        """The id of a group's prompt (its first rollout's), as ucb_exploration keys prompts."""
        first = rollouts[members[0]]
        column = self.config.prompt_id_column
        if column is None:
            return prompt_id(first.prompt_key)
        if column not in first.metadata:
            raise BatchError(
                f"rollout {members[0]}: metadata column {column!r} (prompt_id_column of "
                f"{self.name!r}) is missing"
            )
        return prompt_id(first.metadata[column])

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        batch = scored.batch
        answers = answer_keys(batch, scored.details, self.config.answer_from)
        correct = correct_flags(len(batch), scored.details, self.config.answer_from)
        groups = list(batch.groups.values())
        everything, solved, unsolved, entropy = [], [], [], []
        is_solved = []
        for members in groups:
            ans = [answers[i] for i in members]
            d = float(distinct_answers(ans))
            everything.append(d)
            is_solved.append(any(correct[i] for i in members))
            (solved if is_solved[-1] else unsolved).append(d)
            entropy.append(answer_entropy(ans))
        out: dict[str, float] = {}
        _put(out, "distinct", _mean(everything))
        _put(out, "distinct_solved", _mean(solved))
        _put(out, "distinct_unsolved", _mean(unsolved))
        _put(out, "entropy", _mean(entropy))
        out["frac_solved_groups"] = len(solved) / len(everything)
        out["frac_no_answer"] = sum(a is None for a in answers) / len(answers)
        if self.config.history:
            rollouts = batch.rollouts
            ids = [self._prompt_of(rollouts, m) for m in groups]
            # This batch counts too: a prompt solved now is "ever solved" from now on.
            self.ever_solved.update(p for p, ok in zip(ids, is_solved) if ok)
            ever = [d for d, p in zip(everything, ids) if p in self.ever_solved]
            never = [d for d, p in zip(everything, ids) if p not in self.ever_solved]
            _put(out, "distinct_ever_solved", _mean(ever))
            _put(out, "distinct_never_solved", _mean(never))
            out["frac_ever_solved_groups"] = len(ever) / len(everything)
        return out

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """The ids of the prompts ever solved (JSON: base64 of sorted little-endian uint64)."""
        return {"format": _HISTORY_FORMAT, "ever_solved": pack_u64(sorted(self.ever_solved))}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        where = f"{self.name} (answer_diversity)"
        if not isinstance(state, Mapping) or "ever_solved" not in state:
            raise StateError(f"{where}: not an answer_diversity state (no 'ever_solved')")
        check_state_format(state, _HISTORY_FORMAT, f"{where}: state")
        self.ever_solved = set(unpack_u64(state["ever_solved"], f"{where}: 'ever_solved'"))

    def merge_state(self, state: Mapping[str, Any]) -> None:
        """Add another process's solved prompts (a union) to this one's."""
        other = type(self)(self.config, name=self.name)
        other.load_state_dict(state)
        self.ever_solved |= other.ever_solved


class PassAtK(DiagnosticMetric):
    """Unbiased pass@k per group for each configured k (groups with fewer than k rollouts skipped)."""

    type: ClassVar[str] = "pass_at_k"

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field()
        k: list[Annotated[int, Field(ge=1)]] = Field(
            default_factory=lambda: [1, 4, 8],
            min_length=1,
            description="The k values; pass@k is reported as pass@<k> for groups of >= k rollouts.",
        )

    config: Config

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        correct = correct_flags(len(scored.batch), scored.details, self.config.answer_from)
        out: dict[str, float] = {}
        groups = list(scored.batch.groups.values())
        for k in self.config.k:
            values = [
                pass_at_k(len(m), sum(correct[i] for i in m), k) for m in groups if len(m) >= k
            ]
            _put(out, f"pass@{k}", _mean(values))
        return out


class DistinctN(DiagnosticMetric):
    """distinct-n (unique / total n-grams of whitespace tokens) within each group."""

    type: ClassVar[str] = "distinct_n"

    class Config(ComponentConfig):
        n: list[Annotated[int, Field(ge=1)]] = Field(
            default_factory=lambda: [1, 2, 3, 4],
            min_length=1,
            description="The n-gram orders to report as distinct_<n>.",
        )
        lowercase: bool = Field(default=False, description="Lowercase texts before tokenising.")

    config: Config

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        texts = [r.completion_text for r in scored.batch]
        if self.config.lowercase:
            texts = [t.lower() for t in texts]
        out: dict[str, float] = {}
        groups = list(scored.batch.groups.values())
        for n in self.config.n:
            _put(out, f"distinct_{n}", _mean(distinct_n([texts[i] for i in m], n) for m in groups))
        return out


class EmbeddingDiversity(DiagnosticMetric):
    """1 - mean pairwise cosine of sentence embeddings within each group."""

    type: ClassVar[str] = "embedding_diversity"

    class Config(BackendConfig):
        model: str | None = Field(
            default=None,
            description="Local sentence-transformers folder. Unset: the packaged all-MiniLM-L6-v2.",
        )
        device: str | None = Field(
            default=None, description="Torch device. Unset: cuda when available."
        )
        precision: Literal["auto", "float32", "bfloat16"] = Field(
            default="auto",
            description="Encoder precision. auto (as semantic_diversity's judge): reuses the "
            "judge's embeddings, bfloat16 where the device computes it natively (values move "
            "by ~1e-3). float32: reproducible across devices, at a second embedding pass where "
            "the judge runs in bfloat16.",
        )
        batch_size: int = Field(default=64, ge=1, description="Texts per encoder batch.")

    config: Config

    @property
    def embedder(self) -> Encoder:
        """The process-wide encoder of this backend, shared with ``semantic_diversity`` and
        ``partitions`` judges of the same backend settings, model, device, batch size and
        max_seq_length (unset here)."""
        return build_encoder(
            self.config,
            self.config.model,
            device=self.config.device,
            batch_size=self.config.batch_size,
        )

    def close(self) -> None:
        self.embedder.close()

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        try:
            vectors = self.embedder.encode(
                [r.completion_text for r in scored.batch], precision=self.config.precision
            )
        except JudgeUnavailableError as exc:
            if self.config.on_unavailable == "error":
                raise
            unavailable_floor_warning(
                f"diagnostic {self.name!r}", exc, "its value is left out this step"
            )
            return {}
        values = [embedding_diversity(vectors[list(m)]) for m in scored.batch.groups.values()]
        out: dict[str, float] = {}
        _put(out, "mean", _mean(values))
        return out


class PartitionCount(DiagnosticMetric):
    """Number of equivalence classes per group under a judge (answer, embedding or classifier)."""

    type: ClassVar[str] = "partitions"

    class Config(JudgeConfig):
        pass

    config: Config

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """``judge: answer`` needs an ``answer_from`` reward whose results carry answers."""
        return answer_judge_problems(entry, context)

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.judge = build_judge(self.config)

    def close(self) -> None:
        self.judge.close()

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        batch = scored.batch
        groups = list(batch.groups.values())
        answers = (
            answer_keys(batch, scored.details, self.config.answer_from)
            if self.config.judge == "answer"
            else [None] * len(batch)
        )
        labels = self.judge.labels([r.completion_text for r in batch], answers, groups)
        if self.judge.stats.unavailable:
            return {}  # on_unavailable: floor; the labels are a placeholder
        counts = [float(num_partitions([labels[i] for i in m])) for m in groups]
        ratio = [num_partitions([labels[i] for i in m]) / len(m) for m in groups]
        return {"mean": sum(counts) / len(counts), "per_rollout": sum(ratio) / len(ratio)}
