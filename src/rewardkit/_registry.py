"""The plugin registry: pluggy, the ``rewardkit`` entry-point group, and the built-in plugins."""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING

import pluggy

from rewardkit import hookspecs
from rewardkit._components import Component, ComponentKind
from rewardkit._errors import (
    DuplicateComponentError,
    PluginError,
    PluginLoadError,
    UnknownComponentError,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV_VAR",
    "ComponentInfo",
    "ComponentRegistry",
    "closest_match",
    "did_you_mean",
    "get_registry",
]

logger = logging.getLogger(__name__)

#: Environment variable with comma-separated plugin names to block (built-ins included).
DISABLE_ENV_VAR = "REWARDKIT_DISABLE_PLUGINS"

#: Built-in plugins, registered through the same hook as third-party ones, each blockable by name.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "rewardkit.verifiers",
    "rewardkit.shaping",
    "rewardkit.masks",
    "rewardkit.diagnostics",
)


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    """A registered component class and the plugin that contributed it."""

    type: str
    kind: ComponentKind
    cls: type[Component]
    plugin: str

    def __repr__(self) -> str:
        return f"ComponentInfo(type={self.type!r}, kind={self.kind.value}, plugin={self.plugin!r})"


def closest_match(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name``, for "did you mean" hints."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """The end of an error's first sentence: ``"; did you mean 'x'?"`` when a candidate is close
    to ``name``, else ``"."`` - so a listing of the candidates can follow as its own sentence."""
    hint = closest_match(name, candidates)
    return f"; did you mean {hint!r}?" if hint else "."


class ComponentRegistry:
    """Every component type available with a given set of blocked plugins."""

    def __init__(self, disabled: Iterable[str] = (), plugins: Iterable[object] = ()) -> None:
        """Register built-ins and entry-point plugins, minus ``disabled``; ``plugins`` adds
        in-process plugin objects (modules or instances with hook implementations), as pytest's
        ``plugins=`` argument does - handy for tests and notebooks."""
        self.disabled: frozenset[str] = frozenset(disabled)
        #: Every plugin name this registry could have loaded: built-ins, entry points (blocked
        #: ones included) and in-process plugins; a blocked name outside it matches nothing.
        self.known_plugin_names: frozenset[str] = frozenset()
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        # Historic: each plugin registered from here on is asked for hookspecs of its own.
        self.plugin_manager.hook.rewardkit_add_hookspecs.call_historic(
            kwargs={"plugin_manager": self.plugin_manager}
        )
        for name in self.disabled:
            self.plugin_manager.set_blocked(name)
        for modname in BUILTIN_PLUGINS:
            if modname not in self.disabled:
                self.plugin_manager.register(importlib.import_module(modname), name=modname)
        self._load_entry_points()
        known = set(self.known_plugin_names) | set(BUILTIN_PLUGINS)
        for plugin in plugins:
            known.add(self.plugin_manager.register(plugin) or "")
        self.known_plugin_names = frozenset(known - {""})
        self._components: Mapping[str, ComponentInfo] = MappingProxyType(self._collect())

    def _load_entry_points(self) -> None:
        # pluggy's load_setuptools_entrypoints would raise the bare ImportError and silently keep
        # the first of two plugins sharing a name; users need to know which installed
        # distribution broke or clashed, so entry points are checked and loaded here one by one.
        from importlib.metadata import entry_points  # lazily: ~15 ms of `import rewardkit`

        by_name: dict[str, EntryPoint] = {}
        eps = list(entry_points(group=hookspecs.ENTRY_POINT_GROUP))
        self.known_plugin_names = frozenset(ep.name for ep in eps)
        for ep in eps:
            if ep.name in self.disabled:  # blocked: neither imported nor ambiguous
                continue
            first = by_name.get(ep.name)
            if first is None:
                if ep.name in BUILTIN_PLUGINS:
                    raise PluginError(
                        f"rewardkit plugin name {ep.name!r} ({ep.value}) from "
                        f"{_dist_name(ep)} is the name of a built-in plugin; the distribution "
                        "must use another entry-point name"
                    )
                by_name[ep.name] = ep
            elif _dist_name(first) != _dist_name(ep) or first.value != ep.value:
                raise PluginError(
                    f"rewardkit plugin name {ep.name!r} is registered by two distributions: "
                    f"{_dist_name(first)} ({first.value}) and {_dist_name(ep)} ({ep.value}); "
                    f"uninstall one of them, or block the name ({DISABLE_ENV_VAR}={ep.name}) "
                    "to load neither"
                )
        for name, ep in by_name.items():
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(
                    f"rewardkit plugin {name!r} ({ep.value}) from {_dist_name(ep)} failed to "
                    f"import: {type(exc).__name__}: {exc}. Block it with {DISABLE_ENV_VAR}={name} "
                    f"or `plugins: {{disable: [{name}]}}` in the config."
                ) from exc
            self.plugin_manager.register(plugin, name=name)

    def _collect(self) -> dict[str, ComponentInfo]:
        found: dict[str, ComponentInfo] = {}
        hook = self.plugin_manager.hook.rewardkit_components
        for impl in hook.get_hookimpls():
            plugin_name = self.plugin_manager.get_name(impl.plugin) or repr(impl.plugin)
            for cls in impl.function() or ():
                if not (isinstance(cls, type) and issubclass(cls, Component)):
                    raise PluginError(
                        f"plugin {plugin_name!r} returned {cls!r}, which is not a Component class"
                    )
                type_name = getattr(cls, "type", None)
                if not isinstance(type_name, str) or not type_name:
                    raise PluginError(
                        f"plugin {plugin_name!r}: {cls.__qualname__} has no `type` name"
                    )
                if type_name in found and found[type_name].cls is not cls:
                    raise DuplicateComponentError(
                        f"component type {type_name!r} is registered twice: by plugin "
                        f"{found[type_name].plugin!r} ({found[type_name].cls.__module__}."
                        f"{found[type_name].cls.__qualname__}) and by plugin {plugin_name!r} "
                        f"({cls.__module__}.{cls.__qualname__}); block one of them by name"
                    )
                found[type_name] = ComponentInfo(type_name, cls.kind, cls, plugin_name)
        return dict(sorted(found.items()))

    @property
    def components(self) -> Mapping[str, ComponentInfo]:
        """Type name -> info, sorted by type name."""
        return self._components

    def of_kind(self, kind: ComponentKind) -> dict[str, ComponentInfo]:
        return {t: info for t, info in self._components.items() if info.kind is kind}

    def get(self, type_name: str, kind: ComponentKind | None = None) -> ComponentInfo:
        """Look a type up, failing with the known types and the closest match."""
        pool = self._components if kind is None else self.of_kind(kind)
        if type_name in pool:
            return pool[type_name]
        what = f"{kind.value} " if kind is not None else ""
        raise UnknownComponentError(
            f"unknown {what}component type {type_name!r}{did_you_mean(type_name, pool)} "
            f"Known: {', '.join(pool) or '(none)'}"
        )

    def plugin_names(self) -> list[str]:
        # pluggy lists blocked names with a None plugin
        return [
            name for name, plugin in self.plugin_manager.list_name_plugin() if plugin is not None
        ]

    def cli_commands(self) -> list[object]:
        commands: list[object] = []
        for result in self.plugin_manager.hook.rewardkit_cli_commands():
            commands.extend(result or ())
        return commands


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"distribution {dist.name!r}" if dist is not None else "an unknown distribution"


def _disabled_from_env() -> frozenset[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


@lru_cache(maxsize=16)
def _cached_registry(disabled: frozenset[str]) -> ComponentRegistry:
    return ComponentRegistry(disabled)


_warned_unknown: set[tuple[str, frozenset[str]]] = set()
_warned_lock = threading.Lock()


def _warn_unknown(where: str, names: frozenset[str], registry: ComponentRegistry) -> None:
    """Warn (once per source and set of names) that blocking names matched no plugin."""
    unknown = names - registry.known_plugin_names
    if not unknown:
        return
    with _warned_lock:
        if (where, unknown) in _warned_unknown:
            return
        _warned_unknown.add((where, unknown))
    known = sorted(registry.known_plugin_names)
    hints = "".join(
        f" ({name!r}{did_you_mean(name, known).removesuffix('.')})"
        for name in sorted(unknown)
        if closest_match(name, known)
    )
    logger.warning(
        "rewardkit: %s names no installed plugin: %s, so nothing is blocked for %s%s. Known "
        "plugins: %s.",
        where,
        ", ".join(repr(n) for n in sorted(unknown)),
        "it" if len(unknown) == 1 else "them",
        hints,
        ", ".join(known),
    )


def get_registry(disable: Iterable[str] = ()) -> ComponentRegistry:
    """The registry with the given plugins and those in ``REWARDKIT_DISABLE_PLUGINS`` blocked.

    A blocked name that matches no installed plugin (a typo would otherwise block nothing
    without a word) is logged as a warning once, with the known plugin names.
    """
    from_config = frozenset(disable)
    from_env = _disabled_from_env()
    registry = _cached_registry(from_config | from_env)
    _warn_unknown(DISABLE_ENV_VAR, from_env, registry)
    _warn_unknown("plugins.disable", from_config, registry)
    return registry
