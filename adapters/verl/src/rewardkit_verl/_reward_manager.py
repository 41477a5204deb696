"""verl reward manager ``rewardkit``: per-sample scoring in verl's reward loop.

Select it with ``reward.reward_manager.name=rewardkit`` and point it at a config with
``+reward.reward_kwargs.rewardkit_config=/path/rewardkit.yaml``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
from verl.utils.reward_score import default_compute_score

from rewardkit_verl._driver_sections import dropped_sections_message
from rewardkit_verl._extra_info import SCORE_KEY
from rewardkit_verl._log import logger
from rewardkit_verl._rollouts import rollout_of
from rewardkit_verl._scorer import SampleScorer, scorer_for
from rewardkit_verl._settings import settings_from_verl_config

__all__ = ["MANAGER_NAME", "RewardKitRewardManager", "register"]

MANAGER_NAME = "rewardkit"


def _is_ours_or_default(compute_score: Any) -> bool:
    if compute_score is None or compute_score is default_compute_score:
        return True
    # verl wraps a custom function as partial(_call_with_kwargs, raw_fn, reward_kwargs).
    args = getattr(compute_score, "args", ())
    raw = args[0] if args else compute_score
    return getattr(raw, "__module__", "") == "rewardkit_verl.scoring"


class RewardKitRewardManager(RewardManagerBase):
    """Scores each trajectory with a rewardkit config's rewards in the engine's worker processes.

    Returns ``{"reward_score": total, "reward_extra_info": {...}}`` with the same keys for every
    sample (see :class:`~rewardkit_verl._extra_info.ExtraInfoLayout`), a timeout or a failure
    included. ``compute_score`` (verl's default or a custom function) is not used: the rewards
    come from the rewardkit config.
    """

    def __init__(
        self,
        config: Any,
        tokenizer: Any,
        compute_score: Any = None,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        self.reward_router_address = reward_router_address
        self.reward_model_tokenizer = reward_model_tokenizer
        self.settings = settings_from_verl_config(config)
        self.scorer: SampleScorer = scorer_for(self.settings)
        dropped = dropped_sections_message(
            self.settings.config, config, source=self.settings.source
        )
        if dropped is not None:
            logger.warning(dropped)
        if not _is_ours_or_default(compute_score):
            logger.warning(
                "rewardkit: reward manager %r ignores reward.custom_reward_function (%r); the "
                "rewards come from the rewardkit config %s",
                MANAGER_NAME,
                compute_score,
                self.settings.source,
            )

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        # Multi-output trajectories are scored on their last output, as verl's own managers do.
        item = data[-1:][0]
        responses = item.batch["responses"]
        valid = int(item.batch["attention_mask"][-responses.shape[-1] :].sum())
        nt = item.non_tensor_batch
        prompt = nt.get("raw_prompt")
        text = await asyncio.to_thread(self._decode, responses[:valid], prompt is None, item)
        completion, decoded_prompt = text
        rollout = rollout_of(
            prompt=prompt if prompt is not None else decoded_prompt,
            completion=completion,
            group=nt.get("uid"),
            reward_model=nt.get("reward_model"),
            data_source=nt.get("data_source"),
            extra_info=nt.get("extra_info"),
            index=nt.get("index"),
        )
        info = await self.scorer.ascore(rollout)
        return {"reward_score": info[SCORE_KEY], "reward_extra_info": info}

    def _decode(self, response_ids: Any, want_prompt: bool, item: Any) -> tuple[str, str]:
        completion = self.tokenizer.decode(response_ids, skip_special_tokens=True)
        if not want_prompt:
            return completion, ""
        prompt_ids = item.batch["prompts"]
        prompt_mask = item.batch["attention_mask"][: prompt_ids.shape[-1]].bool()
        return completion, self.tokenizer.decode(prompt_ids[prompt_mask], skip_special_tokens=True)


def register(registry_module: Any) -> None:
    """Post-import hook for ``verl.experimental.reward_loop.reward_manager``."""
    registry_module.register(MANAGER_NAME)(RewardKitRewardManager)


# Imported before verl's module? Then the plugin's hook fired while this module was half-done.
if "rewardkit_verl._plugin" in sys.modules:
    sys.modules["rewardkit_verl._plugin"].register_deferred(__name__)
