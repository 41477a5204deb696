"""Token-level terms of the ``token:`` config list besides the entropy mask.

Each term has a *stage*; the adapters apply the configured terms in this fixed order, whatever
their order in the list (docs/masks.md):

1. ``mask`` - ``entropy_top_ratio``: which tokens the policy gradient sees;
2. ``advantage`` - ``entropy_advantage``: per-token advantages ``A + min(α·H, |A|/κ)``;
3. ``loss`` - ``clip_cov`` or ``kl_cov`` (one of them): change the per-token policy loss;
4. ``diagnostic`` - ``token_entropy``: statistics only, nothing changes.

Every term implements the token-component contract (``apply_tokens``, :mod:`rewardkit._tokens`);
the adapters drive them, and any plugin's token component, through
:func:`rewardkit.masks.run_token_term`. A :class:`~rewardkit.TokenMaskComponent` that declares no
``token_stage`` is a mask.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from rewardkit._components import ComponentConfig, TokenMaskComponent
from rewardkit._errors import ConfigError, ConfigFieldError
from rewardkit._tokens import TOKEN_STAGES, TokenInputs, TokenOutput
from rewardkit.masks._entropy_terms import (
    CLIP_COV_LOWER,
    CLIP_COV_RATIO,
    CLIP_COV_UPPER,
    ENTROPY_ADV_ALPHA,
    ENTROPY_ADV_ALPHA_PPO,
    ENTROPY_ADV_KAPPA,
    KL_COV_COEF,
    KL_COV_RATIO,
    clip_cov_select,
    entropy_advantage,
    kl_cov_select,
    ppo_clipped,
)

__all__ = [
    "STAGES",
    "ClipCovConfig",
    "ClipCovTerm",
    "EntropyAdvantageConfig",
    "EntropyAdvantageTerm",
    "KlCovConfig",
    "KlCovTerm",
    "TokenEntropyConfig",
    "TokenEntropyTerm",
    "token_stage",
]

#: The order in which the adapters apply the stages (``rewardkit._tokens.TOKEN_STAGES``).
STAGES: tuple[str, ...] = TOKEN_STAGES


def token_stage(term: Any) -> str:
    """The stage of a token term (instance or class): its ``token_stage``."""
    return str(term.token_stage)


class _NotAMask(TokenMaskComponent):
    """A token term that is not a loss mask: ``mask``/``weights`` are not its job."""

    token_stage: ClassVar[str] = "diagnostic"

    def mask(self, entropies: Any, valid_mask: Any) -> Any:
        raise ConfigError(f"token term {self.type!r} is a {self.token_stage} term, not a mask")


class EntropyAdvantageConfig(ComponentConfig):
    """Fields of ``{type: entropy_advantage}``."""

    alpha: float = Field(
        default=ENTROPY_ADV_ALPHA,
        ge=0.0,
        description="α, the entropy scale in A + min(α·H.detach(), |A|/κ). The default is the "
        "paper's GRPO value (Cheng et al., arXiv 2506.14758 §4: 0.4 for GRPO, 0.1 for PPO with a "
        "critic; set 0.1 for verl's adv_estimator=gae).",
    )
    kappa: float = Field(
        default=ENTROPY_ADV_KAPPA,
        gt=1.0,
        description="κ > 1, the clip: the entropy term is at most |A|/κ, so it never flips the "
        "advantage's sign (arXiv 2506.14758 §4: 2 in all the paper's experiments).",
    )


class EntropyAdvantageTerm(_NotAMask):
    """Adds min(α·H, |A|/κ) to each token's advantage (arXiv 2506.14758); verl: old-policy H.

    The paper adds the term in verl's actor update with the current policy's entropy. TRL does
    the same here; in verl rewardkit adds it on the driver from the old-policy entropy V1
    stores, which equals the current policy's only before the first optimiser step of a batch
    (docs/masks.md, "Limits in verl").
    """

    type: ClassVar[str] = "entropy_advantage"
    token_stage: ClassVar[str] = "advantage"
    Config: ClassVar[type[ComponentConfig]] = EntropyAdvantageConfig
    config: EntropyAdvantageConfig

    def ppo_critic_warning(self) -> str | None:
        """What to warn when this term runs under PPO with a critic and α is left at the
        default, the paper's GRPO value (arXiv 2506.14758 §4: 0.4 for GRPO, 0.1 for PPO)."""
        if "alpha" in self.config.model_fields_set:
            return None
        return (
            f"token term {self.name!r} (entropy_advantage) keeps the default alpha="
            f"{ENTROPY_ADV_ALPHA}, the paper's GRPO value; the paper used alpha="
            f"{ENTROPY_ADV_ALPHA_PPO} for PPO with a critic (arXiv 2506.14758 §4). Set alpha "
            "explicitly to silence this."
        )

    def advantages(self, advantages: Any, entropies: Any, valid: Any = None) -> Any:
        """B x T advantages with the entropy term (see :func:`rewardkit.masks.entropy_advantage`)."""
        c = self.config
        return entropy_advantage(advantages, entropies, alpha=c.alpha, kappa=c.kappa, valid=valid)

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        """New B x T advantages; ``sums["bonus_mean"]``: the added term summed over valid tokens."""
        if inputs.advantages is None:
            return TokenOutput()
        valid = inputs.valid.bool()
        base = inputs.advantages
        new = self.advantages(base, inputs.entropies, valid)
        if base.dim() == 1:
            base = base[:, None]
        return TokenOutput(advantages=new, sums={"bonus_mean": ((new - base) * valid).sum()})


