"""ucb_exploration: counts across steps, variants, state round-trips, bounded memory."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardkit import ConfigError, StateError, parse_config
from rewardkit._components import ShapingInput
from rewardkit._rollout import Batch, RewardResult, Rollout
from rewardkit.shaping import AnswerCounts, UCBExplorationBonus, ucb_bonus
from rewardkit.shaping._counts import answer_id, prompt_id

from .helpers import shaping_input

S2 = 1 / math.sqrt(2)
S3 = 1 / math.sqrt(3)


def ucb(**fields: object) -> UCBExplorationBonus:
    fields.setdefault("answer_from", "m")
    fields.setdefault("coefficient", 1.0)
    return UCBExplorationBonus(UCBExplorationBonus.Config(**fields))


def test_counts_across_two_steps_raw() -> None:
    term = ucb(variant="raw")
    # Step 1: a twice, b once -> N = 2, 2, 1 (the batch is counted first).
    assert term.shape(shaping_input([["a", "a", "b"]], step=1)) == pytest.approx([S2, S2, 1.0])
    # Step 2: a once more (N=3), b again (N=2), c new (N=1).
    assert term.shape(shaping_input([["a", "b", "c"]], step=2)) == pytest.approx([S3, S2, 1.0])


def test_score_then_count_uses_only_earlier_batches() -> None:
    term = ucb(variant="raw", order="score_then_count")
    assert term.shape(shaping_input([["a", "a", "b"]])) == [1.0, 1.0, 1.0]
    assert term.shape(shaping_input([["a", "b", "c"]])) == pytest.approx([S2, 1.0, 1.0])


def test_constant_and_mean_baselines() -> None:
    data = shaping_input([["a", "a", "b"]])
    assert ucb(variant="constant_baseline", baseline=0.5).shape(data) == pytest.approx(
        [S2 - 0.5, S2 - 0.5, 0.5]
    )
    # Leave-one-out: b_i minus the mean of the other two.
    assert ucb(variant="mean_baseline").shape(data) == pytest.approx(
        [S2 - (S2 + 1) / 2, S2 - (S2 + 1) / 2, 1 - S2]
    )


def test_prompts_are_counted_separately() -> None:
    term = ucb(variant="raw")
    data = shaping_input([["a", "a"], ["a", "b"]], prompts=["p", "q"])
    assert term.shape(data) == pytest.approx([S2, S2, 1.0, 1.0])


def test_all_correct_groups_get_zero_and_only_incorrect() -> None:
    data = shaping_input(
        [["a", "a"], ["a", "b"]], correct=[[True, True], [True, False]], prompts=["p", "q"]
    )
    assert ucb(variant="raw").shape(data) == pytest.approx([0.0, 0.0, 1.0, 1.0])
    assert ucb(variant="raw", only_incorrect=True).shape(data) == pytest.approx(
        [0.0, 0.0, 0.0, 1.0]
    )
    kept = ucb(variant="raw", zero_all_correct_groups=False).shape(data)
    assert kept == pytest.approx([S2, S2, 1.0, 1.0])


def test_rollouts_without_an_answer_get_zero_and_are_not_counted() -> None:
    term = ucb(variant="mean_baseline")
    values = term.shape(shaping_input([["a", None, "b"]]))
    assert values[1] == 0.0
    assert values[0] == pytest.approx(0.0) and values[2] == pytest.approx(0.0)  # both N = 1
    assert len(term.counts) == 2


def test_coefficient_default_and_fallback_answer_extraction() -> None:
    term = UCBExplorationBonus(UCBExplorationBonus.Config(variant="raw"))  # no answer_from
    assert term.config.coefficient == 0.1
    assert term.shape(shaping_input([["7", "7"]])) == pytest.approx([0.1 * S2, 0.1 * S2])


def test_prompt_id_column_keys_history_and_rejects_per_step_ids() -> None:
    term = ucb(variant="raw", prompt_id_column="index")
    res = {"m": [RewardResult.incorrect(answer="a")] * 2}
    b1 = Batch([Rollout("wording 1", "x", metadata={"index": 5})])
    b2 = Batch([Rollout("wording 2", "x", metadata={"index": 5})])
    term.shape(ShapingInput(b1, (0.0,), {"m": res["m"][:1]}))
    assert term.shape(ShapingInput(b2, (0.0,), {"m": res["m"][:1]})) == pytest.approx([S2])
    with pytest.raises(ConfigError, match="changes every step"):
        parse_config(
            {
                "rewards": [{"type": "math"}],
                "shaping": [{"type": "ucb_exploration", "prompt_id_column": "uid"}],
            }
        )


def test_missing_prompt_id_column_is_a_clear_batch_error() -> None:
    from rewardkit import BatchError

    term = ucb(prompt_id_column="index")
    with pytest.raises(BatchError, match="'index'"):
        term.shape(shaping_input([["a"]]))


# ---------------------------------------------------------------------------- state


def test_state_round_trip_through_a_file_gives_identical_bonuses(tmp_path) -> None:
    term = ucb(variant="constant_baseline")
    for step in range(3):
        term.shape(shaping_input([["a", "b", "a", "c"], ["x", "x"]], prompts=["p", "q"], step=step))
    path = tmp_path / "ucb.state"
    term.save(path)
    restored = ucb(variant="constant_baseline")
    restored.load(path)
    assert restored.counts == term.counts
    nxt = shaping_input([["a", "d", "c", "c"], ["x", "y"]], prompts=["p", "q"])
    assert restored.shape(nxt) == term.shape(nxt)


def test_state_file_option_loads_and_saves_on_close(tmp_path) -> None:
    path = tmp_path / "ucb.json"
    first = ucb(variant="raw", state_file=str(path))
    first.shape(shaping_input([["a"]]))
    first.close()
    second = ucb(variant="raw", state_file=str(path))
    assert second.shape(shaping_input([["a"]])) == pytest.approx([S2])


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe garbage",
        json.dumps(
            {"format": "rewardkit-state", "version": 1, "kind": "pipeline", "payload": {}}
        ).encode(),
        json.dumps(
            {"format": "rewardkit-state", "version": 99, "kind": "ucb_exploration", "payload": {}}
        ).encode(),
        json.dumps(
            {
                "format": "rewardkit-state",
                "version": 1,
                "kind": "ucb_exploration",
                "payload": {
                    "counts": {
                        "format": 1,
                        "max_answers": 4,
                        "prompts": "!!",
                        "answers": "",
                        "counts": "",
                    }
                },
            }
        ).encode(),
        json.dumps(
            {
                "format": "rewardkit-state",
                "version": 1,
                "kind": "ucb_exploration",
                "payload": {
                    "counts": {
                        "format": 1,
                        "max_answers": 4,
                        "prompts": "AAAAAAAAAAA=",
                        "answers": "",
                        "counts": "",
                    }
                },
            }
        ).encode(),
    ],
    ids=[
        "truncated-json",
        "binary",
        "foreign-kind",
        "newer-version",
        "bad-base64",
        "length-mismatch",
    ],
)
def test_corrupt_or_foreign_state_file_is_a_clear_state_error(tmp_path, content: bytes) -> None:
    path = tmp_path / "ucb.state"
    path.write_bytes(content)
    with pytest.raises(StateError):
        ucb().load(path)


def test_merge_adds_counts_from_several_processes() -> None:
    a, b, both = ucb(variant="raw"), ucb(variant="raw"), ucb(variant="raw")
    d1 = shaping_input([["x", "y", "x"]])
    d2 = shaping_input([["x", "z"]])
    a.shape(d1)
    b.shape(d2)
    both.shape(d1)
    both.shape(d2)
    a.merge_state(b.state_dict())
    assert a.counts == both.counts
    assert a.counts.get(prompt_id(d1.batch[0].prompt_key), answer_id("x")) == 3


def test_pipeline_state_round_trip(tmp_path) -> None:
    from rewardkit import RewardPipeline

    cfg = {
        "rewards": [{"type": "math"}],
        "shaping": [{"type": "ucb_exploration", "answer_from": "math", "coefficient": 1.0}],
    }
    rollouts = [Rollout("1+1?", f"\\boxed{{{a}}}", reference="2") for a in ["2", "3", "3"]]
    with RewardPipeline(cfg) as p1:
        p1.score(rollouts)
        p1.save_state(tmp_path / "pipe.state")
        after = p1.score(rollouts).components["ucb_exploration"]
    with RewardPipeline(cfg) as p2:
        p2.load_state(tmp_path / "pipe.state")
        assert p2.score(rollouts).components["ucb_exploration"] == after


# ---------------------------------------------------------------------------- memory bound


def test_cap_on_answers_per_prompt_uses_an_overflow_counter() -> None:
    counts = AnswerCounts(max_answers=2)
    counts.add(1, 10)
    counts.add(1, 11)
    counts.add(1, 12)  # untracked: goes to the overflow counter
    counts.add(1, 13)
    assert len(counts) == 3  # two tracked answers + one overflow counter
    assert counts.get(1, 12) == counts.get(1, 99) == 2
    assert counts.get(1, 10) == 1
    counts.add(2, 12)  # another prompt is unaffected
    assert counts.get(2, 12) == 1


def test_merge_evicts_least_frequent_answers_into_overflow() -> None:
    a, b = AnswerCounts(max_answers=2), AnswerCounts(max_answers=2)
    for ans, k in ((10, 5), (11, 1)):
        a.add(7, ans, k)
    for ans, k in ((12, 3), (13, 2)):
        b.add(7, ans, k)
    a.merge(b)
    assert a.get(7, 10) == 5 and a.get(7, 12) == 3
    assert a.get(7, 11) == a.get(7, 13) == 3  # 1 + 2 evicted into the overflow counter
    assert sum(c for _, _, c in a.items()) == 11  # no count is lost


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 12)), max_size=60), st.integers(1, 6))
def test_memory_is_bounded_and_totals_are_kept(events, cap) -> None:
    counts = AnswerCounts(max_answers=cap)
    for p, a in events:
        counts.add(p, a)
    per_prompt: dict[int, int] = {}
    for p, a, _ in counts.items():
        if a != 0:
            per_prompt[p] = per_prompt.get(p, 0) + 1
    assert all(v <= cap for v in per_prompt.values())
    assert sum(c for _, _, c in counts.items()) == len(events)
    assert AnswerCounts.from_state(counts.to_state()) == counts


# ---------------------------------------------------------------------------- properties


@given(st.integers(0, 10**9))
def test_bonus_bounds(n: int) -> None:
    assert 0 < ucb_bonus(n) <= 1


@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_bonus_is_monotone_decreasing_in_counts(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert ucb_bonus(hi) <= ucb_bonus(lo)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from("abcde"), min_size=2, max_size=10),
    st.sampled_from(["raw", "mean_baseline", "constant_baseline"]),
    st.randoms(),
)
def test_permuting_a_group_permutes_the_values(answers, variant, rnd) -> None:
    order = list(range(len(answers)))
    rnd.shuffle(order)
    v1 = ucb(variant=variant).shape(shaping_input([answers]))
    v2 = ucb(variant=variant).shape(shaping_input([[answers[i] for i in order]]))
    assert v2 == pytest.approx([v1[i] for i in order])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("abcde"), min_size=2, max_size=10))
def test_raw_values_in_unit_interval_and_mean_baseline_sums_to_zero(answers) -> None:
    raw = ucb(variant="raw").shape(shaping_input([answers]))
    assert all(0 < v <= 1 for v in raw)
    mean = ucb(variant="mean_baseline").shape(shaping_input([answers]))
    assert sum(mean) == pytest.approx(0.0, abs=1e-9)
