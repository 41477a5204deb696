"""rewardkit's exception hierarchy, in one place.

Every exception rewardkit (core, built-in plugins and the adapters) raises on purpose is a
:class:`RewardKitError`; where callers catch a builtin exception, the class also derives from it
(``ConfigError`` is a ``ValueError``), so ``except ValueError`` keeps working.

::

    RewardKitError
    ├── ConfigError (also ValueError)       a config file or object is invalid
    │   └── ConfigFieldError                 a component Config's validator names the field at fault
    ├── PluginError                          a plugin could not be used
    │   ├── PluginLoadError                  a plugin's entry point failed to import
    │   └── DuplicateComponentError          two plugins claim one component type name
    ├── UnknownComponentError (also KeyError) no registered component has that type name
    ├── ArgumentError (also ValueError)      a function got an argument value it cannot use
    ├── ArgumentTypeError (also TypeError)   a function got an argument of a type it cannot use
    ├── BatchError (also ValueError)         a batch is structurally wrong (lengths, empty, missing field)
    │   ├── ProcessLayoutError               rewardkit_trl: completions do not cut into whole groups
    │   └── ExtraInfoError (also KeyError)   rewardkit_verl: a sample's reward_extra_info lacks
    │                                        rewardkit's keys (scored by another manager or config)
    ├── StateError (also ValueError)         a state file is corrupt, foreign, too large, of another
    │                                        version, or does not match the config's stateful components
    ├── ShapingError (also RuntimeError)     a shaping term failed its contract (raised, or returned
    │                                        a wrong number of values or a non-finite one): the step
    │                                        fails, naming the term
    ├── EngineClosedError (also RuntimeError) work was submitted to a closed execution engine or pipeline
    ├── JudgeUnavailableError (also RuntimeError) a remote judge backend (Ray actors, an HTTP
    │                                        embedding server) failed or could not be reached
    ├── SandboxUnavailableError (also FileNotFoundError) a code sandbox cannot run here (its
    │                                        executable, such as bwrap, is not installed)
    └── EntropyNotComputedError (also ValueError) rewardkit_verl: verl computes no entropies for
                                             the token mask (bypass mode without them)

Classes marked ``rewardkit_trl:`` / ``rewardkit_verl:`` live in that adapter (importable from
its package); the rest are importable from ``rewardkit``. A few raises stay builtin on purpose
(``tests/core/test_error_tree.py`` lists them): pydantic validators (pydantic wants
``ValueError``), the assert harness (it runs in the user's program and cannot import rewardkit),
``NotImplementedError`` for a method a subclass must provide, a module ``__getattr__``'s
``AttributeError``, and a raise its own function catches.

Per-rollout failures (a verifier timing out, unparsable input) are never raised: they become
``RewardResult`` outcomes. A reward that raises or breaks its contract gives outcome ``error``
for its rollouts; a diagnostic that does is logged as a warning and its metrics are left out of
that step (a ``RewardKitError`` it raises on purpose, such as a ``BatchError`` for input the
batch lacks, passes unchanged). A shaping term is different: its values change the training signal of every rollout
of the batch, so rather than silently dropping or zeroing it, the step fails with
:class:`ShapingError`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "BatchError",
    "ConfigError",
    "ConfigErrorDetail",
    "ConfigFieldError",
    "DuplicateComponentError",
    "EngineClosedError",
    "JudgeUnavailableError",
    "PluginError",
    "PluginLoadError",
    "RewardKitError",
    "SandboxUnavailableError",
    "ShapingError",
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


class ConfigFieldError(ConfigError):
    """Raised in a component ``Config``'s pydantic validator to name the field at fault: the
    config then reports it at ``<entry>.<field>`` (``rewards[0].buffer_tokens``) rather than at
    the entry. Built directly, the ``Config`` raises pydantic's ``ValidationError`` as usual."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([ConfigErrorDetail(field, message)])

    def __str__(self) -> str:
        return str(self.details[0])


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


class ArgumentError(RewardKitError, ValueError):
    """A function or constructor got an argument value it cannot use (a ratio outside (0, 1],
    an unknown mode name, mismatched lengths of two arguments)."""


class ArgumentTypeError(RewardKitError, TypeError):
    """A function or constructor got an argument of a type it cannot use (an unpicklable
    function for the engine, an option a sandbox does not take)."""


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


class ShapingError(RewardKitError, RuntimeError):
    """A shaping term broke its contract: it raised, or returned a wrong number of values or a
    non-finite one. The scoring step fails with the term's name rather than train on a signal
    the term did not mean; fix the term, or remove it from the config."""


class SandboxUnavailableError(RewardKitError, FileNotFoundError):
    """A code sandbox cannot run on this machine: the program it needs (``bwrap``) is not
    installed or not on ``PATH``. Install it, or pick another ``sandbox`` in the config."""
