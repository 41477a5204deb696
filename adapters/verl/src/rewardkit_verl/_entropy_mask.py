"""rewardkit's entropy token mask inside verl 0.9.1's actor update.

verl has no top-ρ entropy mask and passes no entropy to policy-loss functions, so there are two
ways in; both gate only the policy-gradient term, by multiplying the *advantages* by the mask
weights (0 for dropped tokens; ``N_valid / N_kept`` of the scope for kept ones with
``normalizer: selected``). The KL and entropy-bonus terms and the clip-fraction denominators
stay on all response tokens, and the denominator stays verl's (``all``; under ``selected`` the
loss wrapper scales each response by its own ``N_valid / N_kept`` for
``loss_agg_mode=seq-mean-token-mean``, which divides each response by its length). Scaling the
advantages is exact for every policy loss that is positively homogeneous in the advantage
(vanilla/dual-clip PPO, GSPO, GPG, CISPO, clip-cov, kl-cov); dropped tokens report as unclipped.

**A. Loss wrapper** (:class:`EntropyMaskedPPOLoss`, :func:`patch_ppo_loss`): wraps
``verl.workers.utils.losses.ppo_loss``; the mask comes from the *current* policy's entropy of the
micro-batch (as the paper's code). Needs ``actor_rollout_ref.actor.calculate_entropy=True``.
``scope: global`` gathers the micro-batch over the data-parallel group verl passes in.

**B. Advantage masking on the driver** (:func:`mask_advantages`, :func:`mask_advantages_nested`,
:func:`apply_entropy_mask_to_batch`): after ``_compute_advantage``, from the *old*-policy entropy
V1's ``_compute_old_log_prob`` stores as ``entropy`` (equal to the current one on-policy). One
threshold over the whole training batch, no patching, and forking tokens can be decoded there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rewardkit import RewardKitError, TokenMaskComponent
from rewardkit.masks import (
    EntropyTopRatioMask,
    TokenEntropyStats,
    normalizer_scale,
    token_entropy_stats,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "EntropyMaskedPPOLoss",
    "EntropyNotComputedError",
    "apply_entropy_mask_to_batch",
    "mask_advantages",
    "mask_advantages_nested",
    "patch_ppo_loss",
]

METRIC_PREFIX = "rewardkit/token_mask/"

_LOSS_HINT = (
    "verl is not configured to compute entropy in the actor update, so the rewardkit entropy "
    "mask has nothing to select on: set actor_rollout_ref.actor.calculate_entropy=True (entropy "
    "is otherwise only computed when actor.entropy_coeff != 0)"
)
_BATCH_HINT = (
    "the batch has no old-policy entropy ({key!r}). verl's V1 _compute_old_log_prob stores it, "
    "except with algorithm.rollout_correction.bypass_mode=True (old log-probs then come from the "
    "rollout engine and no entropy is computed): turn bypass mode off, or mask in the loss "
    "instead (rewardkit_verl.patch_ppo_loss with actor_rollout_ref.actor.calculate_entropy=True)"
)


class EntropyNotComputedError(RewardKitError, ValueError):
    """verl was not set up to compute the entropies the token mask needs."""


def _mask_and_stats(
    token_mask: TokenMaskComponent,
    entropy: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    token_ids: torch.Tensor | None,
    correct: Any,
    group: Any,
    gather_stats: bool,
) -> tuple[torch.Tensor, TokenEntropyStats]:
    """Float weights (mask × normaliser scale) and statistics from any token mask component."""
    if isinstance(token_mask, EntropyTopRatioMask):
        result = token_mask.apply(
            entropy,
            response_mask,
            token_ids=token_ids,
            correct=correct,
            group=group,
            gather_stats=gather_stats,
        )
        assert result.stats is not None
        return result.weights, result.stats
    weights = token_mask.weights(entropy, response_mask).float()
    stats = token_entropy_stats(
        entropy,
        response_mask,
        kept_mask=weights > 0,
        token_ids=token_ids,
        correct=correct,
        group=group,
        gather=gather_stats,
    )
    return weights, stats


def _per_row_selected_weights(kept: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``kept`` as float32 weights scaled by each row's ``N_valid / N_kept`` (0 where none)."""
    import torch

    scale = normalizer_scale(kept, valid, "sequence", "selected")
    return kept.to(torch.float32) * scale.to(torch.float32)


