"""verl V1 trainers that shape rewards over whole groups before computing advantages.

``trainer.v1.trainer_mode=rewardkit`` selects :class:`RewardKitPPOTrainer`, verl's synchronous
trainer plus, on the driver after the rewards and before the advantages:

1. read every trajectory's ``rm_scores`` and rewardkit extra info from TransferQueue,
2. run the config's shaping terms and diagnostics over the batch (groups by ``uid``),
3. write the shaped ``rm_scores`` back and log ``rewardkit/*`` metrics,

and it saves and restores the shaping state (UCB counts) with verl's checkpoints.
``rewardkit_colocate_async`` and ``rewardkit_separate_async`` do the same on verl's async
trainers. These override private verl methods (``_compute_advantage``, ``_save_checkpoint``,
``_load_checkpoint``), hence the ``verl>=0.9.1,<0.10`` pin.
"""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext
from typing import Any, ClassVar

import torch
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1 import PPOTrainerColocateAsync, PPOTrainerSeparateAsync, PPOTrainerSync
from verl.utils import tensordict_utils as tu
from verl.utils.debug import marked_timer

from rewardkit import BatchError, ConfigError
from rewardkit.shaping import LOGPROBS_HINT, logprob_consumers
from rewardkit_verl._checkpoint import load_state, resumed_step_folder, save_state, step_folder
from rewardkit_verl._log import logger
from rewardkit_verl._logprobs import LOGPROB_FIELDS, logprob_rows
from rewardkit_verl._loss_mask import LOSS_MASK_ENV, loss_mask_config_path
from rewardkit_verl._reward_manager import MANAGER_NAME
from rewardkit_verl._rollouts import plain, rollout_of
from rewardkit_verl._settings import settings_from_verl_config
from rewardkit_verl._shaping import BatchShaper, ShapedRows

__all__ = [
    "TRAINER_NAMES",
    "RewardKitPPOTrainer",
    "RewardKitPPOTrainerColocateAsync",
    "RewardKitPPOTrainerSeparateAsync",
    "RewardKitTrainerMixin",
    "check_reward_source",
    "check_token_mask_setup",
    "log_forking_tokens",
    "mask_transfer_queue_advantages",
    "register",
    "shape_transfer_queue_batch",
]


_SCORING_MODULE = "rewardkit_verl.scoring"
_REQUIRED_FIELDS = ["uid", "responses", "rm_scores", "extra_fields"]
_OPTIONAL_FIELDS = ["raw_prompt", "reward_model", "data_source", "index", "extra_info"]


def check_reward_source(config: Any) -> None:
    """Fail at start-up, not at the first step, when rewardkit does not score the samples."""
    reward = config.reward
    manager = reward.reward_manager
    custom_path = (reward.get("custom_reward_function") or {}).get("path") or ""
    if manager.get("source", "register") == "register" and manager.get("name") == MANAGER_NAME:
        return
    if _SCORING_MODULE in str(custom_path):
        return
    raise ConfigError(
        "trainer.v1.trainer_mode=rewardkit shapes rewards that rewardkit scored, but the reward "
        f"loop uses reward manager {manager.get('name')!r} with custom_reward_function.path="
        f"{custom_path or None!r}; set reward.reward_manager.name={MANAGER_NAME} (or "
        f"reward.custom_reward_function.path=pkg://{_SCORING_MODULE})"
    )


def _get_optional(keys: list[str], partition: str, fields: list[str]) -> dict[str, list[Any]]:
    # Dataset columns differ between datasets, and TransferQueue backends differ on an absent
    # field (left out of the result, or the whole request refused): ask for all of them at
    # once, then one at a time.
    try:
        data = tq.kv_batch_get(keys=keys, partition_id=partition, select_fields=fields)
        return {f: list(plain(data[f])) for f in fields}
    except Exception:
        pass
    found: dict[str, list[Any]] = {}
    for f in fields:
        try:
            found[f] = list(
                plain(tq.kv_batch_get(keys=keys, partition_id=partition, select_fields=[f])[f])
            )
        except Exception:
            continue
    return found


