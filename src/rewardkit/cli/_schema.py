"""``rewardkit schema``."""

from __future__ import annotations

import json

import click

from rewardkit._errors import RewardKitError


@click.command("schema")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout."
)
@click.option(
    "--markdown", is_flag=True, help="Print the Markdown field reference of docs/config.md instead."
)
def schema_command(output: str | None, markdown: bool) -> None:
    """Print the JSON Schema of the whole config, plugin components included."""
    try:
        if markdown:
            from rewardkit._config_reference import render_config_reference

            text = render_config_reference().rstrip("\n")
        else:
            from rewardkit._config import config_json_schema

            text = json.dumps(config_json_schema(), indent=2)
    except RewardKitError as exc:  # a broken plugin: its message names it and the fix
        raise click.ClickException(str(exc)) from None
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        click.echo(text)
