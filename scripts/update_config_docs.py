"""Rewrite the generated field reference in docs/config.md from the models."""

from __future__ import annotations

from pathlib import Path

from rewardkit._config_reference import render_config_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"
BEGIN, END = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(
        f"{head}{BEGIN}\n{render_config_reference().strip()}\n{END}{tail}", encoding="utf-8"
    )
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
