"""Entropy mask inside verl's policy loss, in the actor worker processes.

The default placement is on the driver (the ``rewardkit`` trainer masks the advantages from the
stored old-policy entropy, one threshold over the whole batch). To mask with the *current*
policy's entropy per micro-batch instead, as the paper's code does, every actor worker must wrap
verl's ``ppo_loss`` before it binds it, and knows which config to use only from its environment:

    +ray_kwargs.ray_init.runtime_env.env_vars.REWARDKIT_VERL_LOSS_MASK_CONFIG=/path/rewardkit.yaml
    actor_rollout_ref.actor.calculate_entropy=True

The plugin then patches ``ppo_loss`` as verl imports ``verl.workers.utils.losses`` (before
``engine_workers`` imports the name), and the trainer leaves the advantages alone. The workers
build only the mask from that file (no rewards, no engine); the trainer checks at start-up that
it is the mask of its own rewardkit config (same type, same fields), so a run has one mask,
whichever process applies it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["LOSS_MASK_ENV", "loss_mask_config_path", "loss_mask_of", "patch_from_environment"]

LOSS_MASK_ENV = "REWARDKIT_VERL_LOSS_MASK_CONFIG"


def loss_mask_config_path(trainer_config: Any = None) -> str | None:
    """The loss-mask config path the workers will see: this process's environment, or the Ray
    runtime environment verl starts them with (``ray_kwargs.ray_init.runtime_env.env_vars``)."""
    path = os.environ.get(LOSS_MASK_ENV)
    if path:
        return path
    if trainer_config is None:
        return None
    try:
        from omegaconf import OmegaConf

        env_vars = OmegaConf.select(trainer_config, "ray_kwargs.ray_init.runtime_env.env_vars")
    except Exception:
        return None
    return (env_vars or {}).get(LOSS_MASK_ENV) or None


def loss_mask_of(path: str) -> Any:
    """The mask-stage token term of the rewardkit config at ``path``, built alone (no rewards,
    no engine): what each actor worker wraps ``ppo_loss`` with. A ``ConfigError`` when the
    config has none."""
    from rewardkit import ConfigError, load_config
    from rewardkit_verl._entropy_mask import token_terms_of

    mask = next((t for t in token_terms_of(load_config(path)) if t.token_stage == "mask"), None)
    if mask is None:
        raise ConfigError(f"{LOSS_MASK_ENV}={path}: the config has no token_mask section")
    return mask


def patch_from_environment(losses_module: Any) -> str | None:
    """Post-import hook for ``verl.workers.utils.losses``; ``"inactive"`` when not asked for."""
    path = os.environ.get(LOSS_MASK_ENV)
    if not path:
        return "inactive"
    from rewardkit_verl._entropy_mask import patch_ppo_loss

    patch_ppo_loss(loss_mask_of(path))
    return None
