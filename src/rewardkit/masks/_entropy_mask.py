"""Top-ρ entropy token selection (the "80/20" forking tokens, arXiv 2506.01939).

Selection rules, over the valid tokens of a *scope*:

* ``topk``: exactly ``k = max(1, ceil(ρ·N))`` tokens, as the paper's code; ties at the k-th value
  go to the earlier tokens (row-major order, then rank order), so the result is deterministic.
* ``quantile``: ``H >= quantile(H, 1 - ρ)`` with linear interpolation, TRL's
  ``get_high_entropy_mask`` rule; about ρ·N tokens, more on ties.

Scopes: ``batch`` (all valid tokens passed in), ``sequence`` (each row on its own), ``global``
(the valid tokens of every ``torch.distributed`` rank, gathered; ``batch`` when not distributed).

torch is imported inside the functions: ``rewardkit.masks`` is loaded by the plugin registry and
``import rewardkit`` stays torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from rewardkit._errors import ArgumentError, BatchError

if TYPE_CHECKING:
    import torch

__all__ = [
    "Normalizer",
    "Scope",
    "Select",
    "entropy_mask",
    "entropy_weights",
    "kept_count",
    "masked_loss",
]

Select = Literal["topk", "quantile"]
Scope = Literal["batch", "sequence", "global"]
Normalizer = Literal["all", "selected"]

_SELECTS: tuple[str, ...] = ("topk", "quantile")
_SCOPES: tuple[str, ...] = ("batch", "sequence", "global")
_NORMALIZERS: tuple[str, ...] = ("all", "selected")


# --------------------------------------------------------------------------- checks


def _check_options(ratio: float, select: str, scope: str) -> float:
    try:
        ratio = float(ratio)
    except (TypeError, ValueError):
        raise ArgumentError(f"ratio must be a number in (0, 1], got {ratio!r}") from None
    if not (0.0 < ratio <= 1.0):  # also rejects NaN
        raise ArgumentError(f"ratio must be in (0, 1], got {ratio!r}")
    if select not in _SELECTS:
        raise ArgumentError(f"select must be one of {_SELECTS}, got {select!r}")
    if scope not in _SCOPES:
        raise ArgumentError(f"scope must be one of {_SCOPES}, got {scope!r}")
    return ratio


def _check_tensors(entropies: Any, valid_mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Detached float entropies and a bool mask of the same B x T shape."""
    import torch

    if not isinstance(entropies, torch.Tensor) or not isinstance(valid_mask, torch.Tensor):
        raise BatchError(
            "entropies and valid_mask must be torch tensors, got "
            f"{type(entropies).__name__} and {type(valid_mask).__name__}"
        )
    if entropies.dim() != 2:
        raise BatchError(f"entropies must be B x T (2-D), got shape {tuple(entropies.shape)}")
    if entropies.shape != valid_mask.shape:
        raise BatchError(
            f"entropies {tuple(entropies.shape)} and valid_mask {tuple(valid_mask.shape)} "
            "must have the same shape"
        )
    if not entropies.is_floating_point():
        raise BatchError(f"entropies must be a floating tensor, got {entropies.dtype}")
    return entropies.detach(), valid_mask.detach().bool()


