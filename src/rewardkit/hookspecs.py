"""The hooks a rewardkit plugin may implement. Built-ins implement them the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from rewardkit._components import Component
    from rewardkit.verifiers._sandbox import CodeSandbox

PROJECT_NAME = "rewardkit"
ENTRY_POINT_GROUP = "rewardkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def rewardkit_components() -> list[type[Component]]:
    """Return the component classes this plugin contributes."""


@hookspec
def rewardkit_cli_commands() -> list[click.Command]:
    """Return extra ``rewardkit`` CLI sub-commands this plugin contributes."""


@hookspec
def rewardkit_code_sandboxes() -> dict[str, type[CodeSandbox]]:
    """Return code sandboxes by name, for the ``code`` verifier's ``sandbox`` field."""
