"""The ``entropy_top_ratio`` token mask component (config section ``token_mask:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, TokenMaskComponent
from rewardkit._tokens import TokenInputs, TokenOutput
from rewardkit.masks._entropy_mask import (
    _all_gather_rows,
    _check_options,
    _check_tensors,
    _distributed_world,
    _scatter,
    _select_in_pool,
    _select_per_row,
    _valid_values,
    entropy_mask,
    normalizer_scale,
)
from rewardkit.masks._entropy_stats import TokenEntropyStats, stats_from_table, token_table

if TYPE_CHECKING:
    import torch

__all__ = ["EntropyMaskResult", "EntropyTopRatioConfig", "EntropyTopRatioMask"]


class EntropyTopRatioConfig(ComponentConfig):
    """Fields of ``token_mask: {type: entropy_top_ratio, ...}``."""

    ratio: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description="Share ρ of valid response tokens kept, the highest-entropy ones; 0.2 is "
        "the paper's value, 1 keeps every token.",
    )
    select: Literal["topk", "quantile"] = Field(
        default="topk",
        description="'topk': exactly max(1, ceil(ρ·N)) tokens (the paper's code); 'quantile': "
        "entropy >= the (1-ρ) quantile (TRL's top_entropy_quantile rule; more on ties).",
    )
    scope: Literal["batch", "sequence", "global"] = Field(
        default="batch",
        description="Tokens ranked together: 'batch' = the micro-batch on this rank, "
        "'sequence' = each response separately, 'global' = the micro-batch of all "
        "torch.distributed ranks (gathered).",
    )
    normalizer: Literal["all", "selected"] = Field(
        default="all",
        description="Loss denominator: 'all' keeps masked tokens in it (the paper's formula, "
        "TRL); 'selected' divides by the kept tokens (the paper's code, ~1/ρ larger gradients).",
    )
    top_tokens: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="How many of the most frequent kept tokens (forking words) the adapters "
        "log as text; 0 disables.",
    )
    stats_threshold: float | None = Field(
        default=None,
        ge=0.0,
        description="Entropy (nats) for the logged share-over-threshold statistic; unset uses "
        "the mask's own threshold (the lowest kept entropy).",
    )


@dataclass(frozen=True, slots=True)
class EntropyMaskResult:
    """What :meth:`EntropyTopRatioMask.apply` returns: the bool mask, the normaliser-scaled float
    weights, and the statistics (``None`` when not asked for)."""

    mask: torch.Tensor
    weights: torch.Tensor
    stats: TokenEntropyStats | None = None

    def __repr__(self) -> str:
        return (
            f"EntropyMaskResult(shape={tuple(self.mask.shape)}, kept={int(self.mask.sum())}, "
            f"stats={self.stats!r})"
        )


class EntropyTopRatioMask(TokenMaskComponent):
    """Keeps the policy-gradient loss on the top-ρ highest-entropy tokens (80/20 forking tokens)."""

    type: ClassVar[str] = "entropy_top_ratio"
    Config: ClassVar[type[ComponentConfig]] = EntropyTopRatioConfig
    config: EntropyTopRatioConfig

    def __repr__(self) -> str:
        c = self.config
        return (
            f"EntropyTopRatioMask(ratio={c.ratio}, select={c.select!r}, scope={c.scope!r}, "
            f"normalizer={c.normalizer!r})"
        )

    @property
    def normalizer(self) -> Literal["all", "selected"]:
        return self.config.normalizer

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        """The token-component contract: :meth:`apply` on the inputs (mask, scope-scaled weights,
        statistics), with at most one gather of the valid tokens."""
        result = self.apply(
            inputs.entropies,
            inputs.valid,
            token_ids=inputs.token_ids,
            correct=inputs.correct,
            group=inputs.group,
            stats=inputs.stats,
            gather_stats=inputs.gather_stats,
        )
        return TokenOutput(
            mask=result.mask,
            weights=result.weights,
            normalizer=self.config.normalizer,
            stats=result.stats,
        )

    def mask(self, entropies: Any, valid_mask: Any, *, group: Any = None) -> torch.Tensor:
        """Boolean B x T mask (see :func:`rewardkit.masks.entropy_mask`)."""
        c = self.config
        return entropy_mask(entropies, valid_mask, c.ratio, c.select, c.scope, group=group)

    def weights(self, entropies: Any, valid_mask: Any, *, group: Any = None) -> torch.Tensor:
        """Float B x T weights, scaled for the configured normaliser (see
        :func:`rewardkit.masks.entropy_weights`)."""
        return self.apply(entropies, valid_mask, group=group, stats=False).weights

    def apply(
        self,
        entropies: torch.Tensor,
        valid_mask: torch.Tensor,
        *,
        token_ids: torch.Tensor | None = None,
        correct: Any = None,
        group: Any = None,
        stats: bool = True,
        gather_stats: bool = True,
    ) -> EntropyMaskResult:
        """Mask, weights and statistics in one pass, with at most one gather of the valid tokens.

        Under ``torch.distributed`` this is a collective (every rank must call it, with the same
        arguments) when ``scope="global"``, or when ``stats`` and ``gather_stats`` are true; the
        statistics then cover every rank of ``group``. With ``gather_stats=False`` they cover this
        rank only (unless ``scope="global"`` gathered the tokens anyway). ``token_ids`` (B x T)
        and ``correct`` (B,) are optional inputs of the statistics.
        """
        import torch

        c = self.config
        ratio = _check_options(c.ratio, c.select, c.scope)
        h, valid = _check_tensors(entropies, valid_mask)
        index, values = _valid_values(h, valid)
        distributed = _distributed_world(group) > 1
        table = None
        if c.scope == "global" and distributed:
            local = token_table(h, valid, token_ids=token_ids, correct=correct, index=index)
            table, offset = _all_gather_rows(local, group)
            keep = _select_in_pool(table[:, 0], ratio, c.select)
            table[:, 3] = keep.float()
            mask = _scatter(valid, index, keep[offset : offset + index.numel()])
            if c.normalizer == "selected":
                n_kept = keep.sum().float()
                scale = torch.where(
                    n_kept > 0, keep.numel() / n_kept.clamp(min=1.0), torch.zeros_like(n_kept)
                )
            else:
                scale = torch.ones((), device=h.device)
        else:
            local_scope = "batch" if c.scope == "global" else c.scope
            if ratio >= 1.0:
                mask = valid.clone()
            elif local_scope == "sequence":
                mask = _select_per_row(h.float(), valid, ratio, c.select)
            else:
                mask = _scatter(valid, index, _select_in_pool(values, ratio, c.select))
            scale = normalizer_scale(mask, valid, local_scope, c.normalizer)
            if stats:
                local = token_table(
                    h, valid, kept=mask, token_ids=token_ids, correct=correct, index=index
                )
                table = _all_gather_rows(local, group)[0] if distributed and gather_stats else local
        dtype = torch.promote_types(h.dtype, torch.float32)  # bf16 would round a 1/ρ scale
        weights = mask.to(dtype) * scale.to(dtype)
        result_stats = (
            stats_from_table(table, threshold=c.stats_threshold)
            if stats and table is not None
            else None
        )
        return EntropyMaskResult(mask=mask, weights=weights, stats=result_stats)
