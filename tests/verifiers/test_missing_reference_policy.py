"""One missing-reference policy: the pipeline and `rewardkit score` give the same outcomes for
rollouts without a reference (the TRL and verl adapters pin the same table in their tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rewardkit import MISSING_REFERENCE_REASON, BatchError, RewardPipeline, Rollout
from rewardkit.cli import cli

CONFIG = {
    "rewards": [
        {"type": "exact", "name": "match"},  # needs a reference
        {"type": "keyword", "name": "says", "keywords": ["answer"], "weight": 0.5},  # does not
    ],
    "engine": {"workers": 1},
}
# (prompt, completion, reference)
ROWS = [
    ("q1", "The answer is \\boxed{4}", "4"),
    ("q1", "The answer is \\boxed{4}", None),
    ("q2", "It is \\boxed{7}", "5"),
    ("q2", "no idea", None),
]
#: The same in every caller (pipeline, CLI, TRL, verl) with the "error" policy.
EXPECTED = {
    "match": ["correct", "error", "incorrect", "error"],
    "says": ["correct", "correct", "incorrect", "incorrect"],
}
EXPECTED_REWARDS = [1.5, 0.5, 0.0, 0.0]


def _pipeline_outcomes(config: dict) -> tuple[dict[str, list[str]], list[float], list[str]]:
    with RewardPipeline(config) as p:
        scored = p.score([Rollout(q, c, reference=r) for q, c, r in ROWS])
    outcomes = {k: [r.outcome.value for r in v] for k, v in scored.details.items()}
    return outcomes, scored.rewards, [r.reason for r in scored.details["match"]]


def _cli(tmp_path: Path, config: dict, *extra: str) -> tuple[int, list[dict], str]:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(config))
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps({"prompt": q, "completion": c, "reference": r}) for q, c, r in ROWS)
    )
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), *extra])
    rows = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    return result.exit_code, rows, result.stderr


def test_lax_config_pipeline_and_cli_give_the_same_outcomes(tmp_path: Path) -> None:
    lax = {**CONFIG, "strict": False}
    outcomes, rewards, reasons = _pipeline_outcomes(lax)
    assert outcomes == EXPECTED and rewards == pytest.approx(EXPECTED_REWARDS)
    assert reasons[1] == reasons[3] == MISSING_REFERENCE_REASON
    code, rows, stderr = _cli(tmp_path, lax)
    assert code == 0, stderr
    assert {k: [r["details"][k]["outcome"] for r in rows] for k in EXPECTED} == EXPECTED
    assert [r["reward"] for r in rows] == pytest.approx(EXPECTED_REWARDS)
    assert [r["details"]["match"]["reason"] for r in rows][1::2] == [MISSING_REFERENCE_REASON] * 2


def test_strict_config_pipeline_raises_and_cli_skips_exactly_those_rows(tmp_path: Path) -> None:
    with RewardPipeline(CONFIG) as p, pytest.raises(BatchError, match="rollout 1: "):
        p.score([Rollout(q, c, reference=r) for q, c, r in ROWS])
    code, rows, stderr = _cli(tmp_path, CONFIG)
    assert code == 0, stderr
    assert "line 2: no reference" in stderr and "line 4: no reference" in stderr
    assert {k: [r["details"][k]["outcome"] for r in rows] for k in EXPECTED} == {
        k: v[0::2] for k, v in EXPECTED.items()
    }
    code, _, stderr = _cli(tmp_path, CONFIG, "--on-error", "fail")
    assert code != 0 and "line 2: no reference" in stderr
