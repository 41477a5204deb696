"""rewardkit's entropy token mask inside TRL's ``GRPOTrainer``, plus token-entropy diagnostics.

TRL already computes per-token entropies in ``_compute_loss`` (fused LM head, no materialised
logits) and hands them to ``get_high_entropy_mask`` when ``top_entropy_quantile < 1``; the mixin
overrides that hook, so the mask costs no extra pass over the logits.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from rewardkit import ArgumentError, ArgumentTypeError, TokenMaskComponent, metric_name
from rewardkit.masks import (
    TokenEntropyStats,
    TokenInputs,
    TokenOutput,
    by_stage,
    decode_token_counts,
    format_forking_tokens,
    policy_weights,
    run_token_term,
    sum_metric_key,
)
from rewardkit.masks._answer_span import TokenPieces

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
    #: The other token-level terms (``token:`` list): entropy_advantage, clip_cov / kl_cov,
    #: token_entropy; applied after the mask, in stage order.
    token_terms: tuple[TokenMaskComponent, ...] = ()
    #: Key of the per-rollout correctness tensor in the training inputs.
    correct_key: ClassVar[str] = "rewardkit_correct"
    #: Prefix of the logged diagnostics.
    metric_prefix: ClassVar[str] = metric_name("token_mask", "")

    def __init__(
        self,
        *args: Any,
        token_mask: TokenMaskComponent | None = None,
        token_terms: Any = None,
        **kwargs: Any,
    ):
        if token_terms is not None:
            terms = by_stage(token_terms)
            masks = [t for t in terms if t.token_stage == "mask"]
            if masks and token_mask is None:
                token_mask = masks[0]
            self.token_terms = tuple(t for t in terms if t.token_stage != "mask")
        if token_mask is not None:
            self.token_mask = token_mask
        if self.token_mask is not None and not isinstance(self.token_mask, TokenMaskComponent):
            raise ArgumentTypeError(
                f"token_mask must be a rewardkit TokenMaskComponent (e.g. pipeline.token_mask), "
                f"got {type(self.token_mask).__name__}"
            )
        if self.token_mask is not None and self.token_mask.token_stage != "mask":
            raise ArgumentTypeError(
                f"token_mask must be a mask-stage token component, got {self.token_mask.type!r} "
                f"({self.token_mask.token_stage} stage); pass it in token_terms"
            )
        super().__init__(*args, **kwargs)
        self._rewardkit_inputs: dict[str, Any] | None = None
        self._rewardkit_token_counts: dict[str, Counter[int]] = {
            "train": Counter(),
            "eval": Counter(),
        }
        # (term name, token_counts key) -> per-mode counts of the token terms' token_counts.
        self._rewardkit_term_counts: dict[tuple[str, str], dict[str, Counter[int]]] = {}
        self._rewardkit_logps: torch.Tensor | None = None
        self._rewardkit_pieces: TokenPieces | None = None  # token_text's decode cache
        self._rewardkit_penalty: torch.Tensor | None = None
        if self.token_mask is not None or self.token_terms:
            trainer: Any = self
            if trainer.top_entropy_quantile < 1.0:
                raise ArgumentError(
                    f"GRPOConfig.top_entropy_quantile={trainer.top_entropy_quantile} and a "
                    "rewardkit token term are both set; use one: leave top_entropy_quantile at "
                    "1.0 and configure the token mask (ratio, select, scope, normalizer)"
                )
            trainer.top_entropy_quantile = _HOOK_ON_QUANTILE

    # -- TRL hooks -------------------------------------------------------------------------------

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Any:
        # get_high_entropy_mask receives no inputs; keep them for the token ids and correctness.
        # A shallow copy: entropy_advantage replaces its "advantages" for this call only (TRL
        # reads them after the hook), the buffered batch keeps its own (num_iterations > 1).
        inputs = dict(inputs)
        self._rewardkit_inputs = inputs
        self._rewardkit_logps = None
        self._rewardkit_penalty = None
        try:
            loss = super()._compute_loss(model, inputs)  # type: ignore[misc]
            if self._rewardkit_penalty is not None:
                # KL-Cov's β·|log π - log π_old| on the selected tokens, aggregated as TRL
                # aggregates the policy loss (linear, so adding it per token is the same).
                loss = loss + self._rewardkit_aggregate(self._rewardkit_penalty, inputs)
            return loss
        finally:
            self._rewardkit_inputs = None
            self._rewardkit_logps = None
            self._rewardkit_penalty = None

    def _get_per_token_logps_and_entropies(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        out = super()._get_per_token_logps_and_entropies(model, *args, **kwargs)  # type: ignore[misc]
        if self._rewardkit_inputs is not None and kwargs.get("compute_entropy"):
            self._rewardkit_logps = out[0]  # the policy's log-probs of this loss, with grad
        return out

    def get_high_entropy_mask(
        self, entropies: torch.Tensor, mask: torch.Tensor, threshold: float
    ) -> torch.Tensor:
        token_mask = self.token_mask
        if token_mask is None and not self.token_terms:
            return super().get_high_entropy_mask(entropies, mask, threshold)  # type: ignore[misc]
        inputs = self._rewardkit_inputs or {}
        token_ids = inputs.get("completion_ids")
        if token_ids is not None and token_ids.shape != entropies.shape:
            token_ids = None
        correct = inputs.get(self.correct_key)
        trainer: Any = self
        base = TokenInputs(
            entropies=entropies,
            valid=mask,
            token_ids=token_ids,
            correct=correct,
            clip_low=trainer.epsilon_low,
            clip_high=trainer.epsilon_high,
        )
        out: Any
        if token_mask is None:
            out = mask.to(entropies.dtype)  # TRL then multiplies by 1 on valid tokens
        else:
            # Any mask component, a plugin's included: one call, statistics over every rank.
            result = run_token_term(token_mask, base)
            out = policy_weights(result, mask, per=self._selected_per(), as_bool=True)
            if result.stats is not None:
                self._record_entropy_stats(result.stats)
        if self.token_terms:
            out = self._apply_token_terms(base, out, inputs)
        return out

    def _selected_per(self) -> str | None:
        """How TRL's loss type divides the per-token loss, for ``normalizer: selected``:
        ``grpo``/``sapo`` average each response over its own valid tokens (``row``), ``bnpo``
        over this rank's micro-batch (``batch``). The others divide by a count the micro-batch
        does not know (``dapo``, ``cispo``, ``vespo``: the generation batch's tokens) or by no
        token count (``dr_grpo``, ``luspo``): the mask's own scope scale then stays."""
        loss_type = getattr(self, "loss_type", None)
        if loss_type in ("grpo", "sapo"):
            return "row"
        if loss_type == "bnpo":
            return "batch"
        return None

    def _apply_token_terms(self, base: TokenInputs, out: Any, inputs: dict[str, Any]) -> Any:
        """The advantage, loss and diagnostic stages on this micro-batch, in stage order, each
        term through the same contract (:func:`rewardkit.masks.run_token_term`)."""
        import dataclasses

        import torch

        trainer: Any = self
        mode = "train" if trainer.model.training else "eval"
        metrics = trainer._metrics[mode]
        valid = base.valid.bool()
        n_valid = valid.sum().float()

        def record(key: str, local: Any) -> None:
            # Sums over ranks of (value, count): a batch-global mean, equal on every rank.
            local = torch.as_tensor(local, device=n_valid.device)
            pair = torch.stack([local.float(), n_valid]).detach()
            pair = trainer.accelerator.reduce(pair, reduction="sum")
            metrics[key].append(float(pair[0] / pair[1].clamp(min=1.0)))

        for term in self.token_terms:
            logps = self._rewardkit_logps
            if term.token_stage == "loss" and logps is None:
                continue
            old = inputs.get("old_per_token_logps")
            term_inputs = dataclasses.replace(
                base,
                advantages=inputs["advantages"],
                logprobs=logps,
                old_logprobs=logps.detach() if old is None and logps is not None else old,
                weights=out,
                token_text=self._rewardkit_token_text() if term.needs_token_text else None,
            )
            result: TokenOutput = run_token_term(term, term_inputs)
            if result.advantages is not None:
                inputs["advantages"] = result.advantages
            if result.loss_scale is not None:
                out = out * result.loss_scale
            if result.penalty is not None:
                penalty = result.penalty
                if self._rewardkit_penalty is not None:
                    penalty = self._rewardkit_penalty + penalty
                self._rewardkit_penalty = penalty
            for key, value in result.sums.items():
                record(sum_metric_key(term, key), value)
            self._record_term_logs(term, result, mode, n_valid.device)
        return out

    def _record_term_logs(
        self, term: TokenMaskComponent, result: TokenOutput, mode: str, device: Any
    ) -> None:
        """A token term's ``ratios`` (numerators and denominators summed over ranks in one
        reduction), ``metrics`` (batch-global already) and ``token_counts`` (kept for
        ``log()``), whatever the term: the built-in ``token_entropy`` and a plugin's alike."""
        import torch

        trainer: Any = self
        logged = trainer._metrics[mode]
        if result.ratios:
            parts = [
                torch.as_tensor(v, device=device) for pair in result.ratios.values() for v in pair
            ]
            sums = torch.stack([p.detach().to(torch.float64).reshape(()) for p in parts])
            sums = trainer.accelerator.reduce(sums, reduction="sum").tolist()
            for k, key in enumerate(result.ratios):
                num, den = sums[2 * k], sums[2 * k + 1]
                if den > 0:
                    logged[sum_metric_key(term, key)].append(num / den)
        for key, value in result.metrics.items():
            logged[sum_metric_key(term, key)].append(float(value))
        for key, pairs in result.token_counts.items():
            counts = self._rewardkit_term_counts.setdefault(
                (term.name, key), {"train": Counter(), "eval": Counter()}
            )
            counts[mode].update(dict(pairs))

    def _rewardkit_token_text(self) -> TokenPieces:
        """token id -> its decoded piece, cached, from the trainer's tokenizer."""
        if self._rewardkit_pieces is None:
            trainer: Any = self
            tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
            self._rewardkit_pieces = TokenPieces(tokenizer)
        return self._rewardkit_pieces

    def _rewardkit_aggregate(self, per_token: torch.Tensor, inputs: dict[str, Any]) -> Any:
        """A per-token term aggregated exactly as TRL 1.16's ``_compute_loss`` aggregates the
        policy loss for the trainer's ``loss_type`` (same mask, same normaliser)."""
        trainer: Any = self
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        mode = "train" if trainer.model.training else "eval"
        gas = trainer.current_gradient_accumulation_steps if mode == "train" else 1.0
        x = per_token * mask
        loss_type = trainer.loss_type
        if loss_type in ("grpo", "sapo"):
            return (x.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / gas
        if loss_type == "bnpo":
            return x.sum() / mask.sum().clamp(min=1.0) / gas
        if loss_type == "dr_grpo":
            return x.sum() / (x.size(0) * trainer.max_completion_length) / gas
        if loss_type in ("cispo", "dapo", "vespo"):
            normalizer = (
                inputs["num_items_in_batch"].clamp(min=1.0) / trainer.accelerator.num_processes
            )
            if mode == "train":
                normalizer = normalizer * gas / trainer.args.steps_per_generation
            return x.sum() / normalizer
        if loss_type == "luspo":
            return x.sum(-1).mean() / gas
        raise ArgumentError(f"kl_cov: unknown TRL loss_type {loss_type!r}")

    def log(self, logs: dict[str, Any], start_time: float | None = None) -> None:
        trainer: Any = self
        mode = "train" if trainer.model.training else "eval"
        by_name = {t.name: t for t in self.token_terms}
        for (name, key), per_mode in self._rewardkit_term_counts.items():
            counts, term = per_mode[mode], by_name[name]
            if counts and term.logged_top_tokens > 0:
                tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
                metric = sum_metric_key(term, key)
                logs[f"eval_{metric}" if mode == "eval" else metric] = format_forking_tokens(
                    decode_token_counts(counts.most_common(term.logged_top_tokens), tokenizer)
                )
            counts.clear()
        counts = self._rewardkit_token_counts[mode] if self.token_mask is not None else None
        top = self.token_mask.logged_top_tokens if self.token_mask is not None else 0
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
