"""rewardkit-demo's rewardkit plugin (entry point ``demo``): the ``rewardkit demo`` command and
the demo task's ``reach_target`` reward.

Loaded whenever rewardkit builds its registry, so it stays light: click and pydantic only;
torch, transformers and TRL load when the demo runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import rewardkit

if TYPE_CHECKING:
    import click

    from rewardkit import Component


@rewardkit.hookimpl
def rewardkit_components() -> list[type[Component]]:
    """The demo task's verifier, so the demo's config files validate and score anywhere."""
    from rewardkit_demo._task import ReachTargetReward

    return [ReachTargetReward]


@rewardkit.hookimpl
def rewardkit_cli_commands() -> list[click.Command]:
    """``rewardkit demo``."""
    from rewardkit_demo._command import demo_command

    return [demo_command]
