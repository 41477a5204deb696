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


CHOICE_CONFIG = "rewards:\n  - {type: choice, name: mc}\nengine: {workers: 1}\n"


def _write(tmp_path: Path, config: str, rows: list[dict]) -> tuple[Path, Path]:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return cfg, src


def test_score_missing_reference_names_the_input_line_and_skips_only_that_row(
    tmp_path: Path,
) -> None:
    rows = [
        {"prompt": "q1", "completion": "Answer: B", "reference": "B"},
        {"prompt": "q2", "completion": "Answer: A", "reference": "C"},
        {"prompt": "q1", "completion": "Answer: C"},  # strict config: needs a reference
        {"prompt": "q2", "completion": "Answer: C", "reference": None},
    ]
    cfg, src = _write(tmp_path, CHOICE_CONFIG, rows)
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src)])
    assert result.exit_code == 0, result.stderr
    assert "line 3: no column 'reference', but reward 'mc' needs a reference" in result.stderr
    assert "line 4: no reference (column 'reference' is missing or null)" in result.stderr
    assert "reward 'mc' needs one" in result.stderr and "strict: false" in result.stderr
    scored = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [s["details"]["mc"]["outcome"] for s in scored] == ["correct", "incorrect"]

    fail = CliRunner().invoke(cli, ["score", str(cfg), str(src), "--on-error", "fail"])
    assert fail.exit_code != 0
    assert "line 3: no column 'reference'" in fail.stderr
    assert "rollout" not in fail.stderr  # never the index inside a batch

    # strict: false scores the row with outcome 'error' and a reason, as the pipeline does.
    cfg.write_text(CHOICE_CONFIG + "strict: false\n")
    lax = CliRunner().invoke(cli, ["score", str(cfg), str(src)])
    assert lax.exit_code == 0, lax.stderr
    scored = [json.loads(x) for x in lax.stdout.splitlines() if x.startswith("{")]
    details = [s["details"]["mc"] for s in scored]
    assert [d["outcome"] for d in details] == ["correct", "incorrect", "error", "error"]
    assert details[2]["reason"]


def test_score_without_any_reference_column_is_one_error_naming_the_option(
    tmp_path: Path,
) -> None:
    rows = [{"prompt": f"q{i}", "completion": "Answer: B", "gold": "B"} for i in range(30)]
    cfg, src = _write(tmp_path, CHOICE_CONFIG, rows)
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src)])
    assert result.exit_code != 0
    assert "--reference-key" in result.stderr and "no row has it" in result.stderr
    assert "skipped line" not in result.stderr  # one message, not one per line

    rows.append({"prompt": "q", "completion": "Answer: B", "reference": "B"})
    cfg, src = _write(tmp_path, CHOICE_CONFIG, rows)
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("skipped line") == 1
    assert "lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...: no column 'reference'" in result.stderr


def test_score_reference_key_and_distinct_answers_summary(tmp_path: Path) -> None:
    rows = [
        {"prompt": "q1", "completion": "Answer: B", "gold": "B", "reference": "C"},
        {"prompt": "q1", "completion": "Answer: C", "gold": "B", "reference": "C"},
        {"prompt": "q2", "completion": "Answer: A", "gold": "A", "reference": "C"},
        {"prompt": "q2", "completion": "The answer is (A).", "gold": "A", "reference": "C"},
    ]
    cfg, src = _write(tmp_path, CHOICE_CONFIG, rows)
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), "--reference-key", "gold"])
    assert result.exit_code == 0, result.stderr
    scored = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    # Scored against 'gold', not the 'reference' column.
    assert [s["details"]["mc"]["outcome"] for s in scored] == [
        "correct",
        "incorrect",
        "correct",
        "correct",
    ]
    # Summary: answers {B, C} in q1 and {A} in q2 -> 1.50 distinct answers per group.
    [mc_row] = [line for line in result.stderr.splitlines() if " mc " in line]
    assert "0.7500" in mc_row  # mean
    assert "correct=3, incorrect=1" in mc_row
    assert "1.50" in mc_row
