"""rewardkit's shaping state inside verl's checkpoint folders.

verl writes ``<default_local_dir>/global_step_<N>/`` (actor, critic, ``data.pt``) and then the
``latest_checkpointed_iteration.txt`` tracker. rewardkit's state goes into the step folder as
``rewardkit_state.json`` *before* verl writes the tracker, atomically (temporary file, fsync,
rename), so a checkpoint that resume can find always has its state. ``trainer.
checkpoint_callback_class`` only sees saves, hence a trainer subclass for the load side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rewardkit import RewardPipeline
from rewardkit_verl._log import logger

__all__ = ["STATE_FILENAME", "load_state", "resumed_step_folder", "save_state", "step_folder"]

STATE_FILENAME = "rewardkit_state.json"


def _absolute(path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


def step_folder(trainer_config: Any, global_step: int) -> str:
    """Where verl saves step ``global_step`` (``PPOTrainer._save_checkpoint``'s folder)."""
    return os.path.join(trainer_config.trainer.default_local_dir, f"global_step_{global_step}")


def resumed_step_folder(trainer_config: Any) -> str | None:
    """The folder verl's ``PPOTrainer._load_checkpoint`` resumes from, or None for a fresh run.

    Mirrors verl 0.9's resolution: ``trainer.resume_mode`` ``disable`` -> none; ``auto`` -> the
    latest tracked step under ``default_local_dir``; ``resume_path`` -> ``resume_from_path``.
    """
    from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

    t = trainer_config.trainer
    mode = t.resume_mode
    if mode == "disable":
        return None
    if mode == "auto":
        return find_latest_ckpt_path(_absolute(t.default_local_dir))
    if mode == "resume_path":
        return _absolute(t.resume_from_path) if t.resume_from_path else None
    return None


def save_state(pipeline: RewardPipeline, folder: str | os.PathLike[str]) -> Path:
    """Write the pipeline's shaping state into a checkpoint step folder."""
    path = Path(folder) / STATE_FILENAME
    pipeline.save_state(path)
    return path


def load_state(pipeline: RewardPipeline, folder: str | os.PathLike[str] | None) -> bool:
    """Restore the pipeline's state from a step folder (``RewardPipeline.resume_state``): True
    when state was loaded, False for a fresh run (``folder`` None) or nothing to load.

    Raises ``StateError`` for a corrupt, foreign or oversized state file, for state that does not
    match the config's stateful components by name, and for a step folder without a state file
    when the config has stateful components (``allow_partial_state`` turns the last two into
    warnings): resuming with silently reset UCB counts would change the run's objective.
    """
    if folder is None:
        return False
    path = Path(folder) / STATE_FILENAME
    if not pipeline.resume_state(path):
        return False
    names = [c.name for c in pipeline.stateful_components]
    logger.info("rewardkit: restored the state of %s from %s", names, path)
    return True
