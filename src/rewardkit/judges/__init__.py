"""Equivalence judging: when two rollouts give the same answer or take the same approach.

Used by the ``semantic_diversity`` shaping term, the ``partitions`` / ``answer_diversity`` /
``embedding_diversity`` diagnostics and the ``rewardkit report`` / ``train-classifier``
commands. It is a library, not a component plugin: it registers nothing.

* answers - :func:`answer_keys` and :func:`correct_flags` (what answer-level terms group by) and
  the shared ``answer_from`` field (:func:`answer_from_field`);
* judges - :class:`AnswerJudge`, :class:`EmbeddingJudge`, :class:`ClassifierJudge` (the
  :class:`Judge` protocol), built from a :class:`JudgeConfig` by :func:`build_judge`;
* partitions - :func:`union_find_labels`, :func:`leader_labels`, :func:`partition`,
  :func:`diversity_from_labels`;
* encoders - :class:`TextEmbedder` (local sentence-transformers), :class:`HttpEncoder`,
  :class:`RayEncoderPool`, chosen by :class:`BackendConfig` through :func:`build_encoder`;
  ``python -m rewardkit.judges._embed_server`` serves a :class:`TextEmbedder` over HTTP;
* classifiers - :class:`EquivalenceClassifier`, trained by :func:`train_classifier`.

Importing this package is light: embedding models, torch, numpy and ray load on first use.
"""

from __future__ import annotations

from rewardkit.judges._answers import answer_from_field, answer_keys, correct_flags
from rewardkit.judges._backends import (
    BackendConfig,
    Encoder,
    HttpEncoder,
    RayEncoderPool,
    build_encoder,
    unavailable_floor_warning,
)
from rewardkit.judges._classifier import (
    EquivalenceClassifier,
    LabelledPair,
    TrainingReport,
    load_pairs,
    pair_features,
    train_classifier,
)
from rewardkit.judges._config import (
    DEFAULT_EMBEDDING_THRESHOLD,
    JudgeConfig,
    answer_judge_problems,
    build_judge,
)
from rewardkit.judges._embedding import (
    Precision,
    TextEmbedder,
    default_model_path,
    get_embedder,
)
from rewardkit.judges._judges import (
    AnswerJudge,
    ClassifierJudge,
    EmbeddingJudge,
    Judge,
    JudgeStats,
    short_text_equivalent,
)
from rewardkit.judges._partition import (
    Clustering,
    diversity_from_labels,
    leader_labels,
    partition,
    union_find_labels,
)

__all__ = [
    "DEFAULT_EMBEDDING_THRESHOLD",
    "AnswerJudge",
    "BackendConfig",
    "ClassifierJudge",
    "Clustering",
    "EmbeddingJudge",
    "Encoder",
    "EquivalenceClassifier",
    "HttpEncoder",
    "Judge",
    "JudgeConfig",
    "JudgeStats",
    "LabelledPair",
    "Precision",
    "RayEncoderPool",
    "TextEmbedder",
    "TrainingReport",
    "answer_from_field",
    "answer_judge_problems",
    "answer_keys",
    "build_encoder",
    "build_judge",
    "correct_flags",
    "default_model_path",
    "diversity_from_labels",
    "get_embedder",
    "leader_labels",
    "load_pairs",
    "pair_features",
    "partition",
    "short_text_equivalent",
    "train_classifier",
    "unavailable_floor_warning",
    "union_find_labels",
]
