"""Junk in verl's per-sample fields never crashes the reward loop: ``compute_score`` and the
reward manager return the config's fixed key set for every sample, and one bad field fails only
the rewards it concerns (not the whole sample)."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rewardkit_verl._extra_info import OUTCOME_CODES
from rewardkit_verl._scorer import close_scorers
from rewardkit_verl.scoring import compute_score
from verl_testlib import make_dataproto, verl_config

CONFIG: dict[str, Any] = {
    "rewards": [
        {"name": "math", "type": "math"},
        {"name": "format", "type": "format", "tags": ["answer"], "allow_outside_text": True},
        {"name": "code", "type": "code", "timeout_s": 2.0},
    ],
    "engine": {"workers": 1, "timeout_s": 0.5},
    "strict": False,
}
KEYS = [
    "score",
    *(
        f"{name}{suffix}"
        for name in ("math", "format", "code")
        for suffix in ("", "_outcome", "_answer", "_reason")
    ),
]
ERROR = OUTCOME_CODES["error"]

scalars = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=4),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "\\boxed{" * 500, "<answer>1</answer>"]),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)
extra_infos = st.one_of(
    nested,
    st.dictionaries(st.sampled_from(["index", "prompt", "question", "split"]), nested, max_size=3),
)


@pytest.fixture(autouse=True, scope="module")
def _fresh_scorers() -> Any:
    yield
    close_scorers()


def check_info(info: dict[str, Any]) -> None:
    assert list(info) == KEYS
    assert all(math.isfinite(info[k]) for k in ("score", "math", "format", "code"))
    for name in ("math", "format", "code"):
        assert info[f"{name}_outcome"] in OUTCOME_CODES.values()
        if info[f"{name}_outcome"] in (ERROR, OUTCOME_CODES["timeout"]):
            assert info[f"{name}_reason"]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data_source=nested, solution=nested, ground_truth=nested, extra_info=extra_infos)
# A reference test value that is not JSON, and a chat prompt whose text part has no text: both
# used to fail every reward of the sample.
@example(
    data_source="x",
    solution="<answer>1</answer>",
    ground_truth={"inputs": [b"1"], "outputs": [b"1"]},
    extra_info={"prompt": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
)
def test_compute_score_returns_the_key_set_for_junk(
    data_source: Any, solution: Any, ground_truth: Any, extra_info: Any
) -> None:
    start = time.monotonic()
    info = asyncio.run(
        compute_score(data_source, solution, ground_truth, extra_info, rewardkit_config=CONFIG)
    )
    assert time.monotonic() - start < 0.5 + 2.0 + 8.0
    check_info(info)
    if solution == "<answer>1</answer>":
        assert info["format_outcome"] == OUTCOME_CODES["correct"]


ODD_FIELDS = {
    "raw_prompt": [None, 5, [{"role": "user"}], [{"content": [{"text": None}]}], np.array([1, 2])],
    "reward_model": [None, "text", {}, {"ground_truth": {"inputs": [b"x"], "outputs": [1]}}],
    "extra_info": [None, "text", {"index": [1]}, 5],
    "index": [None, [1, 2], {"a": 1}, np.int64(3)],
    "data_source": [None, 5, b"x"],
}


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in ODD_FIELDS.items() for v in values]
)
def test_reward_manager_scores_odd_fields_of_a_real_dataproto(
    tokenizer: Any, field: str, value: Any
) -> None:
    from verl.trainer.ppo.reward import load_reward_manager

    data = make_dataproto(
        tokenizer,
        prompts=["p", "p"],
        responses=["<answer>1</answer>", "no tags"],
        ground_truths=["1", "1"],
        uids=["u", "u"],
    )
    column = np.empty(2, dtype=object)
    column[:] = [value, value]
    data.non_tensor_batch[field] = column
    manager = load_reward_manager(verl_config(CONFIG), tokenizer)

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(2)))

    outputs = asyncio.run(run())
    assert len(outputs) == 2
    for out in outputs:
        check_info(out["reward_extra_info"])
    # The format reward never reads these fields: it scores as usual, in order.
    formats = [o["reward_extra_info"]["format_outcome"] for o in outputs]
    assert formats == [OUTCOME_CODES["correct"], OUTCOME_CODES["incorrect"]]