class ClipCovConfig(ComponentConfig):
    """Fields of ``{type: clip_cov}``."""

    ratio: float = Field(
        default=CLIP_COV_RATIO,
        gt=0.0,
        le=1.0,
        description="r: share of the micro-batch's valid tokens whose gradient is stopped, drawn "
        "among those with cov_lower < Cov < cov_upper (Cui et al., arXiv 2505.22617; verl's "
        "clip_cov_ratio default 2e-4; at least one token).",
    )
    cov_lower: float = Field(
        default=CLIP_COV_LOWER,
        description="ω_low, the lower covariance bound (strict, as verl; verl's clip_cov_lb "
        "default 1).",
    )
    cov_upper: float = Field(
        default=CLIP_COV_UPPER,
        description="ω_high, the upper covariance bound (strict, as verl; verl's clip_cov_ub "
        "default 5).",
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ClipCovConfig:
        if not self.cov_lower < self.cov_upper:
            raise ConfigFieldError(
                "cov_upper",
                f"cov_lower ({self.cov_lower}) must be below cov_upper ({self.cov_upper})",
            )
        return self


class ClipCovTerm(_NotAMask):
    """Clip-Cov (arXiv 2505.22617): stops the gradient of a few random high-covariance tokens."""

    type: ClassVar[str] = "clip_cov"
    token_stage: ClassVar[str] = "loss"
    Config: ClassVar[type[ComponentConfig]] = ClipCovConfig
    config: ClipCovConfig

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        """``loss_scale`` 0 at the drawn tokens (their gradient stopped), the tokens PPO's clip
        already clipped left out of the draw; needs the current log-probs (else no effect)."""
        logps, advantages = inputs.logprobs, inputs.advantages
        if logps is None or advantages is None:
            return TokenOutput()
        valid = inputs.valid.bool()
        old = logps.detach() if inputs.old_logprobs is None else inputs.old_logprobs
        c = self.config
        clipped = ppo_clipped(
            logps, old, advantages, valid, clip_low=inputs.clip_low, clip_high=inputs.clip_high
        )
        selected = clip_cov_select(
            logps,
            advantages,
            valid,
            ratio=c.ratio,
            cov_lower=c.cov_lower,
            cov_upper=c.cov_upper,
            exclude=clipped,
        )
        return TokenOutput(
            mask=selected,
            loss_scale=(~selected).to(inputs.entropies.dtype),
            sums={"selected_share": selected.sum()},
        )


class KlCovConfig(ComponentConfig):
    """Fields of ``{type: kl_cov}``."""

    ratio: float = Field(
        default=KL_COV_RATIO,
        gt=0.0,
        le=1.0,
        description="k: share of the micro-batch's valid tokens, the top ones by covariance, "
        "that get the KL penalty (Cui et al., arXiv 2505.22617; verl's kl_cov_ratio default "
        "2e-4; at least one token).",
    )
    coef: float = Field(
        default=KL_COV_COEF,
        ge=0.0,
        description="β in β·|log π_θ - log π_old| on the selected tokens (verl's ppo_kl_coef "
        "default 0.1).",
    )


class KlCovTerm(_NotAMask):
    """KL-Cov (arXiv 2505.22617): a KL penalty on the top-covariance tokens."""

    type: ClassVar[str] = "kl_cov"
    token_stage: ClassVar[str] = "loss"
    Config: ClassVar[type[ComponentConfig]] = KlCovConfig
    config: KlCovConfig

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        """``penalty`` β·|log π - log π_old| on the top-covariance tokens (times the mask
        stage's weights); needs the current log-probs (else no effect)."""
        logps, advantages = inputs.logprobs, inputs.advantages
        if logps is None or advantages is None:
            return TokenOutput()
        valid = inputs.valid.bool()
        old = logps.detach() if inputs.old_logprobs is None else inputs.old_logprobs
        c = self.config
        selected = kl_cov_select(logps, advantages, valid, ratio=c.ratio)
        gate = selected.to(logps.dtype)
        if inputs.weights is not None:
            gate = gate * inputs.weights.to(logps.dtype)
        penalty = c.coef * (logps - old).abs() * gate
        return TokenOutput(
            mask=selected,
            penalty=penalty,
            sums={"selected_share": selected.sum(), "penalty_mean": penalty.detach().sum()},
        )


class TokenEntropyConfig(ComponentConfig):
    """Fields of ``{type: token_entropy}``."""

    top_share: float = Field(
        default=0.2,
        gt=0.0,
        lt=1.0,
        description="The top share of tokens by entropy whose share of the entropy mass is "
        "logged (entropy_mass_top) and whose most frequent tokens are logged as text.",
    )
    top_tokens: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="How many of the most frequent high-entropy tokens are logged as text "
        "(where a tokenizer is at hand); 0 disables.",
    )


