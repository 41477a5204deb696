"""``compute_score`` for verl's custom-reward-function path.

::

    reward.custom_reward_function.path=pkg://rewardkit_verl.scoring
    +reward.custom_reward_function.reward_kwargs.rewardkit_config=/path/rewardkit.yaml

``pkg://`` imports the module once per process (a file path would re-execute it on every load
and build new classes each time). It is an ``async def``, so verl's managers await it on their
event loop instead of running it in a thread. The result has the same keys for every sample.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from rewardkit_verl._rollouts import rollout_of
from rewardkit_verl._scorer import scorer_for
from rewardkit_verl._settings import (
    CONFIG_KEY,
    SAMPLE_TIMEOUT_KEY,
    AdapterSettings,
    settings_from_kwargs,
)

__all__ = ["compute_score"]

_WHERE = "reward.custom_reward_function.reward_kwargs"
_settings_cache: dict[str, AdapterSettings] = {}
_settings_lock = threading.Lock()


def _settings(kwargs: dict[str, Any]) -> AdapterSettings:
    # Called per sample: read and validate the config file once per process.
    ours = {k: kwargs[k] for k in (CONFIG_KEY, SAMPLE_TIMEOUT_KEY) if k in kwargs}
    key = json.dumps(ours, sort_keys=True, default=str)
    with _settings_lock:
        found = _settings_cache.get(key)
        if found is None:
            found = _settings_cache[key] = settings_from_kwargs(ours, where=_WHERE)
        return found


async def compute_score(
    data_source: Any = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Score one response with the rewardkit config named in the reward kwargs.

    Returns verl's dict form: ``score`` (the weighted total) plus every reward's value,
    outcome code, answer and reason. A missing or invalid config raises ``ConfigError`` on the
    first call (a setup mistake, not bad input); bad input never raises.
    """
    settings = _settings(kwargs)
    extra = extra_info if isinstance(extra_info, dict) else {}
    prompt = extra.get("prompt", extra.get("question", ""))
    rollout = rollout_of(
        prompt=prompt,
        completion=solution_str if isinstance(solution_str, str) else "",
        reward_model={"ground_truth": ground_truth},
        data_source=data_source,
        extra_info=extra,
        index=extra.get("index"),
    )
    return await scorer_for(settings).ascore(rollout)
