"""GRPOTrainer and RLOOTrainer with a rewardkit config wired in.

The mixin builds the reward functions from the config (before the user's own), sets the matching
``reward_weights``, tells the scorer per generation batch whether TRL is training or evaluating
and which G applies, and keeps stateful components (UCB counts) in every checkpoint:
``rewardkit_state.json`` is written next to the model when a checkpoint is saved - before
``trainer_state.json``, which marks a checkpoint complete - and read back by
``train(resume_from_checkpoint=...)``, where state that does not match the config is a
``StateError`` rather than a silent reset.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardkit import ArgumentError, BatchError, ConfigError, RewardPipeline
from rewardkit.shaping import logprob_consumers
from rewardkit_trl._reward_funcs import build_reward_funcs
from rewardkit_trl._scorer import ConfigLike, FailedAs, RewardKitScorer

if TYPE_CHECKING:
    import torch

__all__ = ["STATE_FILENAME", "RewardKitTrainerMixin"]

logger = logging.getLogger("rewardkit_trl")

#: The file holding the state of stateful shaping terms inside each checkpoint folder.
STATE_FILENAME = "rewardkit_state.json"


class RewardKitTrainerMixin:
    """Wires a rewardkit config into a TRL online trainer (GRPOTrainer, RLOOTrainer).

    Put it first in the bases: ``class MyTrainer(RewardKitTrainerMixin, GRPOTrainer)``. It takes
    ``rewardkit_config`` (a path, mapping, config or pipeline) after the model; the config's
    rewards and shaping terms become the first reward functions, ``reward_funcs`` adds your own
    after them, and ``args.reward_weights`` (if set) weighs your own functions only.
    ``reference_column`` and ``failed_as`` are :class:`RewardKitScorer`'s (ignored when
    ``rewardkit_config`` is a scorer, whose own settings apply).
    """

    #: Whether the trainer can apply a ``token_mask:`` section (GRPOTrainer's entropy hook).
    supports_token_mask: bool = False

    rewardkit_scorer: RewardKitScorer
    #: Where the last batch's completion log-probs came from: "old_policy" (TRL's pass),
    #: "sampling" (vLLM), "forward_pass" (rewardkit's own), or None (no component needs them).
    rewardkit_logprob_source: str | None = None

    def __init__(
        self,
        model: Any,
        rewardkit_config: ConfigLike | RewardKitScorer,
        *,
        reward_funcs: Any = None,
        reference_column: str | None = None,
        failed_as: FailedAs = "zero",
        args: Any = None,
        **kwargs: Any,
    ) -> None:
        scorer = (
            rewardkit_config
            if isinstance(rewardkit_config, RewardKitScorer)
            else RewardKitScorer(
                rewardkit_config, reference_column=reference_column, failed_as=failed_as
            )
        )
        if scorer.pipeline.token_terms and not self.supports_token_mask:
            raise ConfigError(
                f"{type(self).__name__} cannot apply the config's token-level terms (the "
                f"token_mask section or the token: list; TRL's RLOOTrainer has no per-token "
                f"entropy hook); remove token_mask / token or use RewardKitGRPOTrainer"
            )
        if reward_funcs is None:
            own = []
        else:
            own = list(reward_funcs) if isinstance(reward_funcs, list) else [reward_funcs]
        rk_funcs, rk_weights = build_reward_funcs(scorer, None)
        own_weights = [1.0] * len(own)
        if args is not None:
            if args.reward_weights is not None:
                if len(args.reward_weights) != len(own):
                    raise ArgumentError(
                        f"args.reward_weights has {len(args.reward_weights)} entries, but it "
                        f"weighs your own reward_funcs ({len(own)}); rewardkit's functions take "
                        f"their weights from the config"
                    )
                own_weights = [float(w) for w in args.reward_weights]
            # A copy: the caller's args stay reusable for another trainer.
            args = copy.copy(args)
            args.reward_weights = rk_weights + own_weights
        processing = kwargs.get("reward_processing_classes")
        if processing is not None:
            processing = processing if isinstance(processing, list) else [processing]
            kwargs["reward_processing_classes"] = [None] * len(rk_funcs) + processing
        if scorer.pipeline.token_terms:
            kwargs["token_terms"] = scorer.pipeline.token_terms
        self.rewardkit_scorer = scorer
        super().__init__(model, reward_funcs=rk_funcs + own, args=args, **kwargs)  # type: ignore[call-arg]
        if args is None:
            import torch

            self.reward_weights: torch.Tensor = torch.tensor(
                rk_weights + own_weights, dtype=torch.float32
            )

    @property
    def rewardkit_pipeline(self) -> RewardPipeline:
        """The pipeline scoring every generation batch."""
        return self.rewardkit_scorer.pipeline

    # ------------------------------------------------------------------ per batch

    def _generate_and_score_completions(self, inputs: Any) -> Any:
        training = bool(self.model.training)  # type: ignore[attr-defined]
        scorer = self.rewardkit_scorer
        scorer.training = training
        scorer.num_generations = (
            self.num_generations if training else self.num_generations_eval  # type: ignore[attr-defined]
        )
        out = super()._generate_and_score_completions(inputs)  # type: ignore[misc]
        if getattr(self, "token_mask", None) is not None or getattr(self, "token_terms", ()):
            # The entropy mixin splits token-entropy diagnostics by correctness; TRL's shuffle
            # and split carry this (B,) tensor to _compute_loss with the rest of the batch.
            import torch

            n = int(out["completion_ids"].shape[0])
            out["rewardkit_correct"] = torch.tensor(
                scorer.correctness(n), dtype=torch.float32, device=out["completion_ids"].device
            )
        return out

    # ------------------------------------------------------------------ completion log-probs

    @property
    def rewardkit_needs_logprobs(self) -> bool:
        """Whether a component of the config reads ``completion_logprobs`` (``unlikeliness``)."""
        pipe = self.rewardkit_pipeline
        return bool(logprob_consumers((*pipe.shaping, *pipe.diagnostics)))

    def _rewardkit_trl_computes_old_logps(self) -> bool:
        """Whether TRL computes the old-policy log-probs before scoring (TRL 1.16's condition):
        RLOOTrainer always; GRPOTrainer when generation and optimisation steps are misaligned,
        or with vLLM's importance-sampling correction."""
        from trl import RLOOTrainer

        if isinstance(self, RLOOTrainer):
            return True
        args = self.args  # type: ignore[attr-defined]
        generate_every = args.steps_per_generation * self.num_iterations  # type: ignore[attr-defined]
        return args.gradient_accumulation_steps % generate_every != 0 or bool(
            getattr(self, "use_vllm", False)
            and getattr(self, "vllm_importance_sampling_correction", False)
        )

    def _generate(self, prompts: Any) -> Any:
        out = super()._generate(prompts)  # type: ignore[misc]
        if self.rewardkit_needs_logprobs:
            # GRPOTrainer: (prompt_ids, completion_ids, tool_mask, completions, logprobs, ...);
            # RLOOTrainer: (prompt_ids, completion_ids, completions).
            grpo = len(out) > 5
            self._rewardkit_generated = (
                out[0],
                out[2] if grpo else None,
                out[4] if grpo else None,
            )
            self._rewardkit_old_logps = None
            self._rewardkit_capture = self._rewardkit_trl_computes_old_logps()
        return out

    def _get_per_token_logps_and_entropies(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        out = super()._get_per_token_logps_and_entropies(model, *args, **kwargs)  # type: ignore[misc]
        if getattr(self, "_rewardkit_capture", False) and model is self.model:  # type: ignore[attr-defined]
            import torch

            if not torch.is_grad_enabled():
                # The first no-grad pass of the policy after generation is TRL's old-policy one.
                self._rewardkit_old_logps = out[0]
                self._rewardkit_capture = False
        return out

    def _calculate_rewards(
        self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any
    ) -> Any:
        if not self.rewardkit_needs_logprobs:
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # type: ignore[misc]
        rows = self.rewardkit_logprob_rows(inputs, completion_ids_list)
        # TRL passes every input column to the reward functions: this one reaches the scorer.
        for example, row in zip(inputs, rows):
            example["completion_logprobs"] = row
        try:
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # type: ignore[misc]
        finally:
            for example in inputs:
                example.pop("completion_logprobs", None)

    def rewardkit_logprob_rows(self, inputs: Any, completion_ids_list: Any) -> list[list[float]]:
        """Each completion's sampled-token log-probs for this generation batch.

        TRL's old-policy log-probs when it computed them before scoring, else the vLLM
        sampling log-probs, else one no-grad forward pass of the policy (text-only); tool-result
        tokens (``tool_mask`` 0) are left out, as the policy did not sample them.
        """
        self._rewardkit_capture = False
        prompt_ids, tool_mask, sampling = getattr(self, "_rewardkit_generated", (None,) * 3)
        old = getattr(self, "_rewardkit_old_logps", None)
        self._rewardkit_old_logps = None
        lengths = [len(ids) for ids in completion_ids_list]
        if old is not None:
            self.rewardkit_logprob_source = "old_policy"
            rows = [old[i, :n].float().tolist() for i, n in enumerate(lengths)]
        elif sampling is not None:
            self.rewardkit_logprob_source = "sampling"
            # vLLM gives None for a token whose log-prob it could not compute: left out.
            rows = [[float(x) for x in lp if x is not None] for lp in sampling]
            tool_mask = None if any(None in lp for lp in sampling) else tool_mask
        else:
            if prompt_ids is None:
                raise BatchError("rewardkit: no generation recorded before scoring")
            if any(k in inputs[0] for k in ("image", "images")):
                raise BatchError(
                    "rewardkit's own log-prob pass is text-only; with image inputs generate with "
                    "vLLM (use_vllm=True), whose sampling log-probs rewardkit reads"
                )
            self.rewardkit_logprob_source = "forward_pass"
            logps = self._rewardkit_forward_logps(prompt_ids, completion_ids_list)
            rows = [logps[i, :n].float().tolist() for i, n in enumerate(lengths)]
        if tool_mask is not None:
            rows = [[v for v, m in zip(row, mask) if m] for row, mask in zip(rows, tool_mask)]
        return rows

    def _rewardkit_forward_logps(self, prompt_ids: Any, completion_ids: Any) -> torch.Tensor:
        """One no-grad forward pass of the policy over prompt + completion, as TRL's own."""
        import torch
        from trl.models.utils import disable_gradient_checkpointing
        from trl.trainer.utils import pad

        device = self.accelerator.device  # type: ignore[attr-defined]
        pad_id = getattr(self.processing_class, "pad_token_id", None)  # type: ignore[attr-defined]
        pad_id = 0 if pad_id is None else pad_id

        def padded(rows: Any, side: str, value: int) -> torch.Tensor:
            tensors = [torch.tensor(r, dtype=torch.long) for r in rows]
            return pad(tensors, padding_value=value, padding_side=side).to(device)

        ones = [[1] * len(r) for r in prompt_ids], [[1] * len(r) for r in completion_ids]
        ids = torch.cat(
            [padded(prompt_ids, "left", pad_id), padded(completion_ids, "right", pad_id)], dim=1
        )
        mask = torch.cat([padded(ones[0], "left", 0), padded(ones[1], "right", 0)], dim=1)
        keep = max((len(r) for r in completion_ids), default=0)
        training = bool(self.model.training)  # type: ignore[attr-defined]
        args = self.args  # type: ignore[attr-defined]
        size = args.per_device_train_batch_size if training else args.per_device_eval_batch_size
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, args.gradient_checkpointing_kwargs),  # type: ignore[attr-defined]
        ):
            logps, _, _ = super()._get_per_token_logps_and_entropies(  # type: ignore[misc]
                self.model,  # type: ignore[attr-defined]
                ids,
                mask,
                keep,
                batch_size=size,
            )
        return logps

    # ------------------------------------------------------------------ state in checkpoints

    def save_rewardkit_state(self, output_dir: str | os.PathLike[str]) -> Path | None:
        """Write the stateful shaping terms' state into ``output_dir`` (main process only).

        Every rank holds the same state (each scores the same gathered batch), so the main
        process's copy is the run's.
        """
        if not self.rewardkit_pipeline.stateful_terms:
            return None
        if not self.args.should_save:  # type: ignore[attr-defined]
            return None
        path = Path(output_dir) / STATE_FILENAME
        self.rewardkit_pipeline.save_state(path)
        return path

    def load_rewardkit_state(self, checkpoint: str | os.PathLike[str]) -> bool:
        """Restore the stateful components from a checkpoint folder (``RewardPipeline.
        resume_state``): True when state was loaded, False when there was none to load.

        Raises ``StateError`` when the file is corrupt, foreign or too large, when its state does
        not match the config's stateful components by name (missing or unexpected ones), or when
        the folder has no state file but the config has stateful components - unless the
        config sets ``allow_partial_state``, which turns the last two into a warning each.
        """
        return self.rewardkit_pipeline.resume_state(Path(checkpoint) / STATE_FILENAME)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        # Trainer._save_checkpoint calls save_model first, then writes trainer_state.json: the
        # state file lands in every checkpoint before it counts as complete, and next to a final
        # trainer.save_model() too.
        super().save_model(output_dir, _internal_call)  # type: ignore[misc]
        self.save_rewardkit_state(output_dir if output_dir is not None else self.args.output_dir)  # type: ignore[attr-defined]

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        # Trainer calls this on every rank when resuming (also under DeepSpeed and FSDP), the
        # hook TRL itself uses to restore its adaptive-entropy state.
        super()._load_optimizer_and_scheduler(checkpoint)  # type: ignore[misc]
        if checkpoint is not None:
            self.load_rewardkit_state(checkpoint)
