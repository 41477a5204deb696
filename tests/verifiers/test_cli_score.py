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


# ------------------------------------------------------------------ every row read is written

#: Strings that are valid JSON text: lone and reversed surrogates (not encodable as UTF-8), NUL
#: and other controls, byte-order marks, bidirectional controls, line and paragraph separators
#: (str.splitlines splits on them, JSONL readers must not), non-characters, non-BMP code points,
#: markup the summary printer must not interpret, and a 2 MB line.
ODD_STRINGS = [
    "\ud800",
    "\udfff",
    "\udc00\ud800",
    "The answer is \\boxed{\ud83d}.",
    "\\boxed{7}\ud800",
    "\x00",
    "a\x00b \\boxed{7}",
    "\ufeff\\boxed{7}",
    "\ufeff",
    "\u202e\\boxed{7}\u202c",
    "\u200f\u200e\u2066x\u2069",
    "line\u2028sep\u2029para\x85nel",
    "\r\n\r",
    "\x1b[31mred\x1b[0m \\boxed{7}",
    "\uffff\ufffe\U0010ffff",
    "\U0001f600 \\boxed{\U0001d7d5}",
    "[bold red]not markup[/] \\boxed{[7]}",
    "\\",
    '"',
    "",
    "x" * 2_000_000 + " \\boxed{7}",
]


def test_score_writes_every_row_in_order_whatever_its_text(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("rewards:\n  - {type: math}\nengine: {workers: 1}\nstrict: false\n")
    rows = []
    for i, text in enumerate(ODD_STRINGS):
        rows.append({"prompt": f"q{i % 3}", "completion": text, "reference": "7", "i": i})
        # The same text in every other column too, as keys and values.
        rows.append({"prompt": text, "completion": "\\boxed{7}", "reference": text, text: i})
    src = tmp_path / "in.jsonl"
    # ensure_ascii (the default) writes lone surrogates as \ud800 escapes: valid JSON lines.
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="ascii")
    out = tmp_path / "out.jsonl"
    for on_error in ("skip", "fail"):
        result = CliRunner().invoke(
            cli, ["score", str(config), str(src), "-o", str(out), "--on-error", on_error]
        )
        assert result.exit_code == 0, result.output
        assert "skipped" not in result.stderr and "error row" not in result.stderr
        lines = out.read_bytes().split(b"\n")
        assert lines[-1] == b""
        written = [json.loads(line.decode("utf-8")) for line in lines[:-1]]  # strict UTF-8
        assert len(written) == len(rows)
        for source, row in zip(rows, written):
            assert {k: row[k] for k in source} == source  # in order, every column unchanged
            outcome = row["details"]["math"]["outcome"]
            if source["reference"] == "7":  # an odd reference may be unparsable: 'error'
                assert outcome in {"correct", "incorrect", "no_answer"}, row["details"]
    # Only rows that UTF-8 cannot hold are escaped; the others stay readable as they are.
    text = out.read_bytes().decode("utf-8")
    assert "\U0001f600" in text and "\u202e" in text and "\\ud800" in text


def test_score_to_stdout_keeps_rows_with_lone_surrogates(tmp_path: Path) -> None:
    rows = [
        {"prompt": "q", "completion": f"\\boxed{{{i}}}" + ("\ud800" if i % 2 else ""), "r": "1"}
        for i in range(22)
    ]
    cfg, src = _write(tmp_path, "rewards:\n  - {type: math}\nengine: {workers: 1}\n", [])
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), "--reference-key", "r"])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in result.stdout_bytes.decode("utf-8").splitlines()]
    assert [w["completion"] for w in written] == [r["completion"] for r in rows]
    assert [w["details"]["math"]["outcome"] for w in written][:2] == ["incorrect", "correct"]


_UNWRITABLE_PLUGIN = """
import rewardkit


class Unprintable:
    def __str__(self):
        raise ValueError("no text form")


class Poisoned(rewardkit.RewardComponent):
    '''Correct, with an answer object that has no text form for the word "poison".'''

    type = "poisoned_answer"

    def score(self, rollouts, context):
        return [
            rewardkit.RewardResult.correct(
                answer=Unprintable() if r.completion_text == "poison" else r.completion_text
            )
            for r in rollouts
        ]


@rewardkit.hookimpl
def rewardkit_components():
    return [Poisoned]
"""


def test_on_error_covers_rows_that_cannot_be_written(tmp_path: Path) -> None:
    """A plugin reward whose answer cannot be serialised: ``--on-error skip`` reports the row
    and writes an error line in its place (every row keeps its line); ``fail`` stops."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    info = site / "rewardkit_poisoned-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rewardkit_poisoned\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[rewardkit]\npoisoned = rewardkit_poisoned_mod\n")
    (site / "rewardkit_poisoned_mod.py").write_text(_UNWRITABLE_PLUGIN)
    rows = [{"prompt": "q", "completion": c} for c in ("a", "poison", "b")]
    cfg, src = _write(tmp_path, "rewards:\n  - {type: poisoned_answer, name: p}\n", rows)
    out = tmp_path / "out.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }

    def run(on_error: str) -> subprocess.CompletedProcess[str]:
        args = ["score", str(cfg), str(src), "-o", str(out), "--on-error", on_error]
        return subprocess.run(
            [sys.executable, "-m", "rewardkit.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    skip = run("skip")
    assert skip.returncode == 0, skip.stderr
    assert "line 2: could not write the scored row: ValueError: no text form" in skip.stderr
    assert "1 row written as errors" in skip.stderr
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [w.get("completion") for w in written] == ["a", None, "b"]
    assert written[1]["rewardkit_line"] == 2 and "no text form" in written[1]["rewardkit_error"]

    fail = run("fail")
    assert fail.returncode == 1
    assert "Error: line 2: could not write the scored row" in fail.stderr
    assert "Traceback" not in fail.stderr