def _valid_values(
    entropies: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat positions of the valid tokens and their entropies as float32, checked finite.

    Padding may hold anything (some engines leave garbage there); only valid tokens must be
    finite. A flat index plus ``index_select`` is several times faster than boolean indexing.
    """
    import torch

    index = valid.reshape(-1).nonzero().squeeze(1)
    values = entropies.reshape(-1).index_select(0, index).float()
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(values).sum())
        raise BatchError(
            f"entropies contain {n_nan} NaN and {int((~finite).sum()) - n_nan} infinite values "
            "at valid positions; entropy must be finite (check the logits and the temperature)"
        )
    return index, values


def _scatter(valid: torch.Tensor, index: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """A B x T bool mask, ``keep`` at the flat valid positions ``index``, False elsewhere."""
    import torch

    out = torch.zeros(valid.numel(), dtype=torch.bool, device=valid.device)
    out.index_put_((index,), keep)
    return out.view(valid.shape)


def _exact_ratio(ratio: float) -> Fraction:
    """The ratio as the decimal the user wrote: plain float ``ceil(0.1 * 30)`` is 4, not 3.
    The denominator is capped at 10^6 so ``count · numerator`` stays exact in int64."""
    return Fraction(repr(float(ratio))).limit_denominator(10**6)


def kept_count(ratio: float, n: int) -> int:
    """``max(1, ceil(ratio·n))`` for ``n > 0``, else 0, in exact decimal arithmetic
    (``kept_count(0.1, 30) == 3``)."""
    if n <= 0:
        return 0
    return max(1, min(n, math.ceil(_exact_ratio(ratio) * n)))


def _kept_counts(ratio: float, counts: torch.Tensor) -> torch.Tensor:
    """:func:`kept_count` over an int64 tensor of counts (same arithmetic, vectorised)."""
    exact = _exact_ratio(ratio)
    num, den = exact.numerator, exact.denominator
    k = (counts * num + (den - 1)) // den  # ceil(counts·num/den); exact for counts < 9e12
    return k.clamp(min=1).minimum(counts).where(counts > 0, counts.new_zeros(()))


# --------------------------------------------------------------------------- quantiles


def _order_statistics(values: torch.Tensor, ranks: Sequence[int]) -> torch.Tensor:
    """``values.sort().values[ranks]`` (0-based, ascending) of a 1-D tensor, without a full sort
    on CPU: numpy's introselect does all ranks in one pass, several times faster than torch's
    CPU sort (measured in benchmarks/mask_overhead.py); other devices sort."""
    import torch

    if values.device.type == "cpu":
        try:
            import numpy as np
        except ImportError:  # torch does not require numpy
            pass
        else:
            part = np.partition(values.numpy(), sorted(set(ranks)))
            return torch.from_numpy(part[list(ranks)].copy())
    index = torch.tensor(list(ranks), dtype=torch.long, device=values.device)
    return values.sort().values[index]


def _quantiles(values: torch.Tensor, qs: Sequence[float]) -> list[torch.Tensor]:
    """Linear-interpolation quantiles of a non-empty 1-D float tensor, bit-equal to
    ``torch.quantile``.

    Written out because ``torch.quantile`` sorts (slow on CPU) and refuses inputs over 16M
    elements (a gathered global batch can be larger); the arithmetic follows ATen's
    ``quantile_compute`` step by step: float32 ranks, truncation, ``lerp``.
    """
    import torch

    last = values.numel() - 1
    ranks = [torch.tensor(q, dtype=values.dtype, device=values.device) * last for q in qs]
    below = [int(r.long()) for r in ranks]
    above = [int(r.ceil().long()) for r in ranks]
    stats = _order_statistics(values, below + above).to(values.device)
    n = len(qs)
    return [torch.lerp(stats[i], stats[n + i], ranks[i] - below[i]) for i in range(n)]


def _row_quantiles(values: torch.Tensor, valid: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row quantile of the valid entries (like ``torch.nanquantile`` along dim 1); rows with
    no valid entry give NaN."""
    import torch

    filled = values.masked_fill(~valid, math.inf)
    sorted_rows = filled.sort(dim=1).values
    counts = valid.sum(dim=1)
    q_t = torch.tensor(q, dtype=values.dtype, device=values.device)
    ranks = q_t * (counts - 1).clamp(min=0)
    below = ranks.long()
    above = ranks.ceil().long()
    lo = sorted_rows.gather(1, below[:, None]).squeeze(1)
    hi = sorted_rows.gather(1, above[:, None]).squeeze(1)
    out = torch.lerp(lo, hi, ranks - below)
    return out.masked_fill(counts == 0, math.nan)


# --------------------------------------------------------------------------- selection


def _select_in_pool(pool: torch.Tensor, ratio: float, select: str) -> torch.Tensor:
    """Which entries of a 1-D float32 pool of valid entropies are kept."""
    import torch

    n = pool.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.bool, device=pool.device)
    if ratio >= 1.0:
        return torch.ones(n, dtype=torch.bool, device=pool.device)
    if select == "quantile":
        return pool >= _quantiles(pool, [1 - ratio])[0]
    k = kept_count(ratio, n)
    # The k-th largest value by selection, not a sort; ties at it are then resolved by position
    # so exactly k entries are kept, deterministically.
    threshold = _order_statistics(pool, [n - k])[0].to(pool.device)
    above = pool > threshold
    ties = pool == threshold
    quota = k - above.sum()
    return above | (ties & (ties.cumsum(0) <= quota))


