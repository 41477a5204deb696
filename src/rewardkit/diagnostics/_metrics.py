"""Diagnostic metrics that make the exploration paradox visible, computed per prompt group.

Every value is computed per group, then averaged over groups; a metric with no group to
average over (no unsolved group, no group of at least k) is left out rather than logged as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, DiagnosticMetric
from rewardkit.diagnostics._math import (
    answer_entropy,
    distinct_answers,
    distinct_n,
    embedding_diversity,
    num_partitions,
    pass_at_k,
)
from rewardkit.shaping._answers import answer_from_field, answer_keys, correct_flags
from rewardkit.shaping._semantic_diversity import JudgeConfig, build_judge

if TYPE_CHECKING:
    from rewardkit._pipeline import ScoredBatch
    from rewardkit.shaping._embedding import TextEmbedder

__all__ = ["AnswerDiversity", "DistinctN", "EmbeddingDiversity", "PartitionCount", "PassAtK"]


def _mean(values: Iterable[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def _put(out: dict[str, float], key: str, value: float | None) -> None:
    if value is not None:
        out[key] = value


class AnswerDiversity(DiagnosticMetric):
    """Distinct final answers per group (all, solved, unsolved groups) and answer entropy.

    A group is solved when at least one rollout is correct (arXiv 2509.06941's split). Rollouts
    without an answer are not counted as answers; ``frac_no_answer`` reports them.
    """

    type: ClassVar[str] = "answer_diversity"

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field()

    config: Config

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        batch = scored.batch
        answers = answer_keys(batch, scored.details, self.config.answer_from)
        correct = correct_flags(len(batch), scored.details, self.config.answer_from)
        everything, solved, unsolved, entropy = [], [], [], []
        for members in batch.groups.values():
            ans = [answers[i] for i in members]
            d = float(distinct_answers(ans))
            everything.append(d)
            (solved if any(correct[i] for i in members) else unsolved).append(d)
            entropy.append(answer_entropy(ans))
        out: dict[str, float] = {}
        _put(out, "distinct", _mean(everything))
        _put(out, "distinct_solved", _mean(solved))
        _put(out, "distinct_unsolved", _mean(unsolved))
        _put(out, "entropy", _mean(entropy))
        out["frac_solved_groups"] = len(solved) / len(everything)
        out["frac_no_answer"] = sum(a is None for a in answers) / len(answers)
        return out


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

    class Config(ComponentConfig):
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
    def embedder(self) -> TextEmbedder:
        """The process-wide embedder, shared with ``semantic_diversity`` and ``partitions``
        judges of the same model, device, batch size and max_seq_length (unset here)."""
        from rewardkit.shaping._embedding import get_embedder

        return get_embedder(
            self.config.model, device=self.config.device, batch_size=self.config.batch_size
        )

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        vectors = self.embedder.encode(
            [r.completion_text for r in scored.batch], precision=self.config.precision
        )
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

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.judge = build_judge(self.config)

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        batch = scored.batch
        groups = list(batch.groups.values())
        answers = (
            answer_keys(batch, scored.details, self.config.answer_from)
            if self.config.judge == "answer"
            else [None] * len(batch)
        )
        labels = self.judge.labels([r.completion_text for r in batch], answers, groups)
        counts = [float(num_partitions([labels[i] for i in m])) for m in groups]
        ratio = [num_partitions([labels[i] for i in m]) / len(m) for m in groups]
        return {"mean": sum(counts) / len(counts), "per_rollout": sum(ratio) / len(ratio)}
