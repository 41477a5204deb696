"""answer_diversity's history split: "ever solved" / "never solved" prompts over the whole run,
next to the per-batch solved / unsolved split, and its state through a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rewardkit import ConfigError, RewardPipeline, Rollout, StateError, parse_config

KEY = "rewardkit/answer_diversity/"


def _config(**fields: Any) -> dict[str, Any]:
    return {
        "rewards": [{"type": "math"}],
        "diagnostics": [{"type": "answer_diversity", "answer_from": "math", **fields}],
    }


def _batch(
    groups: dict[str, Sequence[str]], *, index: dict[str, int] | None = None
) -> list[Rollout]:
    """Rollouts per prompt (reference "1"); ``index`` puts a dataset id in the metadata."""
    return [
        Rollout(
            prompt,
            f"step ... \\boxed{{{a}}}",
            reference="1",
            group=prompt,
            metadata={"index": index[prompt]} if index else {},
        )
        for prompt, answers in groups.items()
        for a in answers
    ]


# Step 1: A is solved (answers 1, 1, 2: two distinct), B is not (3, 4, 5, 6: four distinct).
STEP1 = {"A": ["1", "1", "2"], "B": ["3", "4", "5", "6"]}
# Step 2: A is missed (7, 8: two distinct), B still unsolved (3, 3: one), C solved (1: one).
STEP2 = {"A": ["7", "8"], "B": ["3", "3"], "C": ["1"]}


def test_history_split_hand_computed() -> None:
    with RewardPipeline(_config()) as p:
        m1 = p.score(_batch(STEP1)).metrics
        m2 = p.score(_batch(STEP2)).metrics
    # Step 1: history and batch agree.
    assert m1[KEY + "distinct_solved"] == m1[KEY + "distinct_ever_solved"] == pytest.approx(2)
    assert m1[KEY + "distinct_unsolved"] == m1[KEY + "distinct_never_solved"] == pytest.approx(4)
    assert m1[KEY + "frac_ever_solved_groups"] == pytest.approx(1 / 2)
    # Step 2: per batch, A (missed now) is unsolved with B: (2 + 1)/2; solved is C alone.
    assert m2[KEY + "distinct_unsolved"] == pytest.approx(1.5)
    assert m2[KEY + "distinct_solved"] == pytest.approx(1)
    # Over history, A was solved at step 1: ever solved are A and C, (2 + 1)/2; never solved B.
    assert m2[KEY + "distinct_ever_solved"] == pytest.approx(1.5)
    assert m2[KEY + "distinct_never_solved"] == pytest.approx(1)
    assert m2[KEY + "frac_solved_groups"] == pytest.approx(1 / 3)
    assert m2[KEY + "frac_ever_solved_groups"] == pytest.approx(2 / 3)


def test_a_key_with_no_group_is_left_out() -> None:
    with RewardPipeline(_config()) as p:
        m = p.score(_batch({"A": ["1", "2"]})).metrics
    assert KEY + "distinct_ever_solved" in m and KEY + "distinct_never_solved" not in m


def test_checkpoint_round_trip_gives_the_same_metrics(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with RewardPipeline(_config()) as first:
        first.score(_batch(STEP1))
        first.save_state(path)
        continued = first.score(_batch(STEP2)).metrics
    with RewardPipeline(_config()) as resumed:
        assert [c.name for c in resumed.stateful_components] == ["answer_diversity"]
        resumed.load_state(path)
        assert resumed.score(_batch(STEP2)).metrics == continued
    # Without the state, A has never been solved: the split differs, so the test can tell.
    with RewardPipeline(_config()) as fresh:
        m = fresh.score(_batch(STEP2)).metrics
    assert m[KEY + "distinct_never_solved"] == pytest.approx(1.5)
    assert m[KEY + "distinct_never_solved"] != continued[KEY + "distinct_never_solved"]


def test_state_is_compact_json_and_merges_by_union() -> None:
    with RewardPipeline(_config()) as a, RewardPipeline(_config()) as b:
        a.score(_batch({"A": ["1"]}))
        b.score(_batch({"C": ["1"], "B": ["2"]}))
        state = a.state_dict()["answer_diversity"]
        assert state["format"] == 1 and len(state["ever_solved"]) == 12  # one id: 8 bytes
        diag = a.diagnostics[0]
        diag.merge_state(b.state_dict()["answer_diversity"])  # type: ignore[attr-defined]
        assert len(diag.ever_solved) == 2  # type: ignore[attr-defined]
        m = a.score(_batch({"A": ["9"], "B": ["9"], "C": ["9"]})).metrics
    assert m[KEY + "frac_ever_solved_groups"] == pytest.approx(2 / 3)


def test_prompt_id_column_keys_history_on_a_dataset_id() -> None:
    cfg = _config(prompt_id_column="index")
    with RewardPipeline(cfg) as p:
        p.score(_batch({"What is 1?": ["1"]}, index={"What is 1?": 7}))
        # Reworded prompt, same dataset id: still the same problem, so ever solved.
        m = p.score(_batch({"Compute 1.": ["2"]}, index={"Compute 1.": 7})).metrics
    assert m[KEY + "frac_ever_solved_groups"] == 1.0
    with pytest.raises(ConfigError, match="changes every step"):
        parse_config(_config(prompt_id_column="uid"))


def test_history_false_keeps_no_state_and_logs_no_history() -> None:
    with RewardPipeline(_config(history=False)) as p:
        assert p.stateful_components == []
        m = p.score(_batch(STEP1)).metrics
    assert not any("ever_solved" in k or "never_solved" in k for k in m)
    assert m[KEY + "distinct_unsolved"] == pytest.approx(4)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"format": 1}, "no 'ever_solved'"),
        ({"format": 2, "ever_solved": ""}, "format 2"),
        ({"format": 1, "ever_solved": 5}, "base64 string"),
        ({"format": 1, "ever_solved": "AAAA"}, "multiple of 8"),
    ],
)
def test_bad_state_is_a_state_error(state: dict[str, Any], match: str) -> None:
    with RewardPipeline(_config()) as p, pytest.raises(StateError, match=match):
        p.load_state_dict({"answer_diversity": state})
