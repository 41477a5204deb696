"""``rewardkit components``: what is registered, by whom."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from rewardkit._errors import RewardKitError
from rewardkit._registry import get_registry


@click.command("components")
@click.option("--disable", multiple=True, help="Block a plugin by name (repeatable).")
def components_command(disable: tuple[str, ...]) -> None:
    """List every component type with its kind, plugin and summary."""
    try:
        registry = get_registry(disable)
    except RewardKitError as exc:  # a broken or clashing plugin: its message names it and the fix
        raise click.ClickException(str(exc)) from None
    table = Table(title="rewardkit components")
    for col in ("type", "kind", "plugin", "summary"):
        table.add_column(col)
    for info in registry.components.values():
        table.add_row(info.type, info.kind.value, info.plugin, info.cls.describe())
    Console(width=160).print(table)
