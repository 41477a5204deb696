"""Pipeline state files: every stateful component must find its state on resume (or the load is
a StateError naming the missing and unexpected ones), payload and header types are checked, the
file size is capped, and stateful diagnostics ride the same mechanism as shaping terms."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import rewardkit
from rewardkit import (
    ComponentRegistry,
    DiagnosticMetric,
    RewardPipeline,
    Rollout,
    StateError,
    parse_config,
)
from rewardkit._state import read_state_file, write_state_file

ROLLOUTS = [Rollout("p1", "ab"), Rollout("p1", "abc"), Rollout("p2", "x")]


def _ucb_pipeline(name: str | None, **top: Any) -> RewardPipeline:
    entry: dict[str, Any] = {"type": "ucb_exploration", "answer_from": "exact"}
    if name is not None:
        entry["name"] = name
    return RewardPipeline(
        {
            "rewards": [{"type": "exact"}],
            "shaping": [entry],
            "engine": {"workers": 1},
            **top,
        }
    )


def _doc(payload: Any, **header: Any) -> str:
    doc = {"format": "rewardkit-state", "version": 1, "kind": "pipeline", "payload": payload}
    doc.update(header)
    return json.dumps(doc)


def _saved_ucb(tmp_path: Path, name: str = "explore") -> tuple[Path, dict[str, Any]]:
    """A state file of a run whose ucb_exploration term was named ``name``, with counts."""
    with _ucb_pipeline(name) as first:
        first.score([Rollout("q", "7", reference="7"), Rollout("q", "8", reference="7")])
        path = tmp_path / "state.json"
        first.save_state(path)
        return path, first.state_dict()


# ------------------------------------------------------------------ names must match


def test_a_renamed_term_is_a_state_error_naming_missing_and_unexpected(tmp_path: Path) -> None:
    path, saved = _saved_ucb(tmp_path, "explore")
    assert list(saved) == ["explore"] and saved["explore"]["counts"]
    resumed = _ucb_pipeline(None)  # `name` omitted: the term is now 'ucb_exploration'
    fresh = resumed.state_dict()
    with pytest.raises(StateError) as info:
        resumed.load_state(path)
    msg = str(info.value)
    assert "'ucb_exploration' (ucb_exploration)" in msg and "(missing)" in msg
    assert "'explore'" in msg and "(unexpected)" in msg
    assert "allow_partial_state" in msg and str(path) in msg
    assert resumed.state_dict() == fresh  # nothing was loaded
    # The same names load exactly what was saved.
    same = _ucb_pipeline("explore")
    same.load_state(path)
    assert same.state_dict() == saved


def test_empty_payload_with_a_stateful_term_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(_doc({}))
    with pytest.raises(StateError, match=r"'ucb_exploration' \(ucb_exploration\) \(missing\)"):
        _ucb_pipeline(None).load_state(path)


def test_state_for_a_config_without_stateful_components_is_unexpected(tmp_path: Path) -> None:
    path, _ = _saved_ucb(tmp_path)
    stateless = RewardPipeline({"rewards": [{"type": "exact"}]})
    with pytest.raises(StateError, match=r"'explore'.*\(unexpected\)"):
        stateless.load_state(path)
    path.write_text(_doc({}))
    stateless.load_state(path)  # nothing saved, nothing needed


def test_allow_partial_state_loads_what_matches_and_warns_per_term(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, saved = _saved_ucb(tmp_path, "explore")
    both = RewardPipeline(
        {
            "rewards": [{"type": "exact"}],
            "shaping": [
                {"type": "ucb_exploration", "name": "explore", "answer_from": "exact"},
                {"type": "ucb_exploration", "name": "added", "answer_from": "exact"},
            ],
            "allow_partial_state": True,
        }
    )
    with caplog.at_level(logging.WARNING, logger="rewardkit._pipeline"):
        both.load_state(path)
    assert both.state_dict()["explore"] == saved["explore"]
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("'added'" in w and "starts empty" in w for w in warnings) == 1

    caplog.clear()
    renamed = _ucb_pipeline(None, allow_partial_state=True)
    with caplog.at_level(logging.WARNING, logger="rewardkit._pipeline"):
        renamed.load_state(path)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert any("'ucb_exploration'" in w and "starts empty" in w for w in warnings)
    assert any("'explore'" in w and "ignored" in w for w in warnings)
    # The keyword overrides the config either way.
    with pytest.raises(StateError, match="unexpected"):
        renamed.load_state_dict(json.loads(path.read_text())["payload"], allow_partial=False)


# ------------------------------------------------------------------ payload and header types


@pytest.mark.parametrize(
    ("payload", "shown"),
    [([], "an array"), ("xyz", "a string"), (None, "null"), (3, "a number"), (True, "a boolean")],
)
def test_payload_that_is_no_object_is_a_state_error(
    tmp_path: Path, payload: Any, shown: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(_doc(payload))
    for pipeline in (_ucb_pipeline(None), RewardPipeline({"rewards": [{"type": "exact"}]})):
        with pytest.raises(StateError, match=f"expected a JSON object.*got {shown}"):
            pipeline.load_state(path)


@pytest.mark.parametrize("value", [None, [], "counts", 5])
def test_a_terms_state_that_is_no_object_is_a_state_error(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "s.json"
    path.write_text(_doc({"ucb_exploration": value}))
    with pytest.raises(StateError, match=r"state of 'ucb_exploration' .* must be a JSON object"):
        _ucb_pipeline(None).load_state(path)


@pytest.mark.parametrize(
    "header",
    [
        {"version": True},
        {"version": 1.0},
        {"version": "1"},
        {"version": None},
        {"kind": ["pipeline"]},
    ],
)
def test_header_fields_must_have_their_json_types(tmp_path: Path, header: dict) -> None:
    path = tmp_path / "s.json"
    path.write_text(_doc({}, **header))
    with pytest.raises(StateError):
        read_state_file(path, kind="pipeline")
    with pytest.raises(StateError):
        RewardPipeline({"rewards": [{"type": "exact"}]}).load_state(path)


def test_a_document_without_payload_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "rewardkit-state", "version": 1, "kind": "pipeline"}))
    with pytest.raises(StateError, match="no 'payload'"):
        read_state_file(path, kind="pipeline")


def test_deeply_nested_json_is_corrupt_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(_doc(None).replace("null", "[" * 100_000 + "]" * 100_000))
    with pytest.raises(StateError, match="corrupt"):
        read_state_file(path, kind="pipeline")


def test_a_state_that_does_not_fit_loads_nothing(
    tmp_path: Path, registry: ComponentRegistry
) -> None:
    # test_offset (tests/core/conftest.py) reads state["calls"]: a KeyError inside a plugin's
    # load_state_dict becomes a StateError, and the term loaded before it is rolled back.
    cfg = {
        "rewards": [{"type": "test_chars"}],
        "shaping": [
            {"name": "a", "type": "test_offset", "value": 1},
            {"name": "b", "type": "test_offset", "value": 1},
        ],
    }
    p = RewardPipeline(parse_config(cfg, registry=registry))
    p.score(ROLLOUTS)
    with pytest.raises(StateError, match=r"state of 'b' \(test_offset\) does not fit.*KeyError"):
        p.load_state_dict({"a": {"calls": 9}, "b": {"count": 1}})
    assert p.state_dict() == {"a": {"calls": 1}, "b": {"calls": 1}}


# ------------------------------------------------------------------ size cap


def test_a_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as fh:  # sparse: 300 MiB on paper, no disk used
        fh.truncate(300 * 2**20)
    with pytest.raises(StateError, match="larger than the 268,435,456-byte limit"):
        read_state_file(path, kind="pipeline")
    with pytest.raises(StateError, match="max_state_file_mb"):
        RewardPipeline({"rewards": [{"type": "exact"}]}).load_state(path)


def test_the_size_cap_is_configurable(tmp_path: Path) -> None:
    path, saved = _saved_ucb(tmp_path)
    padded = tmp_path / "padded.json"
    doc = json.loads(path.read_text())
    doc["padding"] = "x" * (2 * 2**20)  # a 2 MiB file
    padded.write_text(json.dumps(doc))
    with pytest.raises(StateError, match="larger than the 1,048,576-byte limit"):
        _ucb_pipeline("explore", max_state_file_mb=1).load_state(padded)
    ok = _ucb_pipeline("explore", max_state_file_mb=3)
    ok.load_state(padded)
    assert ok.state_dict() == saved


def test_a_large_junk_file_is_refused_from_its_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "junk.json"
    with path.open("wb") as fh:  # 200 MiB (sparse) of NUL bytes: under the cap, never read whole
        fh.truncate(200 * 2**20)
    with pytest.raises(StateError, match=r"not a rewardkit state file .*first 4096 bytes"):
        RewardPipeline({"rewards": [{"type": "exact"}]}).load_state(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_stream_is_read_only_up_to_the_cap() -> None:
    with pytest.raises(StateError, match="larger than"):
        read_state_file("/dev/zero", kind="pipeline", max_bytes=1024)
    with pytest.raises(StateError, match="not a rewardkit state file"):
        read_state_file("/dev/zero", kind="pipeline", max_bytes=10**9)


# ------------------------------------------------------------------ resume_state


def test_resume_without_a_state_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "none.json"
    assert RewardPipeline({"rewards": [{"type": "exact"}]}).resume_state(missing) is False
    with pytest.raises(StateError, match=r"no state file .*'ucb_exploration'"):
        _ucb_pipeline(None).resume_state(missing)
    with caplog.at_level(logging.WARNING, logger="rewardkit._pipeline"):
        assert _ucb_pipeline(None, allow_partial_state=True).resume_state(missing) is False
    assert sum("starts empty" in r.getMessage() for r in caplog.records) == 1
    path, saved = _saved_ucb(tmp_path)
    resumed = _ucb_pipeline("explore")
    assert resumed.resume_state(path) is True and resumed.state_dict() == saved


# ------------------------------------------------------------------ stateful diagnostics


class SeenPrompts(DiagnosticMetric):
    """Counts distinct prompt keys over all batches (a stateful diagnostic)."""

    type = "test_seen_prompts"

    def __init__(self, config: Any = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.seen: set[str] = set()

    def compute(self, scored: rewardkit.ScoredBatch) -> dict[str, float]:
        self.seen.update(r.prompt_key for r in scored.batch)
        return {"total": float(len(self.seen))}

    def state_dict(self) -> dict[str, Any]:
        return {"seen": sorted(self.seen)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state.get("seen"), list):
            raise StateError("seen must be a list")
        self.seen = set(state["seen"])


_DIAG_PLUGIN = SimpleNamespace(rewardkit_components=rewardkit.hookimpl(lambda: [SeenPrompts]))


def test_stateful_diagnostics_are_saved_and_resumed_like_shaping_terms(tmp_path: Path) -> None:
    registry = ComponentRegistry(plugins=[_DIAG_PLUGIN])
    cfg = {"rewards": [{"type": "exact"}], "diagnostics": [{"type": "test_seen_prompts"}]}
    first = RewardPipeline(parse_config(cfg, registry=registry))
    assert [c.name for c in first.stateful_components] == ["test_seen_prompts"]
    scored = first.score([Rollout("a", "1", reference="1"), Rollout("b", "2", reference="1")])
    assert scored.metrics["rewardkit/test_seen_prompts/total"] == 2.0
    first.save_state(tmp_path / "s.json")
    first.close()

    resumed = RewardPipeline(parse_config(cfg, registry=registry))
    assert resumed.resume_state(tmp_path / "s.json") is True
    with resumed:
        scored = resumed.score([Rollout("a", "1", reference="1"), Rollout("c", "3", reference="1")])
    assert scored.metrics["rewardkit/test_seen_prompts/total"] == 3.0
    # A resume file without the diagnostic's state is refused like a shaping term's.
    write_state_file(tmp_path / "old.json", kind="pipeline", payload={})
    with pytest.raises(StateError, match=r"'test_seen_prompts' \(test_seen_prompts\)"):
        RewardPipeline(parse_config(cfg, registry=registry)).load_state(tmp_path / "old.json")


def test_a_named_pipe_as_state_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "state.fifo"
    os.mkfifo(fifo)  # nobody ever writes: opening it for reading would block forever
    with pytest.raises(StateError, match="named pipe"):
        read_state_file(fifo, kind="pipeline")


@pytest.mark.parametrize("bad", [True, 1.0, "1", None])
def test_a_terms_format_field_must_be_the_int_it_was_written_as(bad: Any) -> None:
    from rewardkit.diagnostics import AnswerDiversity
    from rewardkit.shaping import UCBExplorationBonus as UCBExploration

    ucb = UCBExploration(UCBExploration.Config())
    state = ucb.state_dict()
    state["counts"] = {**state["counts"], "format": bad}
    with pytest.raises(StateError, match="format"):
        ucb.load_state_dict(state)
    for key in ("max_answers",):
        broken = ucb.state_dict()
        broken["counts"] = {**broken["counts"], key: True}
        with pytest.raises(StateError, match=key):
            ucb.load_state_dict(broken)
    diversity = AnswerDiversity(AnswerDiversity.Config())
    history = {**diversity.state_dict(), "format": bad}
    with pytest.raises(StateError, match="format"):
        diversity.load_state_dict(history)
