"""Config sections that only rewardkit's V1 trainers apply, and a warning when verl won't run one.

The reward manager (and ``compute_score``) score one sample at a time in verl's reward workers,
so they run only a config's ``rewards:``. ``shaping:`` and ``diagnostics:`` need whole groups and
run on the driver, in the ``rewardkit`` trainers; ``token_mask:`` runs there too, unless the
loss-path mask is switched on (``REWARDKIT_VERL_LOSS_MASK_CONFIG``). A run that selects the
manager but not one of those trainers trains on the per-sample rewards alone, which is easy to
miss, so the manager warns at start-up and ``rewardkit doctor --config`` says the same.

Light on purpose (no verl import): the doctor's probe and the reward workers both use it.
"""

from __future__ import annotations

from typing import Any

from rewardkit import RewardKitConfig

__all__ = [
    "TRAINER_MODES",
    "driver_sections",
    "dropped_sections_message",
    "rewardkit_trainer_selected",
]

#: ``trainer.v1.trainer_mode`` values of rewardkit's trainers (``rewardkit_verl._trainer``).
TRAINER_MODES: tuple[str, ...] = (
    "rewardkit",
    "rewardkit_colocate_async",
    "rewardkit_separate_async",
)

ENABLE_HINT = (
    "set trainer.v1.trainer_mode=rewardkit (or rewardkit_colocate_async / "
    "rewardkit_separate_async) and keep trainer.use_v1=true"
)


def driver_sections(config: RewardKitConfig, *, mask_in_loss: bool = False) -> list[str]:
    """What of ``config`` only a rewardkit trainer applies, described for a message; empty when
    nothing. ``mask_in_loss``: the token mask goes into verl's loss (workers) instead."""
    out = []
    if config.shaping:
        out.append(f"shaping {[entry.name for entry in config.shaping]}")
    if config.diagnostics:
        out.append(f"diagnostics {[entry.name for entry in config.diagnostics]}")
    if config.token_mask is not None and not mask_in_loss:
        out.append(f"token_mask ({config.token_mask.type})")
    return out


def _select(verl_config: Any, path: str) -> Any:
    node = verl_config
    for part in path.split("."):
        getter = getattr(node, "get", None)
        if getter is None:
            return None
        node = getter(part)
        if node is None:
            return None
    return node


def rewardkit_trainer_selected(verl_config: Any) -> bool:
    """Whether ``main_ppo`` will run one of rewardkit's trainers with this verl config."""
    use_v1 = _select(verl_config, "trainer.use_v1")
    mode = _select(verl_config, "trainer.v1.trainer_mode")
    return use_v1 is not False and mode in TRAINER_MODES


def dropped_sections_message(
    config: RewardKitConfig, verl_config: Any, *, source: str
) -> str | None:
    """The warning for a verl config that will not apply ``config``'s driver-side sections, or
    None when nothing is dropped."""
    from rewardkit_verl._loss_mask import loss_mask_config_path

    if rewardkit_trainer_selected(verl_config):
        return None
    dropped = driver_sections(config, mask_in_loss=loss_mask_config_path(verl_config) is not None)
    if not dropped:
        return None
    use_v1 = _select(verl_config, "trainer.use_v1")
    mode = _select(verl_config, "trainer.v1.trainer_mode")
    return (
        f"rewardkit: the config {source} has {', '.join(dropped)}, which only rewardkit's V1 "
        f"trainer applies, but this run uses trainer.use_v1={use_v1} and "
        f"trainer.v1.trainer_mode={mode}: they are DROPPED and training uses the per-sample "
        f"rewards alone; {ENABLE_HINT}"
    )