def _completion_logprobs(keys: list[str], partition: str) -> list[list[float]]:
    """Each row's response log-probs from TransferQueue (``LOGPROB_FIELDS``, first found)."""
    for name in LOGPROB_FIELDS:
        try:
            data = tq.kv_batch_get(
                keys=keys, partition_id=partition, select_fields=[name, "response_mask"]
            )
            values, mask = data[name], data["response_mask"]
        except Exception:  # absent: left out of the result, or the request refused
            continue
        return logprob_rows(values, mask)
    raise BatchError(
        "a component of the rewardkit config reads completion log-probs, but this batch has "
        f"none of {', '.join(LOGPROB_FIELDS)} in TransferQueue. " + LOGPROBS_HINT
    )


def shape_transfer_queue_batch(
    shaper: BatchShaper, batch: KVBatchMeta, *, tokenizer: Any, step: int | None
) -> ShapedRows:
    """Shape the rewards of a TransferQueue batch in place (``rm_scores``), return what changed.

    Padding rows that verl appends for even data-parallel splits (tag ``is_padding``) are left
    alone; multi-output sessions move together (see :meth:`BatchShaper.shape_rows`).
    """
    keys = list(batch.keys)
    partition = batch.partition_id
    data = tq.kv_batch_get(keys=keys, partition_id=partition, select_fields=_REQUIRED_FIELDS)
    optional = _get_optional(keys, partition, _OPTIONAL_FIELDS)
    padding = [bool(tag.get("is_padding", False)) for tag in batch.tags]
    uids = list(plain(data["uid"]))
    extra_fields = list(plain(data["extra_fields"]))
    infos: list[dict[str, Any] | None] = [
        None if pad else (ef or {}).get("reward_extra_info") if isinstance(ef, dict) else None
        for pad, ef in zip(padding, extra_fields)
    ]
    if any(info is None for info, pad in zip(infos, padding) if not pad):
        # Colocated reward model path: verl writes each extra-info key as its own field.
        columns = tq.kv_batch_get(
            keys=keys, partition_id=partition, select_fields=list(shaper.layout.keys)
        )
        cols: dict[str, list[Any]] = {}
        for k in shaper.layout.keys:
            try:
                cols[k] = list(plain(columns[k]))
            except KeyError:
                continue  # decode() below names every missing key
        infos = [None if pad else {k: cols[k][i] for k in cols} for i, pad in enumerate(padding)]
    responses = list(data["responses"].unbind())
    live = [i for i, pad in enumerate(padding) if not pad]
    texts = tokenizer.batch_decode([responses[i].tolist() for i in live], skip_special_tokens=True)
    completion = dict(zip(live, texts))

    def column(name: str, i: int) -> Any:
        values = optional.get(name)
        return None if values is None else values[i]

    pipe = shaper.pipeline
    needs_logprobs = logprob_consumers((*pipe.shaping, *pipe.diagnostics))
    logprobs = _completion_logprobs(keys, partition) if needs_logprobs else None

    rollouts = [
        None
        if pad
        else rollout_of(
            prompt=column("raw_prompt", i),
            completion=completion[i],
            group=uids[i],
            reward_model=column("reward_model", i),
            data_source=column("data_source", i),
            extra_info=column("extra_info", i),
            index=column("index", i),
            completion_logprobs=None if logprobs is None else logprobs[i],
        )
        for i, pad in enumerate(padding)
    ]
    shaped = shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=step)
    changed = [i for i, d in enumerate(shaped.deltas) if d != 0.0]
    if changed:
        rm_scores = data["rm_scores"].unbind()
        new_rows = []
        for i in changed:
            row = rm_scores[i].clone()
            # verl puts a trajectory's reward on its last response token.
            row[-1] += shaped.deltas[i]
            new_rows.append(row)
        nested = torch.nested.as_nested_tensor(new_rows, layout=torch.jagged)
        tq.kv_batch_put(
            keys=[keys[i] for i in changed],
            partition_id=partition,
            fields=tu.get_tensordict({"rm_scores": nested}),
        )
    return shaped


def _same_mask(worker: Any, trainer: Any) -> bool:
    if worker is None or trainer is None:
        return worker is trainer
    return type(worker) is type(trainer) and worker.config == trainer.config


