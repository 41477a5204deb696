"""semantic_diversity (DARLING): partitions, floor, judges, combine rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewardkit import BatchError, ConfigError, RewardPipeline, Rollout, parse_config
from rewardkit.judges import (
    diversity_from_labels,
    leader_labels,
    short_text_equivalent,
    union_find_labels,
)
from rewardkit.shaping import SemanticDiversity

from .helpers import shaping_input


def darling(**fields: object) -> SemanticDiversity:
    fields.setdefault("judge", "answer")
    fields.setdefault("answer_from", "m")
    return SemanticDiversity(SemanticDiversity.Config(**fields))


def test_partitions_with_floor_hand_computed() -> None:
    # Classes {0,1,2}, {3}, {4}: n = 5, Div = (5 - 3)/4 = 0.5 for the big class, 1 for singletons.
    assert diversity_from_labels([0, 0, 0, 1, 2]) == [0.5, 0.5, 0.5, 1.0, 1.0]
    # All equal: (n - n)/(n - 1) = 0, floored to 0.1 (or to the configured floor).
    assert diversity_from_labels([0, 0, 0, 0]) == [0.1] * 4
    assert diversity_from_labels([0, 0, 0, 0], floor=0.0) == [0.0] * 4
    assert diversity_from_labels([0, 0, 1, 1], floor=0.5) == [2 / 3] * 4
    assert diversity_from_labels([3]) == [1.0]  # a group of one: nothing to be similar to


def test_union_find_is_transitive_and_leader_is_not() -> None:
    # a~b and b~c but not a~c: union-find joins all three, leader clustering keeps c apart.
    pairs = {(0, 1), (1, 2)}
    assert union_find_labels(3, pairs) == [0, 0, 0]
    assert leader_labels(3, lambda i, j: (i, j) in pairs) == [0, 0, 1]


def test_answer_judge_term_multiplies_quality() -> None:
    term = darling()
    data = shaping_input([["a", "a", "a", "b", "c"]], totals=[1, 1, 0, 1, 0])
    assert term.shape(data) == [0.5, 0.5, 0.5, 1.0, 1.0]
    assert term.default_combine == "multiply"


def test_correct_only_partition_hand_computed() -> None:
    # Correct rollouts a, a, c form the partition (n = 3): Div(a) = (3 - 2)/2, Div(c) = 1.
    # The wrong b earns no diversity credit: the floor. Group 2 has no correct rollout.
    term = darling(partition="correct")
    data = shaping_input(
        [["a", "b", "a", "c"], ["x", "y"]],
        correct=[[True, False, True, True], [False, False]],
    )
    assert term.shape(data) == pytest.approx([0.5, 0.1, 0.5, 1.0, 0.1, 0.1])
    # Over the whole group b would be a singleton with Div 1.
    assert darling().shape(data)[1] == 1.0


def test_correct_only_partition_embeds_only_correct_rollouts() -> None:
    term = darling(partition="correct", judge="embedding")
    data = shaping_input([["a", "b", "c"]], correct=[[True, False, True]])
    seen: list[list[str]] = []

    def labels(texts: list[str], answers: object, groups: list[list[int]]) -> list[int]:
        seen.append(list(texts))
        assert groups == [[0, 1]]  # renumbered to the judged texts
        return [0, 1]

    term.judge.labels = labels  # type: ignore[method-assign]
    assert term.shape(data) == pytest.approx([1.0, 0.1, 1.0])
    assert seen == [["work ... so \\boxed{a}", "work ... so \\boxed{c}"]]


def test_no_answer_rollouts_are_each_their_own_class() -> None:
    term = darling()
    assert term.shape(shaping_input([[None, None, "a", "a"]])) == pytest.approx(
        [1.0, 1.0, 2 / 3, 2 / 3]
    )


def test_negative_quality_with_multiply_is_a_clear_error() -> None:
    data = shaping_input([["a", "b"]], totals=[-1.0, 0.5])
    with pytest.raises(BatchError, match="needs rewards >= 0"):
        darling().shape(data)


def test_group_min_shift_gives_shifted_product_with_add() -> None:
    cfg = parse_config(
        {
            "rewards": [{"type": "math"}],
            "shaping": [
                {
                    "type": "semantic_diversity",
                    "judge": "answer",
                    "answer_from": "math",
                    "quality_shift": "group_min",
                    "combine": "add",
                }
            ],
        }
    )
    term = SemanticDiversity(cfg.shaping[0], name="d")
    data = shaping_input([["a", "a", "b"]], totals=[-1.0, 1.0, 0.0])
    data = type(data)(data.batch, data.totals, {"math": data.results["m"]}, None)
    div = [0.5, 0.5, 1.0]
    expected_final = [(q + 1.0) * d for q, d in zip(data.totals, div)]
    delta = term.shape(data)
    assert [q + v for q, v in zip(data.totals, delta)] == pytest.approx(expected_final)


def test_group_min_shift_with_multiply_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="combine: add"):
        RewardPipeline(
            {
                "rewards": [{"type": "math"}],
                "shaping": [
                    {"type": "semantic_diversity", "judge": "answer", "quality_shift": "group_min"}
                ],
            }
        )


def test_classifier_judge_needs_a_path() -> None:
    with pytest.raises(ConfigError, match="classifier_path"):
        parse_config({"shaping": [{"type": "semantic_diversity", "judge": "classifier"}]})


def test_short_text_rule() -> None:
    assert short_text_equivalent("x = 5", "x = 5 .") is True
    assert short_text_equivalent("the answer is 5", "it is 7") is False
    assert short_text_equivalent("one two three four five six", "one") is None


@given(st.lists(st.integers(0, 4), min_size=1, max_size=16), st.floats(0, 1))
def test_div_bounds_and_floor(labels: list[int], floor: float) -> None:
    for d in diversity_from_labels(labels, floor):
        assert max(floor, 0.0) <= d <= 1.0


@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=12), st.randoms())
def test_permuting_a_group_permutes_div(answers, rnd) -> None:
    order = list(range(len(answers)))
    rnd.shuffle(order)
    v1 = darling().shape(shaping_input([answers], totals=[1.0] * len(answers)))
    v2 = darling().shape(shaping_input([[answers[i] for i in order]], totals=[1.0] * len(answers)))
    assert v2 == pytest.approx([v1[i] for i in order])


@given(st.lists(st.integers(0, 3), min_size=2, max_size=12))
def test_bigger_class_means_lower_div(labels: list[int]) -> None:
    div = diversity_from_labels(labels, floor=0.0)
    size = {lab: labels.count(lab) for lab in labels}
    for i in range(len(labels)):
        for j in range(len(labels)):
            if size[labels[i]] > size[labels[j]]:
                assert div[i] < div[j]


def test_usable_in_the_pipeline_with_every_combine() -> None:
    rollouts = [Rollout("1+1?", f"\\boxed{{{a}}}", reference="2") for a in ("2", "2", "3")]
    cfg = {
        "rewards": [{"type": "math"}],
        "shaping": [{"type": "semantic_diversity", "judge": "answer", "answer_from": "math"}],
    }
    with RewardPipeline(cfg) as p:
        scored = p.score(rollouts)
    # q = 1, 1, 0; Div = 0.5, 0.5, 1.
    assert scored.rewards == pytest.approx([0.5, 0.5, 0.0])
    cfg["shaping"][0].update(combine="add", coefficient=0.2)
    with RewardPipeline(cfg) as p:
        assert p.score(rollouts).rewards == pytest.approx([1.1, 1.1, 0.2])
