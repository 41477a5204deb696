"""The diagnostic formulas as pure functions, shared by the pipeline metrics and ``report``.

Each takes one prompt group's values; callers average over groups (per prompt, then mean).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

from rewardkit._errors import ArgumentError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "answer_entropy",
    "distinct_answers",
    "distinct_n",
    "embedding_diversity",
    "expected_distinct_answers",
    "num_partitions",
    "pass_at_k",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (Chen et al. 2021).

    ``1 - C(n-c, k)/C(n, k)`` in its product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, exact
    to float precision for any n (no huge binomials); 1 when ``n - c < k``. Needs ``n >= k``:
    pass@k cannot be estimated from fewer than k samples, and c/k is not an estimate of it.
    """
    if not 1 <= k <= n:
        raise ArgumentError(f"pass@k needs 1 <= k <= n, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ArgumentError(f"pass@k needs 0 <= c <= n, got n={n}, c={c}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def distinct_answers(answers: Sequence[Hashable | None]) -> int:
    """Number of distinct answers among those stated (``None`` = no answer, not counted)."""
    return len({a for a in answers if a is not None})


def answer_entropy(answers: Sequence[Hashable | None]) -> float:
    """Shannon entropy (nats) of the empirical distribution of stated answers; 0 if none."""
    counts = Counter(a for a in answers if a is not None)
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return -sum(c / total * math.log(c / total) for c in counts.values())


def expected_distinct_answers(probabilities: Sequence[float], k: int) -> float:
    """Expected distinct answers among k samples: ``sum_a 1 - (1 - p(a))^k``."""
    return sum(1.0 - (1.0 - p) ** k for p in probabilities)


def _whitespace(text: str) -> list[str]:
    return text.split()


def distinct_n(
    texts: Sequence[str], n: int, tokenize: Callable[[str], list[str]] = _whitespace
) -> float:
    """``|unique n-grams| / |n-grams|`` over all texts of a group; NaN when there are none.

    Length-biased (longer texts repeat more n-grams); fix the tokenizer when comparing runs.
    """
    if n < 1:
        raise ArgumentError(f"n must be >= 1, got {n}")
    total = 0
    seen: set[tuple[str, ...]] = set()
    for text in texts:
        tokens = tokenize(text)
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else math.nan


def embedding_diversity(embeddings: np.ndarray) -> float:
    """``1 - mean pairwise cosine`` over the rows (L2-normalised here); NaN for fewer than 2."""
    import numpy as np

    e = np.asarray(embeddings, dtype=np.float64)
    k = e.shape[0]
    if k < 2:
        return math.nan
    e = e / np.linalg.norm(e, axis=1, keepdims=True).clip(min=1e-12)
    sims = e @ e.T
    mean_off_diag = (sims.sum() - np.trace(sims)) / (k * (k - 1))
    return float(1.0 - mean_off_diag)


def num_partitions(labels: Sequence[Hashable]) -> int:
    """Number of equivalence classes (NoveltyBench's partition-based distinct count)."""
    return len(set(labels))
