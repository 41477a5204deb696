"""GRPOTrainer and RLOOTrainer with a rewardkit config wired in.

The mixin builds the reward functions from the config (before the user's own), sets the matching
``reward_weights``, tells the scorer per generation batch whether TRL is training or evaluating
and which G applies, and keeps stateful shaping terms (UCB counts) in every checkpoint:
``rewardkit_state.json`` is written next to the model when a checkpoint is saved - before
``trainer_state.json``, which marks a checkpoint complete - and read back by
``train(resume_from_checkpoint=...)``.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardkit import ConfigError, RewardPipeline
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
        if scorer.pipeline.token_mask is not None and not self.supports_token_mask:
            raise ConfigError(
                f"{type(self).__name__} cannot apply the config's token_mask section (TRL's "
                f"RLOOTrainer has no per-token entropy hook); remove token_mask or use "
                f"RewardKitGRPOTrainer"
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
                    raise ValueError(
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
        if scorer.pipeline.token_mask is not None:
            kwargs["token_mask"] = scorer.pipeline.token_mask
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
        if getattr(self, "token_mask", None) is not None:
            # The entropy mixin splits token-entropy diagnostics by correctness; TRL's shuffle
            # and split carry this (B,) tensor to _compute_loss with the rest of the batch.
            import torch

            n = int(out["completion_ids"].shape[0])
            out["rewardkit_correct"] = torch.tensor(
                scorer.correctness(n), dtype=torch.float32, device=out["completion_ids"].device
            )
        return out

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
        """Restore the stateful terms from a checkpoint folder; False (and a warning) when the
        folder has no rewardkit state. A corrupt or foreign file raises StateError."""
        if not self.rewardkit_pipeline.stateful_terms:
            return False
        path = Path(checkpoint) / STATE_FILENAME
        if not path.is_file():
            logger.warning(
                "rewardkit: checkpoint %s has no %s; stateful shaping terms (%s) start empty",
                checkpoint,
                STATE_FILENAME,
                ", ".join(t.name for t in self.rewardkit_pipeline.stateful_terms),
            )
            return False
        self.rewardkit_pipeline.load_state(path)
        return True

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
