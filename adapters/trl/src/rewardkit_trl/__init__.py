"""rewardkit inside TRL (GRPOTrainer, RLOOTrainer).

* :func:`build_reward_funcs` - a config's rewards and shaping terms as TRL reward functions, with
  their ``reward_weights``; groups stay whole across processes.
* :class:`RewardKitGRPOTrainer` / :class:`RewardKitRLOOTrainer` (or :class:`RewardKitTrainerMixin`
  on your own trainer) - the config wired in, with state kept in checkpoints.
* :class:`EntropyMaskMixin` - rewardkit's token mask on TRL's own entropies.
* :mod:`rewardkit_trl.presets` - module-level reward functions for ``trl grpo --reward_funcs``.

rewardkit-trl registers no rewardkit component or command (the offline demo is the separate
rewardkit-demo distribution). Public names load their modules on first access (PEP 562), so
``import rewardkit_trl`` does not pay for TRL or the scorer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "REFERENCE_COLUMNS": "_call",
    "EntropyMaskMixin": "_entropy_mask",
    "ProcessLayoutError": "_layout",
    "AsyncRewardKitRewardFunc": "_reward_funcs",
    "RewardKitRewardFunc": "_reward_funcs",
    "RewardKitTotalRewardFunc": "_reward_funcs",
    "build_reward_funcs": "_reward_funcs",
    "build_total_reward_func": "_reward_funcs",
    "FailedAs": "_scorer",
    "RewardKitScorer": "_scorer",
    "is_io_bound": "_scorer",
    "STATE_FILENAME": "_trainer",
    "RewardKitTrainerMixin": "_trainer",
    "RewardKitGRPOTrainer": "_trainers",
    "RewardKitRLOOTrainer": "_trainers",
}

__all__ = [
    "REFERENCE_COLUMNS",
    "STATE_FILENAME",
    "AsyncRewardKitRewardFunc",
    "EntropyMaskMixin",
    "FailedAs",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rewardkit_trl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rewardkit_trl.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from rewardkit_trl._call import REFERENCE_COLUMNS
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from rewardkit_trl._layout import ProcessLayoutError
    from rewardkit_trl._reward_funcs import (
        AsyncRewardKitRewardFunc,
        RewardKitRewardFunc,
        RewardKitTotalRewardFunc,
        build_reward_funcs,
        build_total_reward_func,
    )
    from rewardkit_trl._scorer import FailedAs, RewardKitScorer, is_io_bound
    from rewardkit_trl._trainer import STATE_FILENAME, RewardKitTrainerMixin
    from rewardkit_trl._trainers import RewardKitGRPOTrainer, RewardKitRLOOTrainer
