"""The diagnostic formulas: hand-computed values and properties."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewardkit.diagnostics import (
    answer_entropy,
    distinct_answers,
    distinct_n,
    embedding_diversity,
    expected_distinct_answers,
    num_partitions,
    pass_at_k,
)


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of k-subsets of n samples that contain a correct one (the definition)."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


def test_pass_at_k_hand_values() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c = 2 < k
    assert pass_at_k(1024, 1, 1) == pytest.approx(1 / 1024)


@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
    )
)
def test_pass_at_k_equals_the_definition(args: tuple[int, int, int]) -> None:
    n, c, k = args
    assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k))


@given(
    st.integers(2, 2000).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
    )
)
def test_pass_at_k_bounds_and_monotone(args: tuple[int, int, int]) -> None:
    n, c, k = args
    v = pass_at_k(n, c, k)
    assert 0.0 <= v <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= v - 1e-12
    if c < n:
        assert pass_at_k(n, c + 1, k) >= v - 1e-12


def test_pass_at_k_rejects_k_above_n() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(4, 1, 8)


def test_answer_counts_and_entropy() -> None:
    answers = ["a", "a", "b", "c", None]
    assert distinct_answers(answers) == 3
    assert answer_entropy(answers) == pytest.approx(
        -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    )
    assert answer_entropy([None, None]) == 0.0
    assert expected_distinct_answers([0.5, 0.5], 2) == pytest.approx(1.5)


def test_distinct_n_hand_values() -> None:
    texts = ["a b a b", "a b c"]
    # unigrams: 7 tokens, unique {a, b, c} -> 3/7; bigrams: ab ba ab | ab bc -> 5, unique 3.
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert math.isnan(distinct_n(["a"], 2))


def test_embedding_diversity_hand_values() -> None:
    assert embedding_diversity(np.eye(3)) == pytest.approx(1.0)
    assert embedding_diversity(np.ones((4, 2))) == pytest.approx(0.0)
    # Two vectors at 60 degrees: 1 - cos = 0.5, and scaling does not matter.
    e = np.array([[1.0, 0.0], [0.5 * 3, math.sqrt(3) / 2 * 3]])
    assert embedding_diversity(e) == pytest.approx(0.5)
    assert math.isnan(embedding_diversity(np.ones((1, 3))))


@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=10), st.randoms())
def test_answer_metrics_are_permutation_invariant(answers, rnd) -> None:
    shuffled = list(answers)
    rnd.shuffle(shuffled)
    assert distinct_answers(shuffled) == distinct_answers(answers) == num_partitions(answers)
    assert answer_entropy(shuffled) == pytest.approx(answer_entropy(answers))
    assert 0 <= answer_entropy(answers) <= math.log(len(answers)) + 1e-12
