"""Entropy-gated token masks (plugin ``rewardkit.masks``); torch loads on first use.

Train the policy gradient only on the top-ρ highest-entropy response tokens, the "forking"
tokens of arXiv 2506.01939, and watch token entropy while doing so:

* :func:`entropy_mask` / :func:`entropy_weights` - the selection (``topk`` or ``quantile``,
  scope ``batch`` / ``sequence`` / ``global``) as a bool mask or normaliser-scaled weights;
* :func:`masked_loss` - token-mean aggregation with the ``selected`` or ``all`` normaliser;
* :func:`token_entropy_stats` - mean, quantiles, share over threshold, correct vs incorrect,
  forking tokens;
* :class:`EntropyTopRatioMask` - the ``token_mask: {type: entropy_top_ratio}`` component the
  TRL and verl adapters apply.
"""

from __future__ import annotations

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl
from rewardkit.masks._component import (
    EntropyMaskResult,
    EntropyTopRatioConfig,
    EntropyTopRatioMask,
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

__all__ = [
    "EntropyMaskResult",
    "EntropyTopRatioConfig",
    "EntropyTopRatioMask",
    "TokenEntropyStats",
    "decode_token_counts",
    "entropy_mask",
    "entropy_weights",
    "format_forking_tokens",
    "kept_count",
    "masked_loss",
    "normalizer_scale",
    "token_entropy_stats",
]


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in token masks."""
    return [EntropyTopRatioMask]
