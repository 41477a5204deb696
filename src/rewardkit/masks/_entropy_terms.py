"""Entropy-preserving token terms: entropy-based advantage, Clip-Cov and KL-Cov.

* :func:`entropy_advantage` - Cheng et al., arXiv 2506.14758:
  ``A'_t = A_t + min(alpha * H_t.detach(), |A_t| / kappa)``; with ``kappa > 1`` the added term
  never flips the sign of ``A_t``.
* :func:`covariance`, :func:`kl_cov_select`, :func:`clip_cov_select` and the per-token losses
  :func:`clip_cov_per_token_loss` / :func:`kl_cov_per_token_loss` - Cui et al., arXiv 2505.22617,
  with the defaults and edge cases of verl 0.9.1's ``compute_policy_loss_clip_cov`` /
  ``compute_policy_loss_kl_cov`` (``verl/trainer/ppo/core_algos.py``):

  - ``Cov_t = (log π_t - mean log π) · (A_t - mean A)``, the means over the valid tokens of the
    micro-batch, computed on detached values;
  - KL-Cov keeps the top ``max(1, int(k · N))`` valid tokens by ``Cov_t`` (``torch.topk``; none
    when there is no valid token);
  - Clip-Cov draws ``min(max(1, int(r · N)), |C|)`` tokens at random (``torch.randperm``) from
    the candidates ``C = {valid t : ω_low < Cov_t < ω_high}`` minus the tokens PPO's clip already
    clipped. The bounds are strict and at least one token is drawn, as in verl (the paper writes
    ``≤`` and ``int(r · N)``; the two differ only on ties with a bound and for ``r · N < 1``).

torch is imported inside the functions, so ``import rewardkit`` stays torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rewardkit._errors import ArgumentError, BatchError

if TYPE_CHECKING:
    import torch

__all__ = [
    "clip_cov_per_token_loss",
    "clip_cov_select",
    "covariance",
    "entropy_advantage",
    "kl_cov_per_token_loss",
    "kl_cov_select",
    "ppo_clipped",
]

#: Defaults of verl 0.9.1 (``PolicyLossConfig``) and of the paper's code.
CLIP_COV_RATIO = 2e-4
CLIP_COV_LOWER = 1.0
CLIP_COV_UPPER = 5.0
KL_COV_RATIO = 2e-4
KL_COV_COEF = 0.1  # verl's PolicyLossConfig.ppo_kl_coef (its loss function falls back to 1)
#: arXiv 2506.14758 (v4, §4 "RL Training Configuration"): "We fix κ to 2 throughout all
#: experiments, and set α to 0.4 for GRPO and 0.1 for PPO." rewardkit's α is the GRPO one.
ENTROPY_ADV_ALPHA = 0.4
ENTROPY_ADV_ALPHA_PPO = 0.1
ENTROPY_ADV_KAPPA = 2.0


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _broadcast_advantages(advantages: Any, like: torch.Tensor) -> torch.Tensor:
    """(B,), (B, 1) or (B, T) advantages as a B x T tensor."""
    if not _is_tensor(advantages):
        raise BatchError(f"advantages must be a torch tensor, got {type(advantages).__name__}")
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    if advantages.dim() != 2 or advantages.shape[0] != like.shape[0]:
        raise BatchError(
            f"advantages {tuple(advantages.shape)} must be (B,), (B, 1) or (B, T) for "
            f"B x T = {tuple(like.shape)}"
        )
    if advantages.shape[1] not in (1, like.shape[1]):
        raise BatchError(
            f"advantages {tuple(advantages.shape)} do not broadcast to {tuple(like.shape)}"
        )
    return advantages.expand(like.shape)


def _check_bt(name: str, x: Any) -> torch.Tensor:
    if not _is_tensor(x):
        raise BatchError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise BatchError(f"{name} must be B x T (2-D), got shape {tuple(x.shape)}")
    return x


def _check_valid(valid: Any, like: torch.Tensor) -> torch.Tensor:
    valid = _check_bt("valid", valid)
    if valid.shape != like.shape:
        raise BatchError(f"valid {tuple(valid.shape)} must match {tuple(like.shape)}")
    return valid.detach() > 0


def _check_ratio(name: str, ratio: float) -> float:
    ratio = float(ratio)
    if not (0.0 < ratio <= 1.0):  # also rejects NaN
        raise ArgumentError(f"{name} must be in (0, 1], got {ratio!r}")
    return ratio


def entropy_advantage(
    advantages: torch.Tensor,
    entropies: torch.Tensor,
    *,
    alpha: float = ENTROPY_ADV_ALPHA,
    kappa: float = ENTROPY_ADV_KAPPA,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Entropy-based advantage (arXiv 2506.14758): ``A + min(alpha · H.detach(), |A| / kappa)``.

    Args:
        advantages: (B,), (B, 1) or (B, T); broadcast to the entropies' B x T shape.
        entropies: B x T per-token entropies (nats) of the policy; detached here, so the term
            changes the advantage's size, never the gradient's direction through H.
        alpha: α ≥ 0, the entropy scale.
        kappa: κ > 1, the clip: the added term is at most ``|A| / κ``, so ``A'`` keeps the sign
            of ``A`` (and ``A = 0`` stays 0).
        valid: optional B x T mask; positions where it is 0 keep ``A`` unchanged.

    Returns a new B x T tensor in the advantages' dtype (at least float32 inside).
    """
    import torch

    entropies = _check_bt("entropies", entropies)
    alpha, kappa = float(alpha), float(kappa)
    if not alpha >= 0.0:
        raise ArgumentError(f"alpha must be >= 0, got {alpha!r}")
    if not kappa > 1.0:
        raise ArgumentError(f"kappa must be > 1 (so the term never flips A's sign), got {kappa!r}")
    adv = _broadcast_advantages(advantages, entropies)
    dtype = torch.promote_types(adv.dtype, torch.float32)
    a = adv.to(dtype)
    bonus = torch.minimum(alpha * entropies.detach().to(dtype), a.detach().abs() / kappa)
    if valid is not None:
        bonus = bonus * _check_valid(valid, entropies).to(dtype)
    return (a + bonus).to(adv.dtype)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """verl's ``masked_mean``: ``sum(x · m) / (sum(m) + 1e-8)``."""
    import torch

    m = mask.to(x.dtype)
    return torch.where(mask, x, torch.zeros_like(x)).sum() / (m.sum() + 1e-8)


