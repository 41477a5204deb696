"""rewardkit-trl adds nothing to the registry: a TRL user's ``rewardkit components`` holds only
real components (the demo's ``reach_target`` and ``rewardkit demo`` live in rewardkit-demo)."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

from rewardkit._registry import BUILTIN_PLUGINS, ComponentRegistry


def test_rewardkit_trl_registers_no_component_and_no_command() -> None:
    ours = {ep.name for ep in distribution("rewardkit-trl").entry_points if ep.group == "rewardkit"}
    others = {ep.name for ep in entry_points(group="rewardkit")} - ours
    # Every other installed plugin blocked (rewardkit-demo, the example plugin, rewardkit-verl):
    # what is left is rewardkit itself plus whatever rewardkit-trl registers.
    registry = ComponentRegistry(disabled=others)
    assert set(registry.plugin_names()) == set(BUILTIN_PLUGINS) | ours
    assert registry.components, "the built-ins are registered"
    foreign = {
        name: info.cls.__module__
        for name, info in registry.components.items()
        if not info.cls.__module__.startswith("rewardkit.")
    }
    assert foreign == {}
    assert "reach_target" not in registry.components
    assert registry.cli_commands() == []
