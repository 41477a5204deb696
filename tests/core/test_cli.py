"""The ``rewardkit`` CLI, driven through click's runner in-process (the entry point is the same)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rewardkit.cli import cli

KEYWORD_CONFIG = """
rewards:
  - name: kw
    type: keyword
    keywords: ["yes"]
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_components_lists_plugins() -> None:
    code, out, _ = _run("components")
    assert code == 0
    assert "keyword" in out and "example" in out and "reward" in out


def test_validate_ok_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(KEYWORD_CONFIG)
    code, out, _ = _run("validate", str(good))
    assert code == 0 and "valid" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rewards:\n  - type: keyword\n    keywords: [a]\n    case_sensitiv: true\n  - type: kewyord\n"
    )
    code, _, err = _run("validate", str(bad))
    assert code != 0
    assert str(bad) in err
    assert (
        "rewards[0].case_sensitiv: unknown field 'case_sensitiv'; did you mean 'case_sensitive'?"
        in err
    )
    assert "rewards[1].type: unknown type 'kewyord'; did you mean 'keyword'?" in err


def test_schema_is_json_with_plugin_fields() -> None:
    code, out, _ = _run("schema")
    assert code == 0
    schema = json.loads(out)
    assert "keywords" in json.dumps(schema)
    assert schema["properties"]["rewards"]["description"]


def _rows() -> list[dict]:
    rows = []
    for pid, prompt in enumerate(["say yes", "say no"]):
        for completion in ["yes", "no", "yes indeed"]:
            rows.append(
                {"prompt": prompt, "prompt_id": pid, "completion": completion, "reference": "yes"}
            )
    return rows


def test_score_writes_every_row_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(KEYWORD_CONFIG)
    src = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in _rows()]
    lines.insert(2, "{not json")
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run("score", str(cfg), str(src), "-o", str(out))
    assert code == 0, err
    assert "line 3: malformed JSON row" in err
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["completion"] for r in scored] == [r["completion"] for r in _rows()]
    assert [r["reward"] for r in scored] == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert scored[1]["components"] == {"kw": 0.0}
    assert scored[1]["details"]["kw"]["outcome"] == "incorrect"
    assert "kw" in err and "incorrect=2" in err  # the summary table


def test_score_on_error_fail(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(KEYWORD_CONFIG)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(_rows()[0]) + "\n[1, 2]\n")
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), "--on-error", "fail"])
    assert result.exit_code != 0
    assert "line 2" in result.stderr


def test_score_custom_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(KEYWORD_CONFIG)
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps({"q": "p", "response": c, "gid": "g"}) for c in ["yes", "nope"]) + "\n"
    )
    out = tmp_path / "out.jsonl"
    code, _, err = _run(
        "score",
        str(cfg),
        str(src),
        "-o",
        str(out),
        "--prompt-key",
        "q",
        "--completion-key",
        "response",
        "--group-key",
        "gid",
    )
    assert code == 0, err
    assert [json.loads(line)["reward"] for line in out.read_text().splitlines()] == [1.0, 0.0]


def _score_lines(tmp_path: Path, lines: list[bytes], *extra: str) -> tuple[int, list[dict], str]:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(KEYWORD_CONFIG)
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), "-o", str(out), *extra])
    scored = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return result.exit_code, scored, result.stderr


def _line(**row: object) -> bytes:
    return json.dumps(row).encode()


def test_score_row_without_completion_column_is_reported_and_skipped(tmp_path: Path) -> None:
    lines = [_line(prompt="p", completion="yes"), _line(prompt="p", answer="yes")]
    code, scored, err = _score_lines(tmp_path, lines)
    assert code == 0, err
    assert "line 2: missing column 'completion'" in err
    assert [r["completion"] for r in scored] == ["yes"]  # not scored as a silent no_answer
    assert "1 malformed line skipped" in err
    code, _, err = _score_lines(tmp_path, lines, "--on-error", "fail")
    assert code != 0
    assert "line 2: missing column 'completion'" in err


def test_score_line_with_invalid_utf8_is_a_malformed_line(tmp_path: Path) -> None:
    bad = b'{"prompt": "p", "completion": "ye\xff\xfes"}'
    lines = [_line(prompt="p", completion="yes"), bad, _line(prompt="p", completion="no")]
    code, scored, err = _score_lines(tmp_path, lines)
    assert code == 0, err
    assert "Traceback" not in err
    assert "line 2: not valid UTF-8" in err
    assert [r["completion"] for r in scored] == ["yes", "no"]
    code, _, err = _score_lines(tmp_path, lines, "--on-error", "fail")
    assert code != 0 and "line 2: not valid UTF-8" in err
    # A byte-order mark on the first line is no error.
    code, scored, err = _score_lines(tmp_path, [b"\xef\xbb\xbf" + lines[0]])
    assert code == 0, err
    assert [r["completion"] for r in scored] == ["yes"]


UCB_CONFIG = """
rewards:
  - {name: kw, type: keyword, keywords: ["yes"]}
shaping:
  - type: ucb_exploration
    variant: raw
    coefficient: 1.0
    order: score_then_count
    zero_all_correct_groups: false
"""


def test_score_steps_non_scalar_rejected_and_numeric_strings_sorted_numerically(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "ucb.yaml"
    cfg.write_text(UCB_CONFIG)
    src = tmp_path / "in.jsonl"
    rows = [
        {"prompt": "p", "completion": "\\boxed{7}", "step": "10"},
        {"prompt": "p", "completion": "\\boxed{7}", "step": [1, 2]},
        {"prompt": "p", "completion": "\\boxed{7}", "step": "2"},
        {"prompt": "p", "completion": "\\boxed{7}", "step": 2},
        {"prompt": "p", "completion": "\\boxed{7}", "step": {"n": 3}},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["score", str(cfg), str(src), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "line 2: column 'step' must be an integer step, got [1, 2]" in result.stderr
    assert "line 5: column 'step' must be an integer step, got {\"n\": 3}" in result.stderr
    scored = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["step"] for r in scored] == ["10", "2", 2]  # input order kept
    # Step 2 is scored before step 10 (not "10" < "2" as text): both step-2 rollouts see an
    # empty history (bonus 1), the step-10 one has seen the answer twice (bonus 2^-1/2).
    bonus = [r["components"]["ucb_exploration"] for r in scored]
    assert bonus[1:] == [1.0, 1.0]
    assert abs(bonus[0] - 2**-0.5) < 1e-9
    fail = CliRunner().invoke(cli, ["score", str(cfg), str(src), "--on-error", "fail"])
    assert fail.exit_code != 0 and "line 2: column 'step'" in fail.stderr


def test_validate_catches_an_unknown_code_sandbox(tmp_path: Path) -> None:
    cfg = tmp_path / "code.yaml"
    cfg.write_text("rewards: [{type: code, sandbox: nosuch}]\n")
    code, out, err = _run("validate", str(cfg))
    assert code != 0, out
    known = "Registered sandboxes: auto, bwrap, local."
    assert f"rewards[0].sandbox: unknown sandbox 'nosuch'. {known}" in err