def mask_advantages(
    advantages: torch.Tensor,
    entropy: torch.Tensor,
    response_mask: torch.Tensor,
    token_mask: TokenMaskComponent,
    *,
    token_ids: torch.Tensor | None = None,
    correct: Any = None,
    group: Any = None,
) -> tuple[torch.Tensor, TokenEntropyStats]:
    """Padded (B x R) advantages with the token mask applied: zero for dropped tokens, scaled by
    ``N_valid / N_kept`` for kept ones under ``normalizer: selected``.

    Returns the new advantages (a new tensor, same dtype) and the token-entropy statistics
    (``token_ids``, e.g. ``responses``, give the forking tokens; ``correct`` (B,) the
    correct/incorrect means). ``advantages`` may be (B,) or (B, 1) and is broadcast.
    """
    weights, stats = _mask_and_stats(
        token_mask,
        entropy,
        response_mask,
        token_ids=token_ids,
        correct=correct,
        group=group,
        gather_stats=True,
    )
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    return (advantages * weights).to(advantages.dtype), stats


def _nested_like(padded: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The first ``len_i`` entries of each padded row, as a jagged tensor sharing ``like``'s
    offsets (so element-wise ops between the two are allowed)."""
    import torch

    lengths = like.offsets().diff()
    keep = torch.arange(padded.shape[1], device=padded.device)[None, :] < lengths[:, None]
    return torch.nested.nested_tensor_from_jagged(
        padded[keep].to(like.dtype),
        offsets=like.offsets(),
        # Without these, to_padded_tensor() pads to the total length.
        min_seqlen=int(lengths.min()) if lengths.numel() else 0,
        max_seqlen=int(lengths.max()) if lengths.numel() else 0,
    )


def _padded(x: torch.Tensor) -> torch.Tensor:
    return x.to_padded_tensor(0.0) if x.is_nested else x


def mask_advantages_nested(
    fields: Any,
    token_mask: TokenMaskComponent,
    *,
    correct: Any = None,
    entropy_key: str = "entropy",
) -> tuple[torch.Tensor, TokenEntropyStats]:
    """:func:`mask_advantages` for verl V1's TransferQueue layout.

    ``fields`` maps ``advantages``, ``response_mask`` and ``entropy`` (and optionally
    ``responses``) to jagged (B, j) tensors, as ``tq.kv_batch_get(..., select_fields=[...])``
    returns them after ``_compute_advantage``. Returns the masked advantages as a jagged tensor
    with the same offsets, ready for ``tq.kv_batch_put``, and the statistics.
    """
    if entropy_key not in fields:
        raise EntropyNotComputedError(_BATCH_HINT.format(key=entropy_key))
    advantages = fields["advantages"]
    token_ids = fields.get("responses", None)
    masked, stats = mask_advantages(
        _padded(advantages),
        _padded(fields[entropy_key]).float(),
        _padded(fields["response_mask"]),
        token_mask,
        token_ids=None if token_ids is None else _padded(token_ids),
        correct=correct,
    )
    return (_nested_like(masked, advantages) if advantages.is_nested else masked), stats


def apply_entropy_mask_to_batch(
    data: Any,
    token_mask: TokenMaskComponent,
    *,
    entropy_key: str = "entropy",
    correct: Any = None,
) -> TokenEntropyStats:
    """Mask ``data.batch["advantages"]`` of a padded ``DataProto`` in place, after the advantage
    estimator ran, from ``data.batch[entropy_key]``; returns the statistics.

    ``correct`` defaults to ``data.non_tensor_batch["rewardkit_correct"]`` when present.
    Raises :class:`EntropyNotComputedError` when the batch has no entropy.
    """
    batch = data.batch
    if entropy_key not in batch:
        raise EntropyNotComputedError(_BATCH_HINT.format(key=entropy_key))
    if correct is None:
        correct = data.non_tensor_batch.get("rewardkit_correct")
        if correct is not None:
            correct = [None if c is None else float(c) for c in correct]
    masked, stats = mask_advantages(
        batch["advantages"],
        batch[entropy_key].float(),
        batch["response_mask"],
        token_mask,
        token_ids=batch.get("responses", None),
        correct=correct,
    )
    batch["advantages"] = masked
    return stats


class EntropyMaskedPPOLoss:
    """verl's ``ppo_loss`` with rewardkit's token mask on the policy-gradient term.

    Same signature as ``verl.workers.utils.losses.ppo_loss`` —
    ``(config, model_output, data, dp_group=None) -> (loss, metrics)`` — so verl can bind it
    with ``functools.partial(..., config=actor_config)``. Per micro-batch it pads
    ``model_output["entropy"]`` to B x R, builds the mask weights over ``response_mask``
    (``scope: global`` all-gathers over ``dp_group``, a collective every data-parallel rank
    reaches), multiplies the advantages by them and calls the original loss. The statistics of
    this rank's micro-batch (or the gathered one for ``global``) are added to the metrics as
    ``rewardkit/token_mask/<stat>``.

    Raises :class:`EntropyNotComputedError` when verl computed no entropy.
    """

    def __init__(self, token_mask: TokenMaskComponent, base: Callable[..., Any] | None = None):
        if base is None:
            from verl.workers.utils import losses

            base = getattr(losses.ppo_loss, "base", losses.ppo_loss)  # never wrap a wrapper
        self.token_mask = token_mask
        self.base = base

    def __repr__(self) -> str:
        return f"EntropyMaskedPPOLoss({self.token_mask!r})"

    def __call__(
        self, config: Any, model_output: Any, data: Any, dp_group: Any = None
    ) -> tuple[Any, dict[str, Any]]:
        from verl.utils.metric import AggregationType, Metric
        from verl.workers.utils.padding import no_padding_2_padding

        entropy = model_output.get("entropy", None)
        if entropy is None:
            raise EntropyNotComputedError(_LOSS_HINT)
        entropy = no_padding_2_padding(entropy.detach(), data).float()
        padded = data.select("response_mask", "responses", strict=False).to_padded_tensor()
        weights, stats = _mask_and_stats(
            self.token_mask,
            entropy,
            padded["response_mask"],
            token_ids=padded.get("responses", None),
            correct=None,
            group=dp_group,
            gather_stats=False,  # verl averages the per-rank metrics itself
        )
        if (
            getattr(config, "loss_agg_mode", None) == "seq-mean-token-mean"
            and isinstance(self.token_mask, EntropyTopRatioMask)  # 0/1 weights: soft ones stay
            and self.token_mask.config.normalizer == "selected"
        ):
            # This mode divides each response by its own token count, so the kept-token mean
            # needs each response's N_valid / N_kept, whatever scope chose the tokens.
            weights = _per_row_selected_weights(weights > 0, padded["response_mask"].bool())
        advantages = data["advantages"]
        if advantages.is_nested:
            masked = advantages * _nested_like(weights, advantages)
        else:
            masked = advantages * weights.to(advantages.dtype)
        # A shallow copy: the caller's micro-batch keeps its advantages (ppo_epochs > 1).
        data = data.copy()
        data["advantages"] = masked
        loss, metrics = self.base(config, model_output, data, dp_group)
        for key, value in stats.metrics(METRIC_PREFIX).items():
            metrics[key] = Metric(value=value, aggregation=AggregationType.MEAN)
        return loss, metrics


def patch_ppo_loss(token_mask: TokenMaskComponent) -> Callable[[], None]:
    """Replace verl's ``ppo_loss`` with :class:`EntropyMaskedPPOLoss` where verl looks it up:
    ``verl.workers.utils.losses`` and the modules that imported the name already
    (``verl.workers.engine_workers``, ``verl.trainer.distillation.losses``), in this process.

    Call it in each worker process before the actor worker is built (e.g. from a verl plugin
    import). Returns a function that restores the originals. Pinned to verl 0.9.x, whose actor
    binds ``partial(ppo_loss, config=...)`` in worker init.
    """
    import sys

    from verl.workers.utils import losses

    wrapper = EntropyMaskedPPOLoss(token_mask)
    patched: list[tuple[Any, Any]] = []
    for name in (
        "verl.workers.utils.losses",
        "verl.workers.engine_workers",
        "verl.trainer.distillation.losses",
    ):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ppo_loss", None) is not None:
            patched.append((module, module.ppo_loss))
            module.ppo_loss = wrapper
    assert losses.ppo_loss is wrapper

    def restore() -> None:
        for module, original in patched:
            module.ppo_loss = original

    return restore
