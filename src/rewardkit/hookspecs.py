"""The hooks every rewardkit plugin may implement. Built-ins implement them the same way.

This is the core contract only. A plugin that offers a plugin point of its own (the built-in
verifiers' ``rewardkit_code_sandboxes``, see :mod:`rewardkit.verifiers.hookspecs`) adds its
hookspecs from its :func:`rewardkit_add_hookspecs` implementation, as pytest plugins do with
``pytest_addhooks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from rewardkit._components import Component

PROJECT_NAME = "rewardkit"
ENTRY_POINT_GROUP = "rewardkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(historic=True)
def rewardkit_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add this plugin's own hookspecs (``plugin_manager.add_hookspecs(module)``); called once
    per plugin when it is registered."""


@hookspec
def rewardkit_components() -> list[type[Component]]:
    """Return the component classes this plugin contributes."""


@hookspec
def rewardkit_cli_commands() -> list[click.Command]:
    """Return extra ``rewardkit`` CLI sub-commands this plugin contributes."""
