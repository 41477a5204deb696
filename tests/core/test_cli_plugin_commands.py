"""A command that one of rewardkit's own distributions adds through the plugin hook says what to
install when that distribution is missing or blocked, instead of click's "No such command"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("command", "plugin", "distribution"),
    [("demo", "demo", "rewardkit-demo"), ("doctor", "verl", "rewardkit-verl")],
)
def test_missing_plugin_command_names_its_distribution(
    command: str, plugin: str, distribution: str
) -> None:
    env = {**os.environ, "REWARDKIT_DISABLE_PLUGINS": plugin}
    result = subprocess.run(
        [sys.executable, "-m", "rewardkit.cli", command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"`rewardkit {command}` comes from a plugin that is not installed" in result.stderr
    assert f"install {distribution}" in result.stderr


def test_an_unknown_command_keeps_click_s_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rewardkit.cli", "demoo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "No such command 'demoo'" in result.stderr
