"""`rewardkit score` with pass_at_k_objective and unlikeliness (log-probs from a column)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rewardkit.cli import cli


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(tmp_path: Path, shaping: str) -> Path:
    cfg = tmp_path / "rk.yaml"
    cfg.write_text(
        "rewards:\n  - {type: exact, name: correct}\n"
        f"shaping:\n  - {shaping}\n"
        "engine: {workers: 1}\n",
        encoding="utf-8",
    )
    return cfg


def _score(cfg: Path, src: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_pass_at_k_objective_from_the_cli(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "{type: pass_at_k_objective, k: 2, answer_from: correct}")
    rows = [
        {"prompt": "q", "completion": f"\\boxed{{{a}}}", "reference": "7"}
        for a in ("7", "3", "4", "5")
    ] + [
        {"prompt": "p", "completion": f"\\boxed{{{a}}}", "reference": "7"}
        for a in ("7", "7", "1", "2")
    ]
    out = _score(cfg, _write(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl")
    r5 = 5**-0.5
    assert [r["reward"] for r in out] == pytest.approx(
        [1.0, -1 / 3, -1 / 3, -1 / 3, r5, r5, -r5, -r5]
    )


def test_unlikeliness_reads_the_logprobs_column(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "{type: unlikeliness, beta: 0.5}")
    lps = [[-0.1], [-0.4, -0.6], [-0.3], [-0.9, -0.9, -0.9]]  # means -0.1, -0.5, -0.3, -0.9
    rows = [{"prompt": "q", "completion": "\\boxed{7}", "reference": "7", "lp": lp} for lp in lps]
    out = _score(
        cfg, _write(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", "--logprobs-key", "lp"
    )
    assert [r["reward"] for r in out] == pytest.approx([0.625, 0.875, 0.75, 1.0])
    assert [r["components"]["unlikeliness"] for r in out] == pytest.approx(
        [0.625, 0.875, 0.75, 1.0]
    )


def test_default_column_and_missing_or_bad_logprobs(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "{type: unlikeliness, beta: 0.5}")
    good = [
        {"prompt": "q", "completion": "\\boxed{7}", "reference": "7", "completion_logprobs": [lp]}
        for lp in (-0.1, -0.9)
    ]
    out = _score(cfg, _write(tmp_path / "in.jsonl", good), tmp_path / "out.jsonl")
    assert [r["reward"] for r in out] == pytest.approx([0.75, 1.0])

    missing = [{"prompt": "q", "completion": "\\boxed{7}", "reference": "7"}]
    result = CliRunner().invoke(
        cli, ["score", str(cfg), str(_write(tmp_path / "m.jsonl", missing))]
    )
    assert result.exit_code != 0
    assert "completion_logprobs" in result.output and "--logprobs-key" in result.output

    bad = [*good, {**good[0], "completion_logprobs": [-0.1, "NaN"]}]
    result = CliRunner().invoke(
        cli, ["score", str(cfg), str(_write(tmp_path / "b.jsonl", bad)), "--on-error", "fail"]
    )
    assert result.exit_code != 0
    assert "line 3" in result.output and "completion_logprobs" in result.output
