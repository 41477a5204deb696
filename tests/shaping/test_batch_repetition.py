"""batch_repetition: hand-computed values and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewardkit.shaping import BatchRepetitionPenalty, repetition_penalty

from .helpers import shaping_input

answers_st = st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=1, max_size=16)


def term(**fields: object) -> BatchRepetitionPenalty:
    return BatchRepetitionPenalty(BatchRepetitionPenalty.Config(answer_from="m", **fields))


def test_issue_example_a_a_b_c() -> None:
    assert term().shape(shaping_input([["a", "a", "b", "c"]])) == [-0.25, -0.25, 0.0, 0.0]


def test_groups_are_independent_and_batch_scope_counts_across_them() -> None:
    data = shaping_input([["a", "a"], ["a", "b"]])
    assert term().shape(data) == [-0.5, -0.5, 0.0, 0.0]
    # Whole batch: n = 4, the three a's each see two others.
    assert term(scope="batch").shape(data) == [-0.5, -0.5, -0.5, 0.0]


def test_coefficient_scales_and_no_answer_repeats_nothing() -> None:
    assert term(coefficient=2.0).shape(shaping_input([["a", "a", None, None]])) == [
        -0.5,
        -0.5,
        0.0,
        0.0,
    ]


def test_fallback_extracts_the_boxed_answer_when_no_reward_is_named() -> None:
    data = shaping_input([["7", "7", "8"]])
    assert BatchRepetitionPenalty().shape(data) == pytest.approx([-1 / 3, -1 / 3, 0.0])


@given(answers_st)
def test_bounds_and_expectation_identity(answers: list[str | None]) -> None:
    values = repetition_penalty(answers)
    n = len(answers)
    assert all(-(n - 1) / n <= v <= 0 for v in values)
    # Mean over rollouts equals -(1/n^2) * sum_a c_a (c_a - 1): the empirical collision form.
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    expected = -sum(c * (c - 1) for c in counts.values()) / n**2
    assert sum(values) / n == pytest.approx(expected)


@given(answers_st, st.randoms())
def test_permuting_a_group_permutes_the_values(answers: list[str | None], rnd) -> None:
    order = list(range(len(answers)))
    rnd.shuffle(order)
    values = repetition_penalty(answers)
    assert repetition_penalty([answers[i] for i in order]) == [values[i] for i in order]
