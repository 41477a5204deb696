"""Turning verl's per-sample fields into rewardkit rollouts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewardkit import Rollout

__all__ = ["as_prompt", "plain", "rollout_of"]


def plain(value: Any) -> Any:
    """numpy scalars, 0-d and object arrays, and tensordict stacks as Python values."""
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    item = getattr(value, "item", None)
    if getattr(value, "ndim", None) == 0 and callable(item):
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    data = getattr(value, "data", None)  # tensordict NonTensorData
    if data is not None and data is not value:
        return plain(data)
    return value


def as_prompt(value: Any) -> str | list[dict[str, Any]]:
    """A dataset's ``raw_prompt`` (chat messages, maybe inside a numpy array) or a string.

    verl stores chat prompts as numpy object arrays of message dicts; ``prompt_hash`` reads
    sequences of mappings, so they become lists of plain dicts (equal prompts, equal hashes).
    """
    value = plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [dict(m) for m in (plain(m) for m in value) if isinstance(m, Mapping)]
    return ""


def rollout_of(
    *,
    prompt: Any,
    completion: str,
    group: Any = None,
    reward_model: Any = None,
    data_source: Any = None,
    extra_info: Any = None,
    index: Any = None,
    completion_logprobs: Any = None,
) -> Rollout:
    """A rollout from one verl sample's fields.

    ``reference`` is ``reward_model["ground_truth"]``; ``metadata`` carries ``data_source``,
    ``index`` (the dataset row id, stable across steps, unlike verl's per-step ``uid``) and the
    dataset's ``extra_info``. ``completion_logprobs`` are the response's sampled-token
    log-probs when a component of the config needs them.
    """
    reward_model = plain(reward_model)
    reference = reward_model.get("ground_truth") if isinstance(reward_model, Mapping) else None
    extra = plain(extra_info)
    extra = dict(extra) if isinstance(extra, Mapping) else {}
    index = plain(index)
    if index is None:
        index = extra.get("index")
    metadata = {"data_source": plain(data_source), "index": index, "extra_info": extra}
    return Rollout(
        prompt=as_prompt(prompt),
        completion=completion,
        group=plain(group),
        reference=plain(reference),
        metadata=metadata,
        completion_logprobs=completion_logprobs,
    )
