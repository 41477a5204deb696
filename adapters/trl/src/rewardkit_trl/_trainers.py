"""The ready-made trainers: the rewardkit mixin on TRL's GRPOTrainer and RLOOTrainer."""

from __future__ import annotations

from trl import GRPOTrainer, RLOOTrainer

from rewardkit_trl._entropy_mask import EntropyMaskMixin
from rewardkit_trl._trainer import RewardKitTrainerMixin

__all__ = ["RewardKitGRPOTrainer", "RewardKitRLOOTrainer"]


class RewardKitGRPOTrainer(RewardKitTrainerMixin, EntropyMaskMixin, GRPOTrainer):
    """GRPOTrainer driven by a rewardkit config: rewards, shaping, token mask, diagnostics and
    state in checkpoints.

    ``RewardKitGRPOTrainer(model, "rewardkit.yaml", args=GRPOConfig(...), train_dataset=...)``;
    every other argument is GRPOTrainer's.
    """

    supports_token_mask = True


class RewardKitRLOOTrainer(RewardKitTrainerMixin, RLOOTrainer):
    """RLOOTrainer driven by a rewardkit config (no token mask: RLOO has no entropy hook)."""
