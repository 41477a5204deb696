"""Entropy-gated token masks (plugin ``rewardkit.masks``); torch loads on first use."""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in token masks."""
    return []
