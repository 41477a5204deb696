"""rewardkit's entropy token mask inside TRL's ``GRPOTrainer``, plus token-entropy diagnostics.

TRL already computes per-token entropies in ``_compute_loss`` (fused LM head, no materialised
logits) and hands them to ``get_high_entropy_mask`` when ``top_entropy_quantile < 1``; the mixin
overrides that hook, so the mask costs no extra pass over the logits.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from rewardkit import TokenMaskComponent
from rewardkit.masks import (
    EntropyTopRatioMask,
    TokenEntropyStats,
    decode_token_counts,
    format_forking_tokens,
    normalizer_scale,
    token_entropy_stats,
)

if TYPE_CHECKING:
    import torch

__all__ = ["EntropyMaskMixin"]

# TRL only calls ``get_high_entropy_mask`` when ``top_entropy_quantile < 1``. The mixin sets this
# value to switch the call on; its ``threshold`` argument (1 - this) is ignored by the override.
_HOOK_ON_QUANTILE = 0.5


class EntropyMaskMixin:
    """Mixin for ``trl.GRPOTrainer``: apply a rewardkit token mask to the entropies TRL computes,
    and log token-entropy diagnostics.

    Usage (the mixin goes first in the bases)::

        class MyTrainer(EntropyMaskMixin, GRPOTrainer): ...

        trainer = MyTrainer(model=..., args=GRPOConfig(...), ..., token_mask=pipeline.token_mask)

    Constructor contract:
        ``token_mask`` (keyword, ``TokenMaskComponent | None``, default ``None``) is taken out
        of the keyword arguments before ``GRPOTrainer.__init__``; a subclass may instead set it
        as a class attribute. ``None`` leaves TRL's own behaviour (``top_entropy_quantile``)
        untouched. With a mask, ``args.top_entropy_quantile`` must stay at 1.0 (the two would
        compete); the mixin then sets the trainer's ``top_entropy_quantile`` below 1 so TRL calls
        the hook on every micro-batch.

    What it does per micro-batch (``get_high_entropy_mask``, a collective: every rank calls it):
        * the mask over ``completion_mask × tool_mask``: a bool mask for ``normalizer: all``
          (TRL's semantics, masked tokens stay in the denominator), float weights scaled by
          ``N_valid / N_kept`` for ``normalizer: selected`` - per response for ``loss_type``
          ``grpo``/``sapo``, over the rank's micro-batch for ``bnpo`` (both then exactly the
          kept-token mean), over the mask's scope for the others; TRL multiplies only the
          policy-gradient term by it (KL unmasked; the entropy bonus uses the same tokens);
        * diagnostics over the tokens of all ranks (one all-gather), appended to TRL's
          ``_metrics`` as ``rewardkit/token_mask/<stat>`` (entropy mean/p50/p80/p95,
          share_over_threshold, threshold, kept_share, entropy_correct/entropy_incorrect);
        * the kept tokens' ids are counted; each ``log()`` adds the most frequent ones as text,
          ``rewardkit/token_mask/forking_tokens`` (the mask's ``top_tokens`` config; 0 disables).

    Correct versus incorrect entropy needs per-rollout correctness, which TRL does not track:
    a composing trainer puts a (B,) float tensor under ``inputs["rewardkit_correct"]`` (1 correct,
    0 not, NaN unknown) in the dict ``_generate_and_score_completions`` returns; TRL's shuffle
    and split carry it to ``_compute_loss``.
    """

    token_mask: TokenMaskComponent | None = None
    #: Key of the per-rollout correctness tensor in the training inputs.
    correct_key: ClassVar[str] = "rewardkit_correct"
    #: Prefix of the logged diagnostics.
    metric_prefix: ClassVar[str] = "rewardkit/token_mask/"

    def __init__(self, *args: Any, token_mask: TokenMaskComponent | None = None, **kwargs: Any):
        if token_mask is not None:
            self.token_mask = token_mask
        if self.token_mask is not None and not isinstance(self.token_mask, TokenMaskComponent):
            raise TypeError(
                f"token_mask must be a rewardkit TokenMaskComponent (e.g. pipeline.token_mask), "
                f"got {type(self.token_mask).__name__}"
            )
        super().__init__(*args, **kwargs)
        self._rewardkit_inputs: dict[str, Any] | None = None
        self._rewardkit_token_counts: dict[str, Counter[int]] = {
            "train": Counter(),
            "eval": Counter(),
        }
        if self.token_mask is not None:
            trainer: Any = self
            if trainer.top_entropy_quantile < 1.0:
                raise ValueError(
                    f"GRPOConfig.top_entropy_quantile={trainer.top_entropy_quantile} and a "
                    "rewardkit token_mask are both set; use one: leave top_entropy_quantile at "
                    "1.0 and configure token_mask (ratio, select, scope, normalizer)"
                )
            trainer.top_entropy_quantile = _HOOK_ON_QUANTILE

    # -- TRL hooks -------------------------------------------------------------------------------

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Any:
        # get_high_entropy_mask receives no inputs; keep them for the token ids and correctness.
        self._rewardkit_inputs = inputs
        try:
            return super()._compute_loss(model, inputs)  # type: ignore[misc]
        finally:
            self._rewardkit_inputs = None

    def get_high_entropy_mask(
        self, entropies: torch.Tensor, mask: torch.Tensor, threshold: float
    ) -> torch.Tensor:
        token_mask = self.token_mask
        if token_mask is None:
            return super().get_high_entropy_mask(entropies, mask, threshold)  # type: ignore[misc]
        inputs = self._rewardkit_inputs or {}
        token_ids = inputs.get("completion_ids")
        if token_ids is not None and token_ids.shape != entropies.shape:
            token_ids = None
        correct = inputs.get(self.correct_key)
        if isinstance(token_mask, EntropyTopRatioMask):
            result = token_mask.apply(entropies, mask, token_ids=token_ids, correct=correct)
            stats = result.stats
            if token_mask.config.normalizer == "all":
                out = result.mask
            else:
                out = self._selected_weights(result.mask, mask, result.weights)
        else:  # another plugin's mask: its weights, and statistics computed beside it
            out = token_mask.weights(entropies, mask)
            stats = token_entropy_stats(
                entropies, mask, kept_mask=out > 0, token_ids=token_ids, correct=correct
            )
        if stats is not None:
            self._record_entropy_stats(stats)
        return out

    def log(self, logs: dict[str, Any], start_time: float | None = None) -> None:
        trainer: Any = self
        mode = "train" if trainer.model.training else "eval"
        counts = self._rewardkit_token_counts[mode] if self.token_mask is not None else None
        top = getattr(getattr(self.token_mask, "config", None), "top_tokens", 10)
        if counts and top > 0:
            tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
            key = self.metric_prefix + "forking_tokens"
            logs[f"eval_{key}" if mode == "eval" else key] = format_forking_tokens(
                decode_token_counts(counts.most_common(top), tokenizer)
            )
        if counts is not None:
            counts.clear()
        super().log(logs, start_time)  # type: ignore[misc]

    # -- helpers ---------------------------------------------------------------------------------

    def _selected_weights(
        self, kept: torch.Tensor, mask: torch.Tensor, scope_weights: torch.Tensor
    ) -> torch.Tensor:
        """Weights that turn TRL's denominator into the kept-token count for ``selected``.

        TRL's loss types divide by different token counts, so the scale that makes "divide by
        the kept tokens" exact depends on it: ``grpo``/``sapo`` average each response over its
        own valid tokens (so each row gets ``n_valid / n_kept`` of that row), ``bnpo`` averages
        over this rank's micro-batch (its ``N_valid / N_kept``). The other loss types divide by a
        count the micro-batch does not know (``dapo``, ``cispo``, ``vespo``: the generation
        batch's tokens) or by no token count at all (``dr_grpo``, ``luspo``): they get the
        mask's own scope scale.
        """
        loss_type = getattr(self, "loss_type", None)
        if loss_type in ("grpo", "sapo"):
            scope = "sequence"
        elif loss_type == "bnpo":
            scope = "batch"
        else:
            return scope_weights
        valid = mask.bool()
        scale = normalizer_scale(kept, valid, scope, "selected")
        return kept.to(scope_weights.dtype) * scale.to(scope_weights.dtype)

    def _record_entropy_stats(self, stats: TokenEntropyStats) -> None:
        if stats.num_tokens == 0:  # nothing valid on any rank: no numbers rather than NaNs
            return
        trainer: Any = self
        mode = "train" if trainer.model.training else "eval"
        # The statistics were computed from the tokens of every rank, so they are already
        # batch-global and equal on all ranks; TRL averages them over the logging window.
        for key, value in stats.metrics(self.metric_prefix).items():
            trainer._metrics[mode][key].append(value)
        self._rewardkit_token_counts[mode].update(dict(stats.kept_token_counts))
