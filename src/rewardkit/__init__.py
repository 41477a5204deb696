"""rewardkit: reward shaping plugins for RL on LLMs with verifiable rewards.

``import rewardkit`` is light: it never imports torch, transformers, sentence-transformers, trl or
verl. Components that need them import them when they are built or first used.
"""

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

__version__ = "0.1.0"

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
