"""Built-in shaping terms (plugin ``rewardkit.shaping``).

* ``ucb_exploration`` - :class:`UCBExplorationBonus`, a historical count bonus on final answers;
* ``batch_repetition`` - :class:`BatchRepetitionPenalty`, a penalty for repeated answers;
* ``semantic_diversity`` - :class:`SemanticDiversity`, DARLING's partition-based diversity;
* ``pass_at_k_objective`` - :class:`PassAtKObjective`, pass@k advantages (Chen et al.; PKPO);
* ``unlikeliness`` - :class:`Unlikeliness`, the unlikeliness reward (needs log-probs).

Equivalence judging (answer keys, judges, partitions, encoders) lives in :mod:`rewardkit.judges`.
Importing this package is light: embedding models, torch and numpy load on first use.
"""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl
from rewardkit.shaping._batch_repetition import BatchRepetitionPenalty, repetition_penalty
from rewardkit.shaping._counts import AnswerCounts
from rewardkit.shaping._logprobs import (
    LOGPROBS_HINT,
    logprob_consumers,
    logprob_ranks,
    mean_logprobs,
)
from rewardkit.shaping._pass_at_k_objective import (
    PassAtKObjective,
    pass_at_k_advantages,
    pkpo_rewards,
)
from rewardkit.shaping._semantic_diversity import SemanticDiversity
from rewardkit.shaping._ucb_exploration import UCBExplorationBonus, ucb_bonus
from rewardkit.shaping._unlikeliness import Unlikeliness, unlikeliness_factors

__all__ = [
    "LOGPROBS_HINT",
    "AnswerCounts",
    "BatchRepetitionPenalty",
    "PassAtKObjective",
    "SemanticDiversity",
    "UCBExplorationBonus",
    "Unlikeliness",
    "logprob_consumers",
    "logprob_ranks",
    "mean_logprobs",
    "pass_at_k_advantages",
    "pkpo_rewards",
    "repetition_penalty",
    "ucb_bonus",
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
