"""What rewardkit registers in verl, and which verl import triggers each registration.

Kept apart from :mod:`rewardkit_verl._plugin` (which arms the hooks on import) so that the
doctor's probe can list the pieces without registering them itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PIECES", "Piece", "PieceStatus"]


@dataclass(frozen=True, slots=True)
class Piece:
    """One thing rewardkit registers in verl, and the verl module whose import triggers it."""

    name: str
    description: str
    verl_module: str
    #: "module:function", called with the imported verl module; returns None when it
    #: registered, or a state such as "inactive".
    hook: str

    def __repr__(self) -> str:
        return f"Piece({self.name!r}, on import of {self.verl_module})"


@dataclass(frozen=True, slots=True)
class PieceStatus:
    """``pending`` (verl has not imported the module yet), ``registered``, ``inactive`` (not
    asked for in this process) or ``failed`` (with the error)."""

    state: str
    error: str = ""


PIECES: tuple[Piece, ...] = (
    Piece(
        "reward_manager",
        "reward manager 'rewardkit' (reward.reward_manager.name=rewardkit)",
        "verl.experimental.reward_loop.reward_manager",
        "rewardkit_verl._reward_manager:register",
    ),
    Piece(
        "trainer",
        "V1 trainers 'rewardkit', 'rewardkit_colocate_async', 'rewardkit_separate_async' "
        "(trainer.v1.trainer_mode=rewardkit)",
        "verl.trainer.ppo.v1",
        "rewardkit_verl._trainer:register",
    ),
    Piece(
        "loss_mask",
        "entropy mask in verl's ppo_loss (when REWARDKIT_VERL_LOSS_MASK_CONFIG is set)",
        "verl.workers.utils.losses",
        "rewardkit_verl._loss_mask:patch_from_environment",
    ),
)