def check_token_mask_setup(config: Any, *, has_token_mask: bool, token_mask: Any = None) -> bool:
    """Where the entropy mask goes: True for verl's loss (workers), False for the advantages
    (driver). Fails at start-up on a setup that cannot work.

    With ``token_mask`` (the trainer's own, ``pipeline.token_mask``) and the loss path on, the
    mask the workers will build from ``REWARDKIT_VERL_LOSS_MASK_CONFIG`` must be that same mask
    (type and fields), so one run never trains with two different masks."""
    path = loss_mask_config_path(config)
    in_loss = path is not None
    actor = config.actor_rollout_ref.actor
    if in_loss:
        if not (actor.get("calculate_entropy", False) or actor.get("entropy_coeff", 0.0) != 0.0):
            raise ConfigError(
                f"{LOSS_MASK_ENV} puts the entropy mask into verl's ppo_loss, which needs the "
                "current policy's entropy: set actor_rollout_ref.actor.calculate_entropy=True"
            )
        if token_mask is not None:
            from rewardkit_verl._loss_mask import loss_mask_of

            worker_mask = loss_mask_of(str(path))
            if not _same_mask(worker_mask, token_mask):
                raise ConfigError(
                    f"{LOSS_MASK_ENV}={path} gives the actor workers the mask {worker_mask!r}, "
                    f"but the trainer's rewardkit config has {token_mask!r}; point the variable "
                    "at the trainer's rewardkit config (one mask per run)"
                )
        return True
    if has_token_mask:
        corr = config.algorithm.get("rollout_correction", None) or {}
        if corr.get("bypass_mode", False):
            raise ConfigError(
                "the rewardkit token_mask masks the advantages from the old-policy entropy, which "
                "verl does not compute with algorithm.rollout_correction.bypass_mode=True; turn "
                f"bypass mode off, or mask in the loss ({LOSS_MASK_ENV}, see docs/verl.md)"
            )
    return False


def log_forking_tokens(stats: Any, token_mask: Any, tokenizer: Any) -> str | None:
    """Log the batch's most frequent kept tokens (the mask's ``top_tokens``; 0 turns it off) to
    the adapter's logger at INFO, and return the line (None when nothing was logged).

    verl's trackers take numbers only, so the words go to the driver's log, not the metrics.
    """
    from rewardkit.masks import format_forking_tokens

    top = int(getattr(getattr(token_mask, "config", None), "top_tokens", 10))
    if tokenizer is None or top <= 0 or not logger.isEnabledFor(logging.INFO):
        return None
    pairs = stats.forking_tokens(tokenizer, top=top)
    if not pairs:
        return None
    line = f"rewardkit: forking tokens {format_forking_tokens(pairs)}"
    logger.info(line)
    return line


def mask_transfer_queue_advantages(
    token_mask: Any,
    batch: KVBatchMeta,
    *,
    correct: list[bool | None] | None,
    tokenizer: Any = None,
) -> dict[str, float]:
    """Apply the entropy token mask to the batch's advantages in TransferQueue; return metrics.

    Uses the old-policy ``entropy`` V1's ``_compute_old_log_prob`` stored, with one threshold
    over the whole training batch (verl's padding rows have no valid tokens, so none is kept).
    """
    from rewardkit_verl._entropy_mask import METRIC_PREFIX, mask_advantages_nested

    keys = list(batch.keys)
    fields = tq.kv_batch_get(
        keys=keys,
        partition_id=batch.partition_id,
        select_fields=["advantages", "response_mask", "entropy", "responses"],
    )
    masked, stats = mask_advantages_nested(fields, token_mask, correct=correct)
    tq.kv_batch_put(
        keys=keys,
        partition_id=batch.partition_id,
        fields=tu.get_tensordict({"advantages": masked}),
    )
    log_forking_tokens(stats, token_mask, tokenizer)
    return stats.metrics(METRIC_PREFIX)


