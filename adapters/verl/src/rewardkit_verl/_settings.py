"""Where the rewardkit config lives in a verl config, and the adapter's own options.

verl 0.9 passes reward options two ways, and rewardkit reads both, first match wins:

* ``+reward.reward_kwargs.rewardkit_config=...`` - read by the ``rewardkit`` reward manager and
  the ``rewardkit`` trainer (the trainer shapes what the manager scored, so both need it);
* ``+reward.custom_reward_function.reward_kwargs.rewardkit_config=...`` - the keyword arguments
  verl passes to a custom ``compute_score`` (``pkg://rewardkit_verl.scoring``).

The value is the path of a YAML/TOML/JSON file every node can read, or the config itself as a
mapping (Hydra: ``'+reward.reward_kwargs.rewardkit_config={rewards: [{type: math}]}'``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rewardkit import ConfigError, RewardKitConfig, load_config, parse_config

__all__ = ["CONFIG_KEY", "AdapterSettings", "settings_from_kwargs", "settings_from_verl_config"]

CONFIG_KEY = "rewardkit_config"
SAMPLE_TIMEOUT_KEY = "rewardkit_sample_timeout_s"


class _AdapterOptions(BaseModel):
    """The adapter's keys among verl's reward kwargs (other keys belong to verl or other code)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rewardkit_config: str | dict[str, Any] = Field(
        description="Path of the rewardkit config file, or the config as a mapping."
    )
    rewardkit_sample_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Wall-clock limit for scoring one sample, on top of the engine's per-item "
        "hard deadline: it bounds rewards that do not run in the engine. A sample past it gets "
        "outcome 'timeout' for every reward.",
    )


@dataclass(frozen=True, slots=True)
class AdapterSettings:
    """A validated rewardkit config plus the adapter's options, and where they came from."""

    config: RewardKitConfig
    sample_timeout_s: float
    source: str
    #: Equal for equal settings in any process: the key of the per-process scorer cache.
    fingerprint: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            doc = {"config": self.config.model_dump(mode="json"), "timeout": self.sample_timeout_s}
            object.__setattr__(self, "fingerprint", json.dumps(doc, sort_keys=True, default=str))

    def __repr__(self) -> str:
        return (
            f"AdapterSettings(source={self.source!r}, sample_timeout_s={self.sample_timeout_s:g})"
        )


def _plain(value: Any) -> Any:
    """OmegaConf containers (what Hydra hands over) as plain dicts and lists."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with verl
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def settings_from_kwargs(kwargs: Mapping[str, Any], *, where: str) -> AdapterSettings:
    """Settings from a reward-kwargs mapping; ``where`` names it in errors."""
    kwargs = _plain(kwargs) or {}
    if CONFIG_KEY not in kwargs:
        raise ConfigError(
            f"no rewardkit config: set {where}.{CONFIG_KEY}=/path/to/rewardkit.yaml "
            f"(a Hydra override needs the leading '+')"
        )
    try:
        opts = _AdapterOptions.model_validate(dict(kwargs))
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(problems) from None
    raw = opts.rewardkit_config
    if isinstance(raw, str):
        config = load_config(raw)
        source = raw
    else:
        config = parse_config(raw, source=f"{where}.{CONFIG_KEY}")
        source = f"{where}.{CONFIG_KEY} (inline)"
    return AdapterSettings(config, opts.rewardkit_sample_timeout_s, source)


def settings_from_verl_config(config: Any) -> AdapterSettings:
    """Settings from a whole verl trainer config (``reward.reward_kwargs`` first)."""
    reward = config.get("reward") if hasattr(config, "get") else None
    if reward is None:
        raise ConfigError("the verl config has no 'reward' section (verl 0.9 reads reward.*)")
    manager_kwargs = _plain(reward.get("reward_kwargs")) or {}
    if CONFIG_KEY in manager_kwargs:
        return settings_from_kwargs(manager_kwargs, where="reward.reward_kwargs")
    custom = reward.get("custom_reward_function") or {}
    fn_kwargs = _plain(custom.get("reward_kwargs")) or {}
    if CONFIG_KEY in fn_kwargs:
        return settings_from_kwargs(fn_kwargs, where="reward.custom_reward_function.reward_kwargs")
    return settings_from_kwargs({}, where="+reward.reward_kwargs")
