"""rewardkit plugin (entry point ``rewardkit: verl``): contributes ``rewardkit doctor``.

Loaded by every ``rewardkit`` command, so it imports neither verl nor torch; ``doctor`` imports
verl in a fresh interpreter, the way verl's Ray workers do.
"""

from __future__ import annotations

import click

from rewardkit.hookspecs import hookimpl
from rewardkit_verl._doctor import doctor_command

__all__ = ["rewardkit_cli_commands"]


@hookimpl
def rewardkit_cli_commands() -> list[click.Command]:
    return [doctor_command]
