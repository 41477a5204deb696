"""``rewardkit report --training-log``: the token_entropy numbers of a TRL or verl log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewardkit.cli import cli
from rewardkit.cli._report import load_token_metrics

P = "rewardkit/token_entropy/"


def _scored(path: Path) -> Path:
    rows = [
        {"prompt": "p", "completion": f"\\boxed{{{i % 2}}}", "step": s, "reward": 1.0}
        for s in (1, 2)
        for i in range(4)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _trl_state(path: Path) -> Path:
    history = [
        {"step": 1, "loss": 0.1, P + "mean": 1.0, P + "answer_span_mean": 2.0, P + "rest_mean": 0.5,
         P + "high_entropy_tokens": "' so':3"},
        {"step": 1, "eval_loss": 0.2, "eval_" + P + "mean": 9.0},
        {"step": 2, "loss": 0.1, P + "mean": 3.0, P + "answer_span_mean": 4.0, P + "rest_mean": 1.5},
        {"step": 2, P + "mean": 5.0},  # two entries at one step: averaged
        {"step": 3, "loss": 0.1, P + "mean": float("nan")},  # no finite number: no row
    ]  # fmt: skip
    path.write_text(json.dumps({"global_step": 2, "log_history": history}))
    return path


def test_trl_trainer_state_per_step_means(tmp_path: Path) -> None:
    got = load_token_metrics(_trl_state(tmp_path / "trainer_state.json"))
    assert got == {
        1: {"answer_span_mean": 2.0, "mean": 1.0, "rest_mean": 0.5},
        2: {"answer_span_mean": 4.0, "mean": 4.0, "rest_mean": 1.5},
    }


def test_verl_file_logger_jsonl(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    lines = [
        {"step": 1, "data": {P + "mean": 0.7, P + "p95": 2.0, "actor/entropy": 0.7}},
        {"step": 2, "data": {P + "mean": 0.6, P + "p95": 1.5}},
    ]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert load_token_metrics(log) == {1: {"mean": 0.7, "p95": 2.0}, 2: {"mean": 0.6, "p95": 1.5}}
    flat = tmp_path / "flat.jsonl"
    flat.write_text(json.dumps({"step": 4, P + "mean": 0.25}) + "\n")
    assert load_token_metrics(flat) == {4: {"mean": 0.25}}


def test_report_adds_a_token_entropy_section_plot_and_numbers(tmp_path: Path) -> None:
    scored = _scored(tmp_path / "scored.jsonl")
    state = _trl_state(tmp_path / "trainer_state.json")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["report", str(scored), "-o", str(out), "--training-log", str(state)]
    )
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text()
    assert "## Token entropy" in md
    assert "| step | answer_span_mean | mean | rest_mean |" in md
    assert "| 2 | 4 | 4 | 1.5 |" in md
    assert "![token_entropy](token_entropy.png)" in md and (out / "token_entropy.png").is_file()
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["token_entropy"]["1"] == {"answer_span_mean": 2.0, "mean": 1.0, "rest_mean": 0.5}


def test_report_without_a_training_log_has_no_token_section(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["report", str(_scored(tmp_path / "s.jsonl")), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Token entropy" not in (out / "report.md").read_text()
    assert "token_entropy" not in json.loads((out / "metrics.json").read_text())
    assert not (out / "token_entropy.png").exists()


@pytest.mark.parametrize("text", ['{"log": []}', "[1, 2]"])
def test_a_json_file_that_is_not_trainer_state_is_an_error(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(text)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        ["report", str(_scored(tmp_path / "s.jsonl")), "-o", str(out), "--training-log", str(bad)],
    )
    assert res.exit_code != 0 and "log_history" in res.output
