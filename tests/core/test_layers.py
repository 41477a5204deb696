"""The core's import graph: layers that read top-down, no cycles, no built-in plugin in the core.

Every ``import`` statement counts: module level, inside functions (the old way of "breaking" a
cycle) and under ``TYPE_CHECKING``. The layers are those of DEVELOPERS.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rewardkit
from rewardkit._registry import BUILTIN_PLUGINS

SRC = Path(rewardkit.__file__).parent

#: Bottom to top; a module may import modules of its own layer or below, never above.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"rewardkit._errors"}),
    # data types and helpers with no component in them
    frozenset(
        {
            "rewardkit._rollout",
            "rewardkit._scored",
            "rewardkit._state",
            "rewardkit._metrics",
            "rewardkit._sync_async",
            "rewardkit._tokens",
        }
    ),
    frozenset({"rewardkit._components"}),  # the component kinds
    frozenset(  # plugin registry and config
        {
            "rewardkit.hookspecs",
            "rewardkit._registry",
            "rewardkit._config",
            "rewardkit._config_reference",
        }
    ),
    # equivalence judging (public subpackage rewardkit.judges): every rewardkit.judges.* module;
    # shaping, diagnostics and the CLI use it, it uses the config layer and below
    frozenset({"rewardkit.judges"}),
    frozenset({"rewardkit._engine"}),
    frozenset({"rewardkit._pipeline"}),
    frozenset({"rewardkit"}),  # the package's lazy facade (its imports are TYPE_CHECKING only)
    frozenset({"rewardkit.cli"}),  # every rewardkit.cli.* module
)

#: CLI commands that still reach into a built-in plugin. Shrink this set; never grow it.
CLI_BUILTIN_IMPORTS = frozenset(
    {
        ("rewardkit.cli._report", "rewardkit.diagnostics._math"),
        ("rewardkit.cli._report", "rewardkit.verifiers"),
    }
)

#: Judging modules that use a built-in plugin: answer keys default to the verifiers' final-answer
#: extraction (``extract_final_answer``). Shrink this set; never grow it.
JUDGES_BUILTIN_IMPORTS = frozenset({("rewardkit.judges._answers", "rewardkit.verifiers")})

#: Packages whose every module shares one layer (the name in LAYERS is the package's).
_PACKAGE_LAYERS = ("rewardkit.cli", "rewardkit.judges")


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _core_files() -> dict[str, Path]:
    files = {_module_name(p): p for p in SRC.glob("*.py")}
    for package in ("cli", "judges"):
        files.update({_module_name(p): p for p in (SRC / package).glob("*.py")})
    return files


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (
        SRC.parent / rel / "__init__.py"
    ).is_file()


def _imports(name: str, path: Path) -> set[str]:
    """Every rewardkit module ``path`` imports, wherever the statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from rewardkit import hookspecs` imports the submodule rewardkit.hookspecs (the
            # package itself is always imported first: it is no edge of the graph)
            subs = {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(base)
    return {m for m in found if m == "rewardkit" or m.startswith("rewardkit.")}


def _layer(module: str) -> int:
    for i, layer in enumerate(LAYERS):
        if module in layer or any(
            p in layer and module.startswith(p + ".") for p in _PACKAGE_LAYERS
        ):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to DEVELOPERS.md)")


def _is_builtin(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in BUILTIN_PLUGINS)


def _graph() -> dict[str, set[str]]:
    files = _core_files()
    return {
        name: {m for m in _imports(name, path) if m in files and m != name}
        for name, path in files.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_core_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "rewardkit._components" in graph and "rewardkit.cli._score" in graph
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_every_core_import_goes_down_the_layers() -> None:
    upward = [
        f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)})"
        for src, targets in sorted(_graph().items())
        for dst in sorted(targets)
        if _layer(dst) > _layer(src)
    ]
    assert upward == []


def test_core_modules_import_no_builtin_plugin() -> None:
    files = _core_files()
    edges = {
        (name, m) for name, path in files.items() for m in _imports(name, path) if _is_builtin(m)
    }
    cli = {e for e in edges if e[0].startswith("rewardkit.cli")}
    judges = {e for e in edges if e[0].startswith("rewardkit.judges")}
    core = sorted(edges - cli - judges)
    assert core == [], "core modules know a particular built-in"
    assert cli - CLI_BUILTIN_IMPORTS == set(), "a CLI command imports a built-in plugin"
    assert judges - JUDGES_BUILTIN_IMPORTS == set(), "a judging module imports a built-in plugin"
    # The allow-lists only shrink: an entry whose import is gone is removed, so it cannot
    # quietly allow the import back later.
    assert CLI_BUILTIN_IMPORTS - cli == set(), "stale CLI_BUILTIN_IMPORTS entries"
    assert JUDGES_BUILTIN_IMPORTS - judges == set(), "stale JUDGES_BUILTIN_IMPORTS entries"


def test_judging_is_a_public_subpackage_the_cli_uses() -> None:
    """The CLI, shaping and diagnostics reach judging through ``rewardkit.judges`` itself."""
    graph = _graph()
    assert "rewardkit.judges" in graph and "rewardkit.judges._judges" in graph
    assert "rewardkit.judges" in graph["rewardkit.cli._train_classifier"]
    assert not any(
        m.startswith("rewardkit.judges._")
        for src, targets in graph.items()
        if not src.startswith("rewardkit.judges")
        for m in targets
    )


def test_the_checker_sees_local_and_type_checking_imports(tmp_path: Path) -> None:
    """The parser is what the tests above rely on: a cycle hidden in a function is a cycle."""
    src = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from rewardkit._pipeline import RewardPipeline\n"
        "def f():\n    from rewardkit import hookspecs\n    import rewardkit.verifiers._sandbox\n"
    )
    path = tmp_path / "_probe.py"
    path.write_text(src)
    found = _imports("rewardkit._probe", path)
    assert {"rewardkit._pipeline", "rewardkit.hookspecs", "rewardkit.verifiers._sandbox"} <= found
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    with pytest.raises(AssertionError, match="no layer"):
        _layer("rewardkit._new_module")
