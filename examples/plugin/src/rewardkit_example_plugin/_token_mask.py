"""An example token mask: keep the tokens whose entropy is above a fixed threshold.

A token component only declares a ``mask`` (or ``weights``); rewardkit's token-component
contract does the rest, the same way for this plugin as for the built-in ``entropy_top_ratio``:
the TRL trainer and verl's loss wrapper / driver call it through
``rewardkit.masks.run_token_term``, which adds the token-entropy statistics
(``rewardkit/token_mask/*``), and rescale it per response or micro-batch for
``normalizer: selected`` (``rewardkit.masks.policy_weights``).

torch is imported inside the method: ``rewardkit components`` imports every plugin.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rewardkit import ComponentConfig, TokenMaskComponent


class EntropyThresholdConfig(ComponentConfig):
    threshold: float = Field(
        default=1.0,
        ge=0.0,
        description="Keep the response tokens whose entropy (nats) is strictly above this.",
    )
    normalizer: Literal["all", "selected"] = Field(
        default="all",
        description="Loss denominator: 'all' keeps the dropped tokens in it, 'selected' divides "
        "by the kept tokens (the adapters rescale per response or micro-batch as their loss "
        "divides).",
    )


class EntropyThresholdMask(TokenMaskComponent):
    """Keeps the policy-gradient loss on tokens whose entropy exceeds a fixed threshold."""

    type = "entropy_threshold"
    Config = EntropyThresholdConfig

    def mask(self, entropies: Any, valid_mask: Any) -> Any:
        cfg: EntropyThresholdConfig = self.config  # type: ignore[assignment]
        return (entropies.detach() > cfg.threshold) & valid_mask.bool()
