"""The plugin's ``verl.workers.utils.losses`` hook: wraps verl's ``ppo_loss`` with the entropy mask
only when ``REWARDKIT_VERL_LOSS_MASK_CONFIG`` names a config, as in the actor workers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from rewardkit_verl._loss_mask import LOSS_MASK_ENV, loss_mask_config_path, patch_from_environment

from rewardkit import ConfigError


@pytest.fixture
def losses() -> Any:
    import verl.workers.utils.losses as module

    engine_workers = sys.modules.get("verl.workers.engine_workers")
    saved = (module.ppo_loss, getattr(engine_workers, "ppo_loss", None))
    yield module
    module.ppo_loss = saved[0]
    if engine_workers is not None:
        engine_workers.ppo_loss = saved[1]


def test_hook_is_inactive_without_the_variable(
    losses: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOSS_MASK_ENV, raising=False)
    original = losses.ppo_loss
    assert patch_from_environment(losses) == "inactive"
    assert losses.ppo_loss is original


def test_hook_wraps_ppo_loss_with_the_configured_mask(
    losses: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rewardkit_verl._entropy_mask import EntropyMaskedPPOLoss

    config = tmp_path / "rk.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "rewards": [{"type": "math"}],
                "token_mask": {"type": "entropy_top_ratio", "ratio": 0.2},
            }
        )
    )
    original = losses.ppo_loss
    monkeypatch.setenv(LOSS_MASK_ENV, str(config))
    assert patch_from_environment(losses) is None
    assert isinstance(losses.ppo_loss, EntropyMaskedPPOLoss)
    assert losses.ppo_loss.base is original
    assert losses.ppo_loss.token_mask.config.ratio == 0.2


def test_hook_refuses_a_config_without_token_mask(
    losses: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "rk.yaml"
    config.write_text(yaml.safe_dump({"rewards": [{"type": "math"}]}))
    monkeypatch.setenv(LOSS_MASK_ENV, str(config))
    with pytest.raises(ConfigError, match="no token_mask"):
        patch_from_environment(losses)


def test_trainer_sees_the_variable_in_rays_runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from omegaconf import OmegaConf

    monkeypatch.delenv(LOSS_MASK_ENV, raising=False)
    config = OmegaConf.create({"ray_kwargs": {"ray_init": {"runtime_env": {}}}})
    assert loss_mask_config_path(config) is None
    config.ray_kwargs.ray_init.runtime_env = {"env_vars": {LOSS_MASK_ENV: "/rk.yaml"}}
    assert loss_mask_config_path(config) == "/rk.yaml"
