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
