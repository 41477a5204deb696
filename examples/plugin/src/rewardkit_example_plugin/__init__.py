"""An example rewardkit plugin: a per-rollout reward, ``keyword``, and a token mask,
``entropy_threshold``.

Install it (``pip install -e examples/plugin``) and ``rewardkit components`` lists both with
plugin ``example``; a config can then use ``rewards: [{type: keyword, ...}]`` and
``token_mask: {type: entropy_threshold, threshold: 1.0}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

import rewardkit
from rewardkit import ComponentConfig, RewardComponent, RewardResult, Rollout, ScoringContext
from rewardkit_example_plugin._token_mask import EntropyThresholdConfig, EntropyThresholdMask

__all__ = ["EntropyThresholdConfig", "EntropyThresholdMask", "KeywordConfig", "KeywordReward"]


class KeywordConfig(ComponentConfig):
    keywords: list[str] = Field(min_length=1, description="Words the completion should contain.")
    case_sensitive: bool = Field(default=False, description="Match case exactly.")


class KeywordReward(RewardComponent):
    """Fraction of the configured keywords that appear in the completion."""

    type = "keyword"
    Config = KeywordConfig

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        cfg: KeywordConfig = self.config  # type: ignore[assignment]
        words = cfg.keywords if cfg.case_sensitive else [w.lower() for w in cfg.keywords]
        out = []
        for r in rollouts:
            text = r.completion_text if cfg.case_sensitive else r.completion_text.lower()
            if not text.strip():
                out.append(RewardResult.no_answer("empty completion"))
                continue
            hits = sum(w in text for w in words)
            frac = hits / len(words)
            out.append(
                RewardResult.correct(frac) if hits == len(words) else RewardResult.incorrect(frac)
            )
        return out


@rewardkit.hookimpl
def rewardkit_components() -> list[type[rewardkit.Component]]:
    return [KeywordReward, EntropyThresholdMask]
