"""Token-entropy diagnostics: how much entropy the policy has, where the mask cuts, and which
tokens are the forking points.

Everything is computed from one *token table* (entropy, token id, rollout correctness, kept flag
per valid token). Under ``torch.distributed`` the table is all-gathered once, so every rank
computes identical, batch-global numbers and no further reduction is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rewardkit._errors import BatchError
from rewardkit.masks._entropy_mask import (
    _all_gather_rows,
    _check_tensors,
    _distributed_world,
    _quantiles,
    _valid_values,
)

if TYPE_CHECKING:
    import torch

__all__ = ["TokenEntropyStats", "format_forking_tokens", "token_entropy_stats"]

# Token ids travel in the float32 table; ids at or above 2**24 would lose precision and are
# recorded as unknown (-1) instead. Real vocabularies are far below this.
_MAX_EXACT_ID = 2**24

#: How many ``(token id, count)`` pairs of kept tokens one statistics object keeps.
MAX_TOKEN_COUNTS = 1000

# Columns of the token table.
_H, _ID, _CORRECT, _KEPT = range(4)


@dataclass(frozen=True, slots=True)
class TokenEntropyStats:
    """Entropy statistics of one batch of response tokens (nats).

    ``threshold`` is the cut behind ``share_over_threshold``: the configured value, else the
    mask's own threshold (the lowest kept entropy), else the 80th percentile.
    ``kept_token_counts`` lists ``(token id, count)`` of the kept tokens, most frequent first
    (ties by id), at most :data:`MAX_TOKEN_COUNTS` of them.
    """

    num_tokens: int
    num_kept: int
    mean: float
    p50: float
    p80: float
    p95: float
    threshold: float
    share_over_threshold: float
    mean_correct: float | None = None
    mean_incorrect: float | None = None
    kept_token_counts: tuple[tuple[int, int], ...] = ()

    def __repr__(self) -> str:
        return (
            f"TokenEntropyStats(tokens={self.num_tokens}, kept={self.num_kept}, "
            f"mean={self.mean:.4g}, p50={self.p50:.4g}, p80={self.p80:.4g}, p95={self.p95:.4g}, "
            f"threshold={self.threshold:.4g}, share_over_threshold="
            f"{self.share_over_threshold:.4g})"
        )

    @property
    def kept_share(self) -> float:
        """Kept tokens over valid tokens (NaN when there are none)."""
        return self.num_kept / self.num_tokens if self.num_tokens else math.nan

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat numbers for a logger, keys prefixed with ``prefix``; correctness means only when
        known."""
        out = {
            "entropy_mean": self.mean,
            "entropy_p50": self.p50,
            "entropy_p80": self.p80,
            "entropy_p95": self.p95,
            "share_over_threshold": self.share_over_threshold,
            "threshold": self.threshold,
            "kept_share": self.kept_share,
        }
        if self.mean_correct is not None:
            out["entropy_correct"] = self.mean_correct
        if self.mean_incorrect is not None:
            out["entropy_incorrect"] = self.mean_incorrect
        return {prefix + k: float(v) for k, v in out.items()}

    def forking_tokens(self, tokenizer: Any, top: int = 10) -> list[tuple[str, int]]:
        """The ``top`` most frequent kept tokens, decoded with ``tokenizer``, with counts."""
        return decode_token_counts(self.kept_token_counts[:top], tokenizer)


def decode_token_counts(counts: Sequence[tuple[int, int]], tokenizer: Any) -> list[tuple[str, int]]:
    """``(token id, count)`` pairs to ``(text, count)``; ids a tokenizer cannot decode keep their
    number."""
    out = []
    for token_id, count in counts:
        try:
            text = tokenizer.decode([token_id]) if token_id >= 0 else "<unknown>"
        except Exception:  # a foreign id must not break logging
            text = f"<{token_id}>"
        out.append((text, count))
    return out


def format_forking_tokens(pairs: Sequence[tuple[str, int]]) -> str:
    """``[(" wait", 12), (" so", 8)]`` -> ``"' wait':12, ' so':8"`` (quoted: spaces matter)."""
    return ", ".join(f"{text!r}:{count}" for text, count in pairs)


def _per_row(values: Any, batch_size: int, name: str) -> torch.Tensor:
    """A (B,) float tensor from a tensor or a sequence of bool/number/None (None -> NaN)."""
    import torch

    if isinstance(values, torch.Tensor):
        out = values.detach().reshape(-1).to(torch.float32)
    else:
        out = torch.tensor(
            [math.nan if v is None else float(v) for v in values], dtype=torch.float32
        )
    if out.numel() != batch_size:
        raise BatchError(f"{name} has {out.numel()} entries for a batch of {batch_size} rows")
    return out


