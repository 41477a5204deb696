"""rewardkit: reward shaping plugins for RL on LLMs with verifiable rewards.

``import rewardkit`` is light: it never imports torch, transformers, sentence-transformers, trl or
verl, and the public names below load their modules on first access (PEP 562), so a process that
only needs, say, ``rewardkit.Rollout`` does not pay for pydantic or pluggy. Components that need
heavy libraries import them when they are built or first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    # data model
    "Batch": "_rollout",
    "Outcome": "_rollout",
    "RewardResult": "_rollout",
    "Rollout": "_rollout",
    "message_text": "_rollout",
    "prompt_hash": "_rollout",
    # component kinds
    "Component": "_components",
    "ComponentConfig": "_components",
    "ComponentKind": "_components",
    "DiagnosticMetric": "_components",
    "EntryCheckContext": "_components",
    "Executor": "_components",
    "RewardComponent": "_components",
    "ScoringContext": "_components",
    "ShapingInput": "_components",
    "ShapingTerm": "_components",
    "TokenMaskComponent": "_components",
    "entry_reference_field": "_components",
    # config
    "EngineConfig": "_config",
    "PluginsConfig": "_config",
    "RewardKitConfig": "_config",
    "config_json_schema": "_config",
    "config_model": "_config",
    "load_config": "_config",
    "parse_config": "_config",
    # engine, pipeline, registry
    "ExecutionEngine": "_engine",
    "MISSING_REFERENCE_REASON": "_pipeline",
    "MissingReference": "_pipeline",
    "RewardPipeline": "_pipeline",
    "metric_name": "_metrics",
    "ScoredBatch": "_scored",
    "ComponentInfo": "_registry",
    "ComponentRegistry": "_registry",
    "get_registry": "_registry",
    "hookimpl": "hookspecs",
    # errors
    "ArgumentError": "_errors",
    "ArgumentTypeError": "_errors",
    "BatchError": "_errors",
    "ConfigError": "_errors",
    "ConfigFieldError": "_errors",
    "DuplicateComponentError": "_errors",
    "EngineClosedError": "_errors",
    "JudgeUnavailableError": "_errors",
    "PluginError": "_errors",
    "PluginLoadError": "_errors",
    "RewardKitError": "_errors",
    "SandboxUnavailableError": "_errors",
    "ShapingError": "_errors",
    "StateError": "_errors",
    "UnknownComponentError": "_errors",
}

__all__ = [
    "MISSING_REFERENCE_REASON",
    "ArgumentError",
    "ArgumentTypeError",
    "Batch",
    "BatchError",
    "Component",
    "ComponentConfig",
    "ComponentInfo",
    "ComponentKind",
    "ComponentRegistry",
    "ConfigError",
    "ConfigFieldError",
    "DiagnosticMetric",
    "DuplicateComponentError",
    "EngineClosedError",
    "EngineConfig",
    "EntryCheckContext",
    "ExecutionEngine",
    "Executor",
    "JudgeUnavailableError",
    "MissingReference",
    "Outcome",
    "PluginError",
    "PluginLoadError",
    "PluginsConfig",
    "RewardComponent",
    "RewardKitConfig",
    "RewardKitError",
    "RewardPipeline",
    "RewardResult",
    "Rollout",
    "SandboxUnavailableError",
    "ScoredBatch",
    "ScoringContext",
    "ShapingError",
    "ShapingInput",
    "ShapingTerm",
    "StateError",
    "TokenMaskComponent",
    "UnknownComponentError",
    "__version__",
    "config_json_schema",
    "config_model",
    "entry_reference_field",
    "get_registry",
    "hookimpl",
    "load_config",
    "message_text",
    "metric_name",
    "parse_config",
    "prompt_hash",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rewardkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rewardkit.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from rewardkit._components import (
        Component,
        ComponentConfig,
        ComponentKind,
        DiagnosticMetric,
        EntryCheckContext,
        Executor,
        RewardComponent,
        ScoringContext,
        ShapingInput,
        ShapingTerm,
        TokenMaskComponent,
        entry_reference_field,
    )
    from rewardkit._config import (
        EngineConfig,
        PluginsConfig,
        RewardKitConfig,
        config_json_schema,
        config_model,
        load_config,
        parse_config,
    )
    from rewardkit._engine import ExecutionEngine
    from rewardkit._errors import (
        ArgumentError,
        ArgumentTypeError,
        BatchError,
        ConfigError,
        ConfigFieldError,
        DuplicateComponentError,
        EngineClosedError,
        JudgeUnavailableError,
        PluginError,
        PluginLoadError,
        RewardKitError,
        SandboxUnavailableError,
        ShapingError,
        StateError,
        UnknownComponentError,
    )
    from rewardkit._metrics import metric_name
    from rewardkit._pipeline import MISSING_REFERENCE_REASON, MissingReference, RewardPipeline
    from rewardkit._registry import ComponentInfo, ComponentRegistry, get_registry
    from rewardkit._rollout import Batch, Outcome, RewardResult, Rollout, message_text, prompt_hash
    from rewardkit._scored import ScoredBatch
    from rewardkit.hookspecs import hookimpl
