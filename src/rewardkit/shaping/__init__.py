"""Built-in shaping terms (plugin ``rewardkit.shaping``).

* ``ucb_exploration`` - :class:`UCBExplorationBonus`, a historical count bonus on final answers;
* ``batch_repetition`` - :class:`BatchRepetitionPenalty`, a penalty for repeated answers;
* ``semantic_diversity`` - :class:`SemanticDiversity`, DARLING's partition-based diversity;
* ``pass_at_k_objective`` - :class:`PassAtKObjective`, pass@k advantages (Chen et al.; PKPO);
* ``unlikeliness`` - :class:`Unlikeliness`, the unlikeliness reward (needs log-probs).

Importing this package is light: embedding models, torch and numpy load on first use.
"""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl
from rewardkit.shaping._batch_repetition import BatchRepetitionPenalty, repetition_penalty
from rewardkit.shaping._classifier import (
    EquivalenceClassifier,
    LabelledPair,
    TrainingReport,
    load_pairs,
    pair_features,
    train_classifier,
)
from rewardkit.shaping._counts import AnswerCounts
from rewardkit.shaping._embedding import TextEmbedder, default_model_path, get_embedder
from rewardkit.shaping._judges import (
    AnswerJudge,
    ClassifierJudge,
    EmbeddingJudge,
    Judge,
    short_text_equivalent,
)
from rewardkit.shaping._logprobs import (
    LOGPROBS_HINT,
    logprob_consumers,
    logprob_ranks,
    mean_logprobs,
)
from rewardkit.shaping._partition import (
    diversity_from_labels,
    leader_labels,
    partition,
    union_find_labels,
)
from rewardkit.shaping._pass_at_k_objective import (
    PassAtKObjective,
    pass_at_k_advantages,
    pkpo_rewards,
)
from rewardkit.shaping._semantic_diversity import (
    DEFAULT_EMBEDDING_THRESHOLD,
    JudgeConfig,
    SemanticDiversity,
    build_judge,
)
from rewardkit.shaping._ucb_exploration import UCBExplorationBonus, ucb_bonus
from rewardkit.shaping._unlikeliness import Unlikeliness, unlikeliness_factors

__all__ = [
    "DEFAULT_EMBEDDING_THRESHOLD",
    "LOGPROBS_HINT",
    "AnswerCounts",
    "AnswerJudge",
    "BatchRepetitionPenalty",
    "ClassifierJudge",
    "EmbeddingJudge",
    "EquivalenceClassifier",
    "Judge",
    "JudgeConfig",
    "LabelledPair",
    "PassAtKObjective",
    "SemanticDiversity",
    "TextEmbedder",
    "TrainingReport",
    "UCBExplorationBonus",
    "Unlikeliness",
    "build_judge",
    "default_model_path",
    "diversity_from_labels",
    "get_embedder",
    "leader_labels",
    "load_pairs",
    "logprob_consumers",
    "logprob_ranks",
    "mean_logprobs",
    "pair_features",
    "partition",
    "pass_at_k_advantages",
    "pkpo_rewards",
    "repetition_penalty",
    "short_text_equivalent",
    "train_classifier",
    "ucb_bonus",
    "union_find_labels",
    "unlikeliness_factors",
]


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in group and batch shaping terms."""
    return [
        UCBExplorationBonus,
        BatchRepetitionPenalty,
        SemanticDiversity,
        PassAtKObjective,
        Unlikeliness,
    ]