def _select_per_row(values: torch.Tensor, valid: torch.Tensor, ratio: float, select: str):
    """Sequence scope: each row's own top ρ of its valid tokens."""
    import torch

    if select == "quantile":
        thresholds = _row_quantiles(values, valid, 1 - ratio)
        return (values >= thresholds[:, None]) & valid
    k = _kept_counts(ratio, valid.sum(dim=1))
    # A stable descending sort puts each row's valid tokens first, ties in position order.
    order = values.masked_fill(~valid, -math.inf).sort(dim=1, descending=True, stable=True).indices
    ranks = torch.arange(values.shape[1], device=values.device)
    keep_sorted = ranks[None, :] < k[:, None]
    return torch.zeros_like(valid).scatter(1, order, keep_sorted)


def _distributed_world(group: Any) -> int:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(group))


def _all_gather_rows(rows: torch.Tensor, group: Any) -> tuple[torch.Tensor, int]:
    """All-gather a variable number of rows (n x C) from every rank, in rank order.

    Returns the concatenation and where this rank's rows start in it. Two collectives (sizes,
    then padded rows), like ``accelerate``'s ``pad_across_processes`` + ``gather``.
    """
    import torch
    import torch.distributed as dist

    world = dist.get_world_size(group)
    size = torch.tensor([rows.shape[0]], dtype=torch.long, device=rows.device)
    sizes_t = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes_t, size, group=group)
    sizes = [int(s.item()) for s in sizes_t]
    rank = dist.get_rank(group)
    offset = sum(sizes[:rank])
    longest = max(sizes)
    if longest == 0:  # every rank knows this, so every rank skips the second collective
        return rows[:0], 0
    padded = rows.new_zeros((longest, *rows.shape[1:]))
    padded[: rows.shape[0]] = rows
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded, group=group)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]), offset


def entropy_mask(
    entropies: torch.Tensor,
    valid_mask: torch.Tensor,
    ratio: float = 0.2,
    select: Select = "topk",
    scope: Scope = "batch",
    *,
    group: Any = None,
) -> torch.Tensor:
    """Boolean B x T mask of the top-``ratio`` highest-entropy valid tokens.

    Args:
        entropies: B x T per-token entropies (nats), any float dtype; never modified.
        valid_mask: B x T, nonzero/True for response tokens that count (padding never selected).
        ratio: ρ in (0, 1]; 1 returns ``valid_mask`` as bool.
        select: ``"topk"`` keeps exactly ``max(1, ceil(ρ·N))`` tokens of the scope (the
            paper's code); ``"quantile"`` keeps ``H >= quantile(1 - ρ)`` (TRL's rule).
        scope: ``"batch"`` (all valid tokens given), ``"sequence"`` (each row separately) or
            ``"global"`` (all ranks of ``group``; a collective, so every rank must call it).
        group: the ``torch.distributed`` process group for ``scope="global"``; default WORLD.

    Raises:
        ValueError: ratio outside (0, 1], unknown select/scope, shape mismatch, or NaN/inf at a
            valid position (:class:`rewardkit.BatchError` for the tensor problems).
    """
    ratio = _check_options(ratio, select, scope)
    entropies, valid = _check_tensors(entropies, valid_mask)
    index, local = _valid_values(entropies, valid)
    if ratio >= 1.0:
        return valid.clone()
    if scope == "sequence":
        return _select_per_row(entropies.float(), valid, ratio, select)
    if scope == "global" and _distributed_world(group) > 1:
        pool, offset = _all_gather_rows(local[:, None], group)
        keep = _select_in_pool(pool[:, 0], ratio, select)[offset : offset + local.numel()]
    else:
        keep = _select_in_pool(local, ratio, select)
    return _scatter(valid, index, keep)


