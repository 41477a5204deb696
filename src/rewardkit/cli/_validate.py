"""``rewardkit validate CONFIG``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rewardkit._errors import RewardKitError


@click.command("validate")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
def validate_command(config: Path) -> None:
    """Check a config file: exit 0 when valid, non-zero with every error otherwise."""
    from rewardkit._config import load_config

    try:
        cfg = load_config(config)
    except RewardKitError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    n = (
        len(cfg.rewards)
        + len(cfg.shaping)
        + len(cfg.diagnostics)
        + (cfg.token_mask is not None)
        + len(cfg.token)
    )
    click.echo(f"{config}: valid ({n} component{'s' if n != 1 else ''})")
