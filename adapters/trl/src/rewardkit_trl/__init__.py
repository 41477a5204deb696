"""rewardkit inside TRL (GRPOTrainer, RLOOTrainer).

* :func:`build_reward_funcs` - a config's rewards and shaping terms as TRL reward functions, with
  their ``reward_weights``; groups stay whole across processes.
* :class:`RewardKitGRPOTrainer` / :class:`RewardKitRLOOTrainer` (or :class:`RewardKitTrainerMixin`
  on your own trainer) - the config wired in, with state kept in checkpoints.
* :mod:`rewardkit_trl.presets` - module-level reward functions for ``trl grpo --reward_funcs``.

The trainers import TRL on first access, so ``import rewardkit_trl`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rewardkit_trl._call import REFERENCE_COLUMNS
from rewardkit_trl._entropy_mask import EntropyMaskMixin as EntropyMaskMixin
from rewardkit_trl._layout import ProcessLayoutError
from rewardkit_trl._reward_funcs import (
    AsyncRewardKitRewardFunc,
    RewardKitRewardFunc,
    RewardKitTotalRewardFunc,
    build_reward_funcs,
    build_total_reward_func,
)
from rewardkit_trl._scorer import RewardKitScorer, is_io_bound
from rewardkit_trl._trainer import STATE_FILENAME, RewardKitTrainerMixin

if TYPE_CHECKING:
    from rewardkit_trl._trainers import RewardKitGRPOTrainer, RewardKitRLOOTrainer

__all__ = [
    "REFERENCE_COLUMNS",
    "STATE_FILENAME",
    "AsyncRewardKitRewardFunc",
    "ProcessLayoutError",
    "RewardKitGRPOTrainer",
    "RewardKitRLOOTrainer",
    "RewardKitRewardFunc",
    "RewardKitScorer",
    "RewardKitTotalRewardFunc",
    "RewardKitTrainerMixin",
    "build_reward_funcs",
    "build_total_reward_func",
    "is_io_bound",
]

_LAZY = {"RewardKitGRPOTrainer", "RewardKitRLOOTrainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from rewardkit_trl import _trainers

        return getattr(_trainers, name)
    raise AttributeError(f"module 'rewardkit_trl' has no attribute {name!r}")