def normalizer_scale(
    mask: torch.Tensor,
    valid: torch.Tensor,
    scope: Scope,
    normalizer: Normalizer,
    *,
    group: Any = None,
) -> torch.Tensor:
    """The factor turning a valid-token mean into a selected-token mean: ``N_valid / N_kept``
    over the scope (per row for ``sequence``), 1 for ``normalizer="all"``; 0 where none is kept.
    Shaped to broadcast against B x T."""
    import torch

    if normalizer not in _NORMALIZERS:
        raise ArgumentError(f"normalizer must be one of {_NORMALIZERS}, got {normalizer!r}")
    if normalizer == "all":
        return torch.ones((), dtype=torch.float32, device=mask.device)
    if scope == "sequence":
        n_valid = valid.sum(dim=1, keepdim=True).float()
        n_kept = mask.sum(dim=1, keepdim=True).float()
    else:
        counts = torch.stack([valid.sum(), mask.sum()]).float()
        if scope == "global" and _distributed_world(group) > 1:
            import torch.distributed as dist

            dist.all_reduce(counts, group=group)
        n_valid, n_kept = counts[0], counts[1]
    return torch.where(n_kept > 0, n_valid / n_kept.clamp(min=1.0), torch.zeros_like(n_kept))


def entropy_weights(
    entropies: torch.Tensor,
    valid_mask: torch.Tensor,
    ratio: float = 0.2,
    select: Select = "topk",
    scope: Scope = "batch",
    normalizer: Normalizer = "all",
    *,
    group: Any = None,
) -> torch.Tensor:
    """Float B x T weights (at least float32): the :func:`entropy_mask`, scaled for the
    ``normalizer``.

    Multiply a per-token loss (or the advantages) by these weights and keep dividing by the
    *valid* token count: with ``"all"`` (the paper's formula, TRL) masked tokens stay in the
    denominator; with ``"selected"`` (the paper's code) the weights carry ``N_valid / N_kept`` of
    the scope, so the result equals the mean over the kept tokens.
    """
    if normalizer not in _NORMALIZERS:
        raise ArgumentError(f"normalizer must be one of {_NORMALIZERS}, got {normalizer!r}")
    import torch

    mask = entropy_mask(entropies, valid_mask, ratio, select, scope, group=group)
    scale = normalizer_scale(mask, valid_mask.bool(), scope, normalizer, group=group)
    dtype = torch.promote_types(entropies.dtype, torch.float32)  # bf16 would round a 1/ρ scale
    return mask.to(dtype) * scale.to(dtype)


def masked_loss(
    per_token_loss: torch.Tensor,
    valid_mask: torch.Tensor,
    token_mask: torch.Tensor,
    normalizer: Normalizer = "all",
) -> torch.Tensor:
    """Token-mean of ``per_token_loss`` over the kept tokens.

    ``normalizer="all"`` (the default, as in :func:`entropy_weights` and the config) divides by
    the valid-token count (the paper's formula and TRL: masked tokens stay in the denominator);
    ``"selected"`` divides by the kept-token count (the paper's code: the per-token gradient is
    about 1/ρ of plain DAPO). ``token_mask`` may be bool or float weights; an empty selection
    gives 0 (with gradient), never NaN. The result is at least float32 (a bf16 loss is summed in
    float32, so the token counts stay exact).
    """
    if normalizer not in _NORMALIZERS:
        raise ArgumentError(f"normalizer must be one of {_NORMALIZERS}, got {normalizer!r}")
    if per_token_loss.shape != valid_mask.shape or token_mask.shape != valid_mask.shape:
        raise BatchError(
            f"per_token_loss {tuple(per_token_loss.shape)}, valid_mask "
            f"{tuple(valid_mask.shape)} and token_mask {tuple(token_mask.shape)} must match"
        )
    # Accumulate in at least float32: a bf16 sum rounds token counts above 256 (3000 -> 3008).
    import torch

    dtype = torch.promote_types(per_token_loss.dtype, torch.float32)
    valid = valid_mask.to(dtype)
    kept = token_mask.to(dtype) * valid
    denominator = kept.sum() if normalizer == "selected" else valid.sum()
    return (per_token_loss.to(dtype) * kept).sum() / denominator.clamp(min=1.0)
