"""Built-in shaping terms (plugin ``rewardkit.shaping``)."""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in group and batch shaping terms."""
    return []
