"""``rewardkit schema``."""

from __future__ import annotations

import json

import click


@click.command("schema")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout."
)
def schema_command(output: str | None) -> None:
    """Print the JSON Schema of the whole config, plugin components included."""
    from rewardkit._config import config_json_schema

    text = json.dumps(config_json_schema(), indent=2)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        click.echo(text)
