"""docs/config.md's field reference must equal what the models say."""

from __future__ import annotations

from pathlib import Path

from rewardkit._config_reference import render_config_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"
BEGIN, END = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"


def test_config_reference_matches_models() -> None:
    text = DOC.read_text(encoding="utf-8")
    committed = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    expected = render_config_reference().strip()
    assert committed == expected, (
        "docs/config.md is out of date: run `python scripts/update_config_docs.py` "
        "(or paste `rewardkit schema --markdown` between the markers)"
    )