class TokenEntropyTerm(_NotAMask):
    """Token-entropy statistics per step (no mask needed): mean, quantiles, top-share mass,
    correct vs incorrect, the answer span versus the rest, high-entropy tokens."""

    type: ClassVar[str] = "token_entropy"
    token_stage: ClassVar[str] = "diagnostic"
    needs_token_text: ClassVar[bool] = True
    Config: ClassVar[type[ComponentConfig]] = TokenEntropyConfig
    config: TokenEntropyConfig

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        """``mask``: the top ``top_share`` tokens by entropy (over every rank of
        ``inputs.group`` when ``inputs.gather_stats``: a collective); ``stats``: the statistics
        of all valid tokens with that top share as the kept set, logged through ``metrics``;
        ``ratios``: the top share's part of the entropy mass and, with ``inputs.token_text``,
        the answer span (the final answer's tokens as the verifiers' extractor finds them)
        versus the rest of those completions; ``token_counts``: the top tokens' ids. Nothing is
        logged when no rank has a valid token."""
        import torch

        from rewardkit.masks._answer_span import answer_token_mask
        from rewardkit.masks._entropy_mask import entropy_mask
        from rewardkit.masks._entropy_stats import token_entropy_stats

        h = inputs.entropies.detach().float()
        valid = inputs.valid.bool()
        scope = "global" if inputs.gather_stats else "batch"
        top = entropy_mask(h, valid, self.config.top_share, scope=scope, group=inputs.group)
        stats = token_entropy_stats(
            h,
            valid,
            kept_mask=top,
            token_ids=inputs.token_ids,
            correct=inputs.correct,
            threshold=None,
            group=inputs.group,
            gather=inputs.gather_stats,
        )
        if stats.num_tokens == 0:
            return TokenOutput(mask=top, stats=stats)
        metrics = {
            "mean": stats.mean,
            "p50": stats.p50,
            "p80": stats.p80,
            "p95": stats.p95,
            "top_threshold": stats.threshold,
        }
        if stats.mean_correct is not None:
            metrics["mean_correct"] = stats.mean_correct
        if stats.mean_incorrect is not None:
            metrics["mean_incorrect"] = stats.mean_incorrect
        ratios: dict[str, tuple[Any, Any]] = {"mass_top": ((h * top).sum(), (h * valid).sum())}
        if inputs.token_text is not None:
            if inputs.token_ids is None:  # every rank still returns the same keys
                answer = torch.zeros_like(valid)
                found = torch.zeros(valid.shape[0], dtype=torch.bool, device=valid.device)
            else:
                answer, found = answer_token_mask(
                    inputs.token_ids, valid, None, pieces=inputs.token_text
                )
            h64 = h.to(torch.float64)
            ans = answer.bool() & valid
            rest = valid & ~ans & found.bool()[:, None]
            rows = valid.any(dim=1)
            ratios["answer_found_share"] = ((found.bool() & rows).sum(), rows.sum())
            ratios["answer_span_mean"] = ((h64 * ans).sum(), ans.sum())
            ratios["rest_mean"] = ((h64 * rest).sum(), rest.sum())
        return TokenOutput(
            mask=top,
            stats=stats,
            metrics=metrics,
            ratios=ratios,
            token_counts={"high_entropy_tokens": stats.kept_token_counts},
        )
