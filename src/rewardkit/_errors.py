"""rewardkit's exception hierarchy, in one place.

::

    RewardKitError
    ├── ConfigError (also ValueError)       a config file or object is invalid
    ├── PluginError                          a plugin could not be used
    │   ├── PluginLoadError                  a plugin's entry point failed to import
    │   └── DuplicateComponentError          two plugins claim one component type name
    ├── UnknownComponentError (also KeyError) no registered component has that type name
    ├── BatchError (also ValueError)         a batch is structurally wrong (lengths, empty, missing field)
    ├── StateError (also ValueError)         a state file is corrupt, foreign, too large, of another
    │                                        version, or does not match the config's stateful components
    ├── EngineClosedError (also RuntimeError) work was submitted to a closed execution engine or pipeline
    └── JudgeUnavailableError (also RuntimeError) a remote judge backend (Ray actors, an HTTP
                                             embedding server) failed or could not be reached

Per-rollout failures (a verifier timing out, unparsable input) are never raised: they become
``RewardResult`` outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BatchError",
    "ConfigError",
    "ConfigErrorDetail",
    "DuplicateComponentError",
    "EngineClosedError",
    "JudgeUnavailableError",
    "PluginError",
    "PluginLoadError",
    "RewardKitError",
    "StateError",
    "UnknownComponentError",
]


class RewardKitError(Exception):
    """Base class of every error rewardkit raises on purpose."""


class ConfigErrorDetail:
    """One problem in a config: where (``rewards[1].timeout_s``) and what was expected."""

    __slots__ = ("location", "message")

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        self.message = message

    def __repr__(self) -> str:
        return f"ConfigErrorDetail({self.location!r}, {self.message!r})"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(RewardKitError, ValueError):
    """A config file or object is invalid; ``details`` lists every problem with its field path."""

    def __init__(
        self,
        details: Sequence[ConfigErrorDetail] | str,
        *,
        source: str | None = None,
    ) -> None:
        if isinstance(details, str):
            details = [ConfigErrorDetail("", details)]
        self.details: list[ConfigErrorDetail] = list(details)
        self.source = source
        head = f"invalid rewardkit config {source}" if source else "invalid rewardkit config"
        lines = [f"{head} ({len(self.details)} error{'s' if len(self.details) != 1 else ''}):"]
        lines += [f"  {d}" for d in self.details]
        super().__init__("\n".join(lines))


class PluginError(RewardKitError):
    """A plugin could not be used."""


class PluginLoadError(PluginError):
    """A plugin's entry point failed to import; the message names the plugin and the cause."""


class DuplicateComponentError(PluginError):
    """Two plugins register the same component type name."""


class UnknownComponentError(RewardKitError, KeyError):
    """No registered component has the requested type name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BatchError(RewardKitError, ValueError):
    """A batch is structurally wrong: mismatched lengths, empty, or a required field missing."""


class StateError(RewardKitError, ValueError):
    """A saved state is corrupt, too large, was written by another component, has an unknown
    version, or names other stateful components than the config has (missing or unexpected)."""


class EngineClosedError(RewardKitError, RuntimeError):
    """Work was submitted to an execution engine, or a pipeline, after ``close()``."""


class JudgeUnavailableError(RewardKitError, RuntimeError):
    """A remote judge backend (``backend: ray`` actors, a ``backend: http`` embedding server)
    failed, timed out or could not be reached; with ``on_unavailable: floor`` the term gives
    the floor instead of raising."""