def token_table(
    entropies: torch.Tensor,
    valid: torch.Tensor,
    *,
    kept: torch.Tensor | None = None,
    token_ids: torch.Tensor | None = None,
    correct: Any = None,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """The local N_valid x 4 float32 table (entropy, token id or -1, correct 1/0/NaN, kept 1/0).

    ``index`` is the flat positions of the valid tokens when the caller has them already.
    """
    import torch

    if index is None:
        index, values = _valid_values(entropies, valid)
    else:
        values = entropies.reshape(-1).index_select(0, index).float()

    def take(x: torch.Tensor) -> torch.Tensor:
        return x.detach().reshape(-1).index_select(0, index)

    table = torch.empty((index.numel(), 4), dtype=torch.float32, device=entropies.device)
    table[:, _H] = values
    if token_ids is not None:
        if token_ids.shape != entropies.shape:
            raise BatchError(
                f"token_ids {tuple(token_ids.shape)} must match entropies {tuple(entropies.shape)}"
            )
        ids = take(token_ids.to(entropies.device)).long()
        table[:, _ID] = ids.masked_fill((ids < 0) | (ids >= _MAX_EXACT_ID), -1).float()
    else:
        table[:, _ID] = -1.0
    if correct is not None:
        per_row = _per_row(correct, entropies.shape[0], "correct").to(entropies.device)
        table[:, _CORRECT] = per_row.index_select(0, index // entropies.shape[1])
    else:
        table[:, _CORRECT] = math.nan
    table[:, _KEPT] = 0.0 if kept is None else take(kept).float()
    return table


def gather_table(table: torch.Tensor, group: Any = None) -> torch.Tensor:
    """All ranks' token tables, concatenated in rank order (the table itself when not
    distributed). A collective when distributed: every rank must call it."""
    if _distributed_world(group) <= 1:
        return table
    return _all_gather_rows(table, group)[0]


def stats_from_table(
    table: torch.Tensor,
    *,
    threshold: float | None = None,
    has_kept: bool = True,
) -> TokenEntropyStats:
    """Statistics of a (possibly gathered) token table."""
    import torch

    n = table.shape[0]
    if n == 0:
        nan = math.nan
        return TokenEntropyStats(
            0, 0, nan, nan, nan, nan, nan if threshold is None else threshold, nan
        )
    h = table[:, _H]
    kept = table[:, _KEPT] > 0.5
    num_kept = int(kept.sum()) if has_kept else 0
    p50, p80, p95 = (float(v) for v in _quantiles(h, (0.5, 0.8, 0.95)))
    if threshold is None:
        threshold = float(h[kept].min()) if num_kept else p80
    correct = table[:, _CORRECT]
    means: list[float | None] = []
    for flag in (1.0, 0.0):
        rows = correct == flag
        means.append(float(h[rows].mean()) if bool(rows.any()) else None)
    token_counts: tuple[tuple[int, int], ...] = ()
    if num_kept:
        ids = table[kept, _ID].long()
        ids = ids[ids >= 0]
        if ids.numel():
            unique, counts = torch.unique(ids, return_counts=True)
            # Most frequent first, ties by id; only the head is kept (it is what gets logged).
            order = torch.argsort(counts, descending=True, stable=True)[:MAX_TOKEN_COUNTS]
            token_counts = tuple(zip(unique[order].tolist(), counts[order].tolist()))
    return TokenEntropyStats(
        num_tokens=n,
        num_kept=num_kept,
        mean=float(h.mean()),
        p50=p50,
        p80=p80,
        p95=p95,
        threshold=float(threshold),
        share_over_threshold=float((h >= threshold).float().mean()),
        mean_correct=means[0],
        mean_incorrect=means[1],
        kept_token_counts=token_counts,
    )


def token_entropy_stats(
    entropies: torch.Tensor,
    valid_mask: torch.Tensor,
    *,
    kept_mask: torch.Tensor | None = None,
    token_ids: torch.Tensor | None = None,
    correct: Any = None,
    threshold: float | None = None,
    group: Any = None,
    gather: bool = True,
) -> TokenEntropyStats:
    """Token-entropy statistics of a B x T batch.

    Args:
        entropies, valid_mask: as for :func:`rewardkit.masks.entropy_mask`.
        kept_mask: the token mask in use (for the kept share, the threshold and forking tokens).
        token_ids: B x T token ids (the response tokens), to count the forking tokens.
        correct: per rollout (B,): True/1 correct, False/0 not, None/NaN unknown; gives the mean
            entropy of correct versus incorrect rollouts.
        threshold: entropy cut for ``share_over_threshold``; default the mask's threshold.
        group: process group; when ``torch.distributed`` is initialised the statistics cover
            every rank of it (a collective: every rank must call it).
        gather: ``False`` keeps the statistics to this rank's tokens (no collective).
    """
    entropies, valid = _check_tensors(entropies, valid_mask)
    if kept_mask is not None and kept_mask.shape != entropies.shape:
        raise BatchError(
            f"kept_mask {tuple(kept_mask.shape)} must match entropies {tuple(entropies.shape)}"
        )
    table = token_table(entropies, valid, kept=kept_mask, token_ids=token_ids, correct=correct)
    if gather:
        table = gather_table(table, group)
    return stats_from_table(table, threshold=threshold, has_kept=kept_mask is not None)
