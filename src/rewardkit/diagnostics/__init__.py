"""Built-in diagnostics (plugin ``rewardkit.diagnostics``)."""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in diagnostic metrics."""
    return []
