"""The registry against real installed distributions and entry points (no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rewardkit import ComponentKind, ConfigError, get_registry, parse_config
from rewardkit._registry import BUILTIN_PLUGINS, ComponentRegistry


def test_example_plugin_is_discovered_through_its_entry_point() -> None:
    registry = ComponentRegistry()
    info = registry.components["keyword"]
    assert info.plugin == "example"
    assert info.kind is ComponentKind.REWARD
    assert info.cls.__module__ == "rewardkit_example_plugin"
    assert "example" in registry.plugin_names()
    for name in BUILTIN_PLUGINS:
        assert name in registry.plugin_names()


def test_block_by_config_key() -> None:
    data = {
        "plugins": {"disable": ["example"]},
        "rewards": [{"type": "keyword", "keywords": ["x"]}],
    }
    with pytest.raises(ConfigError, match="unknown type 'keyword'"):
        parse_config(data)
    assert "keyword" not in get_registry(["example"]).components


def test_builtins_can_be_blocked_by_name() -> None:
    registry = ComponentRegistry(disabled=["rewardkit.verifiers", "rewardkit.shaping"])
    assert "rewardkit.verifiers" not in registry.plugin_names()
    assert all(
        info.plugin not in ("rewardkit.verifiers", "rewardkit.shaping")
        for info in registry.components.values()
    )


def _fake_distribution(
    root: Path, dist: str, entry_name: str, module: str, source: str | None
) -> None:
    """A real installed distribution on sys.path: a dist-info folder with entry_points.txt."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[rewardkit]\n{entry_name} = {module}\n")
    if source is not None:
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def _run_cli(
    args: list[str], pythonpath: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    if pythonpath is not None:
        full_env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "rewardkit.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_block_by_environment_variable() -> None:
    shown = _run_cli(["components"])
    assert shown.returncode == 0, shown.stderr
    assert "keyword" in shown.stdout and "example" in shown.stdout
    blocked = _run_cli(["components"], REWARDKIT_DISABLE_PLUGINS="example")
    assert blocked.returncode == 0, blocked.stderr
    assert "keyword" not in blocked.stdout


def test_plugin_that_fails_to_import_fails_loudly(tmp_path: Path) -> None:
    _fake_distribution(
        tmp_path,
        "rewardkit_broken",
        "broken",
        "rewardkit_broken_mod",
        "import no_such_module_xyz\n",
    )
    result = _run_cli(["components"], pythonpath=tmp_path)
    assert result.returncode != 0
    assert "rewardkit plugin 'broken'" in result.stderr
    assert "ModuleNotFoundError" in result.stderr and "no_such_module_xyz" in result.stderr
    assert "rewardkit_broken" in result.stderr  # the distribution
    # One clean message, no Python traceback.
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: rewardkit plugin 'broken'")
    # ... and blocking it by name brings the CLI back.
    ok = _run_cli(["components"], pythonpath=tmp_path, REWARDKIT_DISABLE_PLUGINS="broken")
    assert ok.returncode == 0, ok.stderr


def test_two_plugins_claiming_one_type_name_both_named(tmp_path: Path) -> None:
    source = """
        import rewardkit

        class Clash(rewardkit.RewardComponent):
            '''Claims the example plugin's type name.'''
            type = "keyword"

        @rewardkit.hookimpl
        def rewardkit_components():
            return [Clash]
    """
    _fake_distribution(tmp_path, "rewardkit_clash", "clash", "rewardkit_clash_mod", source)
    result = _run_cli(["components"], pythonpath=tmp_path)
    assert result.returncode != 0
    assert "component type 'keyword' is registered twice" in result.stderr
    assert "'example'" in result.stderr and "'clash'" in result.stderr


_ONE_COMPONENT = """
    import rewardkit

    class {cls}(rewardkit.RewardComponent):
        '''A component only this distribution has.'''
        type = "{type}"

    @rewardkit.hookimpl
    def rewardkit_components():
        return [{cls}]
"""


def test_two_distributions_with_one_entry_point_name_fail_naming_both(tmp_path: Path) -> None:
    for suffix in ("a", "b"):
        _fake_distribution(
            tmp_path,
            f"rewardkit_twin_{suffix}",
            "twin",
            f"twin_{suffix}_mod",
            _ONE_COMPONENT.format(cls=suffix.upper(), type=f"twin_{suffix}"),
        )
    result = _run_cli(["components"], pythonpath=tmp_path)
    assert result.returncode != 0  # not one of them silently dropped
    assert "Traceback" not in result.stderr
    assert "rewardkit plugin name 'twin' is registered by two distributions" in result.stderr
    assert "'rewardkit_twin_a' (twin_a_mod)" in result.stderr
    assert "'rewardkit_twin_b' (twin_b_mod)" in result.stderr
    # Blocking the name loads neither, and the rest works.
    ok = _run_cli(["components"], pythonpath=tmp_path, REWARDKIT_DISABLE_PLUGINS="twin")
    assert ok.returncode == 0, ok.stderr
    assert "twin_a" not in ok.stdout and "twin_b" not in ok.stdout
    assert "keyword" in ok.stdout


def test_entry_point_named_like_a_builtin_plugin_fails(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "rewardkit_usurper", "rewardkit.shaping", "usurper_mod", "")
    result = _run_cli(["components"], pythonpath=tmp_path)
    assert result.returncode != 0
    assert "'rewardkit.shaping'" in result.stderr and "'rewardkit_usurper'" in result.stderr
    assert "built-in plugin" in result.stderr


def test_unknown_names_in_the_disable_variable_warn_once_with_the_known_ones() -> None:
    result = _run_cli(["components"], REWARDKIT_DISABLE_PLUGINS="rewardkit.shapng, nosuch")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "names no installed plugin" in line]
    assert len(warnings) == 1, result.stderr
    (warning,) = warnings
    assert warning.startswith("rewardkit: REWARDKIT_DISABLE_PLUGINS names no installed plugin")
    assert "'nosuch'" in warning and "'rewardkit.shapng'" in warning
    assert "did you mean 'rewardkit.shaping'?" in warning
    known = warning.split("Known plugins: ")[1]
    assert all(name in known for name in (*BUILTIN_PLUGINS, "example"))
    # The typo blocked nothing: the shaping terms are still listed.
    assert "ucb_exploration" in result.stdout
    quiet = _run_cli(["components"], REWARDKIT_DISABLE_PLUGINS="example")
    assert "names no installed plugin" not in quiet.stderr


def test_unknown_disable_names_warn_once_per_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REWARDKIT_DISABLE_PLUGINS", "no_such_plugin_for_this_test")
    with caplog.at_level("WARNING", logger="rewardkit._registry"):
        get_registry()
        get_registry()
        parse_config({"plugins": {"disable": ["also_unknown_here"]}})
    messages = [r.getMessage() for r in caplog.records]
    assert sum("'no_such_plugin_for_this_test'" in m for m in messages) == 1
    assert sum("plugins.disable" in m and "'also_unknown_here'" in m for m in messages) == 1
