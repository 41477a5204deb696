"""rewardkit inside verl 0.9.

Installing ``rewardkit-verl`` is the whole registration: its ``verl.plugins`` entry point makes
``import verl`` register, in every Ray process,

* reward manager ``rewardkit`` (``reward.reward_manager.name=rewardkit``): per-sample rewards in
  rewardkit's worker processes with hard deadlines, a fixed ``reward_extra_info`` key set;
* V1 trainer ``rewardkit`` (``trainer.v1.trainer_mode=rewardkit``): group and batch shaping
  before advantages, shaping state in verl's checkpoints, ``rewardkit/*`` metrics.

``compute_score`` for the custom-reward-function path is ``pkg://rewardkit_verl.scoring``.
``rewardkit doctor`` checks all of it in a fresh interpreter. See ``docs/verl.md``.

Importing this package is light; the names below load verl on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AdapterSettings",
    "BatchShaper",
    "EntropyNotComputedError",
    "ExtraInfoError",
    "ExtraInfoLayout",
    "RewardKitPPOTrainer",
    "RewardKitRewardManager",
    "RewardKitTrainerMixin",
    "SampleScorer",
    "compute_score",
]

_LAZY = {
    "AdapterSettings": "rewardkit_verl._settings",
    "BatchShaper": "rewardkit_verl._shaping",
    "EntropyNotComputedError": "rewardkit_verl._entropy_mask",
    "ExtraInfoError": "rewardkit_verl._extra_info",
    "ExtraInfoLayout": "rewardkit_verl._extra_info",
    "RewardKitPPOTrainer": "rewardkit_verl._trainer",
    "RewardKitRewardManager": "rewardkit_verl._reward_manager",
    "RewardKitTrainerMixin": "rewardkit_verl._trainer",
    "SampleScorer": "rewardkit_verl._scorer",
    "compute_score": "rewardkit_verl.scoring",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rewardkit_verl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