class RewardKitTrainerMixin:
    """Shaping before advantages and checkpointed shaping state, for any verl V1 trainer.

    Put it first in the bases, before the verl trainer it extends, and set ``_base_mode`` to
    that trainer's mode name.
    """

    #: The verl mode this trainer extends. verl switches mode-specific behaviour (replay buffer
    #: class, TransferQueue checkpoints, refill) on ``self.trainer_mode == "sync"``; a registered
    #: name such as "rewardkit" would silently turn the sync trainer into an async hybrid.
    _base_mode: ClassVar[str] = "sync"

    rewardkit: BatchShaper
    rewardkit_mask_in_loss: bool
    # Set by verl's PPOTrainer (config in __init__, tokenizer in _setup, the rest per step).
    config: Any
    tokenizer: Any
    global_steps: int

    @property
    def trainer_mode(self) -> str:
        return self._base_mode

    @trainer_mode.setter
    def trainer_mode(self, value: str) -> None:
        pass  # PPOTrainer.__init__ assigns trainer.v1.trainer_mode (our registry name)

    def __init__(self, config: Any) -> None:
        check_reward_source(config)
        # The run's one pipeline: its token terms are the ones every path below uses.
        self.rewardkit = BatchShaper(settings_from_verl_config(config))
        token_terms = self.rewardkit.pipeline.token_terms
        token_mask = self.rewardkit.pipeline.token_mask
        # clip_cov / kl_cov in the token: list select verl's own loss modes (equivalent, tested
        # in tests/masks/test_entropy_terms.py); set before the workers read the config.
        from rewardkit_verl._entropy_mask import (
            apply_verl_policy_loss,
            warn_ppo_critic_defaults,
        )

        apply_verl_policy_loss(config, token_terms)
        warn_ppo_critic_defaults(config, token_terms)
        self.rewardkit_mask_in_loss = check_token_mask_setup(
            config, has_token_mask=token_mask is not None, token_mask=token_mask
        )
        super().__init__(config)  # type: ignore[call-arg]
        logger.info("rewardkit: %r on verl trainer mode %r", self.rewardkit, self._base_mode)

    def _rewardkit_timer(self, name: str) -> Any:
        """verl's step timer (logged as ``timing_s/<name>``), when a step is running."""
        timing = getattr(self, "timing_raw", None)
        return marked_timer(name, timing) if timing is not None else nullcontext()

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        with self._rewardkit_timer("rewardkit_shaping"):
            shaped = shape_transfer_queue_batch(
                self.rewardkit, batch, tokenizer=self.tokenizer, step=self.global_steps
            )
        metrics.update(shaped.metrics)
        batch = super()._compute_advantage(batch, metrics)  # type: ignore[misc]
        token_mask = self.rewardkit.pipeline.token_mask
        if token_mask is not None and not self.rewardkit_mask_in_loss:
            with self._rewardkit_timer("rewardkit_token_mask"):
                metrics.update(
                    mask_transfer_queue_advantages(
                        token_mask, batch, correct=shaped.correct, tokenizer=self.tokenizer
                    )
                )
        if any(t is not token_mask for t in self.rewardkit.pipeline.token_terms):
            from rewardkit_verl._entropy_mask import transfer_queue_token_terms

            with self._rewardkit_timer("rewardkit_token_terms"):
                metrics.update(
                    transfer_queue_token_terms(
                        self.rewardkit.pipeline.token_terms,
                        batch,
                        correct=shaped.correct,
                        tokenizer=self.tokenizer,
                    )
                )
        return batch

    def _save_checkpoint(self) -> None:
        # Before verl writes latest_checkpointed_iteration.txt: a step resume can find has state.
        save_state(self.rewardkit.pipeline, step_folder(self.config, self.global_steps))
        super()._save_checkpoint()  # type: ignore[misc]

    def _load_checkpoint(self) -> None:
        super()._load_checkpoint()  # type: ignore[misc]
        if self.global_steps > 0:
            load_state(self.rewardkit.pipeline, resumed_step_folder(self.config))


class RewardKitPPOTrainer(RewardKitTrainerMixin, PPOTrainerSync):
    """verl's synchronous V1 trainer with rewardkit's group shaping (``trainer_mode=rewardkit``)."""

    _base_mode = "sync"


class RewardKitPPOTrainerColocateAsync(RewardKitTrainerMixin, PPOTrainerColocateAsync):
    """verl's colocated async V1 trainer with rewardkit's group shaping."""

    _base_mode = "colocate_async"


class RewardKitPPOTrainerSeparateAsync(RewardKitTrainerMixin, PPOTrainerSeparateAsync):
    """verl's separate async V1 trainer with rewardkit's group shaping."""

    _base_mode = "separate_async"


TRAINER_NAMES: dict[str, type[RewardKitTrainerMixin]] = {
    "rewardkit": RewardKitPPOTrainer,
    "rewardkit_colocate_async": RewardKitPPOTrainerColocateAsync,
    "rewardkit_separate_async": RewardKitPPOTrainerSeparateAsync,
}


def register(v1_module: Any) -> None:
    """Post-import hook for ``verl.trainer.ppo.v1``."""
    for name, cls in TRAINER_NAMES.items():
        v1_module.register_trainer(name)(cls)


# Imported before verl's module? Then the plugin's hook fired while this module was half-done.
if "rewardkit_verl._plugin" in sys.modules:
    sys.modules["rewardkit_verl._plugin"].register_deferred(__name__)