def covariance(
    logprobs: torch.Tensor, advantages: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Per-token ``Cov_t = (log π_t - mean log π) · (A_t - mean A)``, means over the valid tokens.

    ``logprobs`` is B x T (the sampled tokens' log-probabilities), ``advantages`` (B,), (B, 1) or
    B x T, ``valid`` B x T. Computed on detached values (a selection statistic, no gradient),
    as verl's Clip-Cov does (``masked_mean``, so an empty batch gives no NaN); 0 at invalid
    positions. Float32 or wider.
    """
    import torch

    logprobs = _check_bt("logprobs", logprobs)
    mask = _check_valid(valid, logprobs)
    adv = _broadcast_advantages(advantages, logprobs).detach()
    dtype = torch.promote_types(torch.promote_types(adv.dtype, logprobs.dtype), torch.float32)
    lp = logprobs.detach().to(dtype)
    a = adv.to(dtype)
    cov = (a - _masked_mean(a, mask)) * (lp - _masked_mean(lp, mask))
    return torch.where(mask, cov, torch.zeros_like(cov))


def kl_cov_select(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    *,
    ratio: float = KL_COV_RATIO,
) -> torch.Tensor:
    """Boolean B x T mask of the top ``max(1, int(ratio · N))`` valid tokens by ``Cov_t``.

    ``N`` is the number of valid tokens; all False when there is none. Computed as verl's
    ``compute_policy_loss_kl_cov`` does (the valid values flattened in row-major order, their
    plain means, ``torch.topk``), so ties resolve the same way.
    """
    import torch

    ratio = _check_ratio("ratio", ratio)
    logprobs = _check_bt("logprobs", logprobs)
    mask = _check_valid(valid, logprobs)
    adv = _broadcast_advantages(advantages, logprobs)
    out = torch.zeros(mask.numel(), dtype=torch.bool, device=mask.device)
    index = torch.nonzero(mask.reshape(-1), as_tuple=True)[0]
    n = index.numel()
    if n == 0:
        return out.view(mask.shape)
    a = adv[mask].detach().reshape(-1).cpu()
    lp = logprobs[mask].detach().reshape(-1).cpu()
    cov = (a - a.mean()) * (lp - lp.mean())
    k = max(1, int(n * ratio))
    top = torch.topk(cov, k, largest=True).indices.to(mask.device)
    out[index[top]] = True
    return out.view(mask.shape)


def clip_cov_select(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    *,
    ratio: float = CLIP_COV_RATIO,
    cov_lower: float = CLIP_COV_LOWER,
    cov_upper: float = CLIP_COV_UPPER,
    generator: torch.Generator | None = None,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean B x T mask of the tokens Clip-Cov detaches from the gradient.

    ``min(max(1, int(ratio · N)), |C|)`` tokens drawn uniformly without replacement
    (``torch.randperm(|C|, generator=generator)`` on the CPU) from the candidates
    ``C = {valid t : cov_lower < Cov_t < cov_upper, not exclude_t}``, listed in row-major order.
    ``exclude`` (B x T bool) is for the tokens PPO's clip already clipped (verl passes those; see
    :func:`ppo_clipped`). With ``generator=None`` the draw uses torch's global generator, as
    verl does, so the same ``torch.manual_seed`` gives verl's selection.
    """
    import torch

    ratio = _check_ratio("ratio", ratio)
    lower, upper = float(cov_lower), float(cov_upper)
    if not lower < upper:
        raise ArgumentError(f"cov_lower must be below cov_upper, got {lower!r} and {upper!r}")
    cov = covariance(logprobs, advantages, valid)
    mask = _check_valid(valid, logprobs)
    candidates = (cov > lower) & (cov < upper) & mask
    if exclude is not None:
        candidates &= ~_check_valid(exclude, logprobs)
    out = torch.zeros_like(mask)
    idx = torch.nonzero(candidates)
    if len(idx) == 0:
        return out
    clip_num = max(int(ratio * mask.sum().item()), 1)
    perm = torch.randperm(len(idx), generator=generator)
    idx = idx[perm[: min(clip_num, len(idx))].to(idx.device)]
    out[idx[:, 0], idx[:, 1]] = True
    return out


def ppo_clipped(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
) -> torch.Tensor:
    """B x T bool: valid tokens whose PPO loss takes the clipped branch
    (``-A · clip(r, 1 - ε_low, 1 + ε_high) > -A · r``), verl's ``clip_by_origin``."""
    adv = _broadcast_advantages(advantages, _check_bt("logprobs", logprobs)).detach()
    ratio = (logprobs.detach() - old_logprobs.detach()).exp()
    loss1 = -adv * ratio
    loss2 = -adv * ratio.clamp(1 - clip_low, 1 + clip_high)
    return (loss2 > loss1) & _check_valid(valid, logprobs)


def clip_cov_per_token_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    ratio: float = CLIP_COV_RATIO,
    cov_lower: float = CLIP_COV_LOWER,
    cov_upper: float = CLIP_COV_UPPER,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """verl's Clip-Cov per-token policy loss: the clipped PPO loss, 0 (no gradient) at the
    :func:`clip_cov_select` tokens, the tokens PPO already clipped excluded from the draw.

    Returns ``(per_token_loss, selected)``; aggregate the loss over ``valid`` as you like
    (verl's ``agg_loss``)."""
    adv = _broadcast_advantages(advantages, _check_bt("logprobs", logprobs))
    r = (logprobs - old_logprobs).exp()
    loss1 = -adv * r
    loss2 = -adv * r.clamp(1 - clip_low, 1 + clip_high)
    clipped = (loss2 > loss1) & _check_valid(valid, logprobs)
    selected = clip_cov_select(
        logprobs,
        adv,
        valid,
        ratio=ratio,
        cov_lower=cov_lower,
        cov_upper=cov_upper,
        generator=generator,
        exclude=clipped,
    )
    keep = (~selected).to(loss1.dtype)
    return loss1.maximum(loss2) * keep, selected


def kl_cov_per_token_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    valid: torch.Tensor,
    *,
    ratio: float = KL_COV_RATIO,
    coef: float = KL_COV_COEF,
) -> tuple[torch.Tensor, torch.Tensor]:
    """verl's KL-Cov per-token policy loss: ``-A · r`` (no ratio clip), plus
    ``coef · |log π - log π_old|`` at the :func:`kl_cov_select` tokens.

    Returns ``(per_token_loss, selected)``."""
    adv = _broadcast_advantages(advantages, _check_bt("logprobs", logprobs))
    delta = logprobs - old_logprobs
    loss = -adv * delta.exp()
    selected = kl_cov_select(logprobs, adv, valid, ratio=ratio)
    return loss + float(coef) * delta.abs() * selected.to(loss.dtype), selected
