"""Junk in TRL's reward call never crashes a step: every function returns one finite value (or
None) per completion, in order, and every rollout has an outcome.

The functions are called as ``GRPOTrainer._calculate_rewards`` calls them: keyword arguments
only, ``prompts``, ``completions``, ``completion_ids``, the dataset columns and
``trainer_state``, sync functions before async ones.
"""

from __future__ import annotations

import asyncio
import math
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rewardkit_trl import build_reward_funcs, build_total_reward_func
from trl.trainer.utils import is_async_callable

from rewardkit import Outcome

G = 2
CONFIG: dict[str, Any] = {
    "rewards": [
        {"name": "math", "type": "math"},
        {"name": "format", "type": "format"},
        {"name": "length", "type": "length", "max_tokens": 8, "buffer_tokens": 4},
        {"name": "repetition", "type": "ngram_repetition"},
    ],
    "shaping": [
        {"name": "ucb", "type": "ucb_exploration", "answer_from": "math"},
        {"name": "repeats", "type": "batch_repetition"},
    ],
    "diagnostics": [{"name": "answers", "type": "answer_diversity"}],
    "engine": {"workers": 1, "timeout_s": 0.5},
    "strict": False,
}

scalars = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=4),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "\x00\\boxed{1}", "\\boxed{" * 500, "{" * 5000]),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=5,
)
# Conversational completions: TRL passes a list of messages per completion.
messages = st.lists(
    st.one_of(
        st.fixed_dictionaries({"role": st.just("assistant"), "content": nested}),
        st.fixed_dictionaries({"role": st.just("assistant")}),
        st.fixed_dictionaries(
            {
                "role": st.just("assistant"),
                "content": st.lists(st.dictionaries(st.just("text"), nested)),
            }
        ),
        nested,
    ),
    max_size=2,
)
cells = st.one_of(nested, messages)
calls = st.integers(1, 2).flatmap(
    lambda groups: st.fixed_dictionaries(
        {
            "prompts": st.lists(cells, min_size=groups * G, max_size=groups * G),
            "completions": st.lists(cells, min_size=groups * G, max_size=groups * G),
            "answer": st.lists(nested, min_size=groups * G, max_size=groups * G),
            "extra": st.lists(nested, min_size=groups * G, max_size=groups * G),
        }
    )
)
TEXT_PART_WITHOUT_TEXT = [{"role": "assistant", "content": [{"type": "text", "text": None}]}]


@pytest.fixture(scope="module")
def funcs() -> Any:
    reward_funcs, _ = build_reward_funcs(CONFIG, num_generations=G)
    total = build_total_reward_func(reward_funcs[0].scorer)
    yield [*reward_funcs, total]
    reward_funcs[0].scorer.close()


def trl_call(funcs: list[Any], call: dict[str, Any]) -> list[list[float | None]]:
    n = len(call["completions"])
    kwargs = dict(
        call,
        completion_ids=[[1] * (i + 1) for i in range(n)],
        trainer_state=SimpleNamespace(global_step=1),
        log_metric=lambda key, value: None,
        log_extra=lambda column, values: None,
    )
    sync = [f(**kwargs) for f in funcs if not is_async_callable(f)]
    return sync + [asyncio.run(f(**kwargs)) for f in funcs if is_async_callable(f)]


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(call=calls)
@example(
    call={
        "prompts": [TEXT_PART_WITHOUT_TEXT] * 2,
        "completions": [TEXT_PART_WITHOUT_TEXT, [{"role": "assistant", "content": "\\boxed{1}"}]],
        "answer": ["1", {"not": "an answer"}],
        "extra": [None, float("nan")],
    }
)
def test_junk_columns_give_every_completion_a_value_and_an_outcome(
    funcs: list[Any], call: dict[str, Any]
) -> None:
    start = time.monotonic()
    columns = trl_call(funcs, call)
    elapsed = time.monotonic() - start

    n = len(call["completions"])
    for values in columns:
        assert len(values) == n
        assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in values)
    scorer = funcs[0].scorer
    for name in ("math", "format", "length", "repetition"):
        results = scorer.last_results[name]
        assert len(results) == n
        for r in results:
            assert isinstance(r.outcome, Outcome)
            if r.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
                assert r.reason
    # No reward fell back to "raised, so every rollout is an error".
    assert not any(
        r.reason.startswith("reward failed") for res in scorer.last_results.values() for r in res
    )
    assert elapsed < n * 0.5 + 8.0
