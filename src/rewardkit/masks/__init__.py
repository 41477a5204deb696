"""Entropy-gated token masks (plugin ``rewardkit.masks``); torch loads on first use.

Train the policy gradient only on the top-ρ highest-entropy response tokens, the "forking"
tokens of arXiv 2506.01939, and watch token entropy while doing so:

* :func:`entropy_mask` / :func:`entropy_weights` - the selection (``topk`` or ``quantile``,
  scope ``batch`` / ``sequence`` / ``global``) as a bool mask or normaliser-scaled weights;
* :func:`masked_loss` - token-mean aggregation with the ``selected`` or ``all`` normaliser;
* :func:`token_entropy_stats` - mean, quantiles, share over threshold, correct vs incorrect,
  forking tokens; :func:`answer_token_mask` / :func:`answer_span_entropy` - the final answer's
  tokens and their entropy versus the rest of the completion;
* :class:`EntropyTopRatioMask` - the ``token_mask: {type: entropy_top_ratio}`` component the
  TRL and verl adapters apply;
* :func:`run_token_term` / :func:`policy_weights` - the token-component contract's driver
  (:class:`TokenInputs` in, :class:`TokenOutput` out): the one path both adapters run every
  token component through, a plugin's included;
* :func:`entropy_advantage` (arXiv 2506.14758), :func:`covariance`, :func:`kl_cov_select`,
  :func:`clip_cov_select` and the Clip-Cov / KL-Cov per-token losses (arXiv 2505.22617, as
  verl 0.9.1 computes them), for people who write their own trainer.
"""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit._tokens import TOKEN_STAGES, TokenInputs, TokenOutput
from rewardkit.hookspecs import hookimpl
from rewardkit.masks._answer_span import (
    TokenPieces,
    answer_char_span,
    answer_span_entropy,
    answer_token_mask,
)
from rewardkit.masks._component import (
    EntropyMaskResult,
    EntropyTopRatioConfig,
    EntropyTopRatioMask,
)
from rewardkit.masks._contract import (
    TOKEN_MASK_PREFIX,
    by_stage,
    policy_weights,
    run_token_term,
    sum_metric_key,
)
from rewardkit.masks._entropy_mask import (
    entropy_mask,
    entropy_weights,
    kept_count,
    masked_loss,
    normalizer_scale,
)
from rewardkit.masks._entropy_stats import (
    TokenEntropyStats,
    decode_token_counts,
    format_forking_tokens,
    token_entropy_stats,
)
from rewardkit.masks._entropy_terms import (
    clip_cov_per_token_loss,
    clip_cov_select,
    covariance,
    entropy_advantage,
    kl_cov_per_token_loss,
    kl_cov_select,
    ppo_clipped,
)
from rewardkit.masks._token_terms import (
    STAGES,
    ClipCovConfig,
    ClipCovTerm,
    EntropyAdvantageConfig,
    EntropyAdvantageTerm,
    KlCovConfig,
    KlCovTerm,
    TokenEntropyConfig,
    TokenEntropyTerm,
    token_stage,
)

__all__ = [
    "STAGES",
    "TOKEN_MASK_PREFIX",
    "TOKEN_STAGES",
    "ClipCovConfig",
    "ClipCovTerm",
    "EntropyAdvantageConfig",
    "EntropyAdvantageTerm",
    "EntropyMaskResult",
    "EntropyTopRatioConfig",
    "EntropyTopRatioMask",
    "KlCovConfig",
    "KlCovTerm",
    "TokenEntropyConfig",
    "TokenEntropyStats",
    "TokenEntropyTerm",
    "TokenInputs",
    "TokenOutput",
    "TokenPieces",
    "answer_char_span",
    "answer_span_entropy",
    "answer_token_mask",
    "by_stage",
    "clip_cov_per_token_loss",
    "clip_cov_select",
    "covariance",
    "decode_token_counts",
    "entropy_advantage",
    "entropy_mask",
    "entropy_weights",
    "format_forking_tokens",
    "kept_count",
    "kl_cov_per_token_loss",
    "kl_cov_select",
    "masked_loss",
    "normalizer_scale",
    "policy_weights",
    "ppo_clipped",
    "run_token_term",
    "sum_metric_key",
    "token_entropy_stats",
    "token_stage",
]


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in token terms: the entropy mask and the ``token:`` list's other terms."""
    return [
        EntropyTopRatioMask,
        EntropyAdvantageTerm,
        ClipCovTerm,
        KlCovTerm,
        TokenEntropyTerm,
    ]
