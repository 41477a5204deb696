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
    "RewardComponent": "_components",
    "ScoringContext": "_components",
    "ShapingInput": "_components",
    "ShapingTerm": "_components",
    "TokenMaskComponent": "_components",
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
    "RewardPipeline": "_pipeline",
    "ScoredBatch": "_pipeline",
    "ComponentInfo": "_registry",
    "ComponentRegistry": "_registry",
    "get_registry": "_registry",
    "hookimpl": "hookspecs",
    # errors
    "BatchError": "_errors",
    "ConfigError": "_errors",
    "DuplicateComponentError": "_errors",
    "EngineClosedError": "_errors",
    "JudgeUnavailableError": "_errors",
    "PluginError": "_errors",
    "PluginLoadError": "_errors",
    "RewardKitError": "_errors",
    "StateError": "_errors",
    "UnknownComponentError": "_errors",
}

__all__ = [
    "Batch",
    "BatchError",
    "Component",
    "ComponentConfig",
    "ComponentInfo",
    "ComponentKind",
    "ComponentRegistry",
    "ConfigError",
    "DiagnosticMetric",
    "DuplicateComponentError",
    "EngineClosedError",
    "EngineConfig",
    "ExecutionEngine",
    "JudgeUnavailableError",
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
    "ScoredBatch",
    "ScoringContext",
    "ShapingInput",
    "ShapingTerm",
    "StateError",
    "TokenMaskComponent",
    "UnknownComponentError",
    "__version__",
    "config_json_schema",
    "config_model",
    "get_registry",
    "hookimpl",
    "load_config",
    "message_text",
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
        RewardComponent,
        ScoringContext,
        ShapingInput,
        ShapingTerm,
        TokenMaskComponent,
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
        BatchError,
        ConfigError,
        DuplicateComponentError,
        EngineClosedError,
        JudgeUnavailableError,
        PluginError,
        PluginLoadError,
        RewardKitError,
        StateError,
        UnknownComponentError,
    )
    from rewardkit._pipeline import RewardPipeline, ScoredBatch
    from rewardkit._registry import ComponentInfo, ComponentRegistry, get_registry
    from rewardkit._rollout import Batch, Outcome, RewardResult, Rollout, message_text, prompt_hash
    from rewardkit.hookspecs import hookimpl
