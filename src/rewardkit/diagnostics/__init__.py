"""Built-in diagnostics (plugin ``rewardkit.diagnostics``).

Metrics (logged as ``rewardkit/<name>/<key>``): ``answer_diversity`` (stateful: it remembers
which prompts were ever solved, for its ever/never-solved split), ``pass_at_k``,
``distinct_n``, ``embedding_diversity``, ``partitions``, ``pass_at_k_gain`` and
``logprob_rank`` (needs completion log-probs). The formulas are plain functions
(:func:`pass_at_k`, :func:`distinct_n`, ...) that ``rewardkit report`` uses too. Token-entropy
statistics live with the entropy masks in :mod:`rewardkit.masks`.
"""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.diagnostics._math import (
    answer_entropy,
    distinct_answers,
    distinct_n,
    embedding_diversity,
    expected_distinct_answers,
    num_partitions,
    pass_at_k,
)
from rewardkit.diagnostics._metrics import (
    AnswerDiversity,
    DistinctN,
    EmbeddingDiversity,
    PartitionCount,
    PassAtK,
)
from rewardkit.diagnostics._passk_gain import (
    LogprobRank,
    PassAtKGain,
    correct_logprob_rank,
    pass_at_k_gain,
)
from rewardkit.hookspecs import hookimpl

__all__ = [
    "AnswerDiversity",
    "DistinctN",
    "EmbeddingDiversity",
    "LogprobRank",
    "PartitionCount",
    "PassAtK",
    "PassAtKGain",
    "answer_entropy",
    "correct_logprob_rank",
    "distinct_answers",
    "distinct_n",
    "embedding_diversity",
    "expected_distinct_answers",
    "num_partitions",
    "pass_at_k",
    "pass_at_k_gain",
]


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in diagnostic metrics."""
    return [
        AnswerDiversity,
        PassAtK,
        DistinctN,
        EmbeddingDiversity,
        PartitionCount,
        PassAtKGain,
        LogprobRank,
    ]
