"""``rewardkit score`` with the built-in verifiers on JSONL input (the shipped math example)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from rewardkit.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_score_math_example(tmp_path: Path) -> None:
    out = tmp_path / "scored.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(EXAMPLES / "math.yaml"),
            str(EXAMPLES / "math_rollouts.jsonl"),
            "-o",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    source = [
        json.loads(line) for line in (EXAMPLES / "math_rollouts.jsonl").read_text().splitlines()
    ]
    assert len(rows) == len(source) == 40
    # Order and input columns are preserved; every row has an outcome.
    assert [r["completion"] for r in rows] == [s["completion"] for s in source]
    outcomes = Counter(r["details"]["math"]["outcome"] for r in rows)
    assert set(outcomes) <= {"correct", "incorrect", "no_answer", "timeout", "error"}
    assert outcomes["correct"] >= 20 and outcomes["incorrect"] >= 8
    assert outcomes["timeout"] == 1  # the power tower
    by_text = {json.dumps(r["completion"]): r for r in rows}
    shorthand = by_text[json.dumps("We pull out the square: \\boxed{2 \\sqrt 3}.")]
    assert shorthand["details"]["math"]["outcome"] == "correct"
    hedge_free_wrong = by_text[json.dumps("The larger root is \\boxed{5}.")]
    assert hedge_free_wrong["details"]["math"]["outcome"] == "incorrect"


def test_score_with_code_and_choice_verifiers(tmp_path: Path) -> None:
    config = tmp_path / "mixed.yaml"
    config.write_text(
        "rewards:\n"
        "  - {type: choice, name: mc}\n"
        "  - {type: format, tags: [think], allow_outside_text: true, weight: 0.2}\n"
        "strict: false\n"
        "engine: {workers: 1}\n"
    )
    rollouts = tmp_path / "rollouts.jsonl"
    rows = [
        {"prompt": "q1", "completion": "<think>hmm</think> The answer is (B).", "reference": "B"},
        {"prompt": "q1", "completion": "Answer: C", "reference": "B"},
        {"prompt": "q2", "completion": None, "reference": "A"},
        {"prompt": "q3", "completion": "Answer: A"},
    ]
    rollouts.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = CliRunner().invoke(cli, ["score", str(config), str(rollouts)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [s["details"]["mc"]["outcome"] for s in scored] == [
        "correct",
        "incorrect",
        "no_answer",
        "error",  # no reference, strict: false
    ]
    assert scored[0]["reward"] == 1.2
