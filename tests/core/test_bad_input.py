"""Bad input never crashes or hangs scoring: every rollout gets an outcome, in order, in time.

Property tests feed the pipeline (every built-in reward, the answer-level shaping terms and
diagnostics, the real engine) completions, prompts, references and metadata of every odd shape
a dataset or a model can produce, and check the contract: no exception, one result per rollout
in input order, a valid outcome (``error``/``timeout`` with a reason), finished within the
deadline plus a margin.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rewardkit import Batch, BatchError, Outcome, RewardPipeline, Rollout
from rewardkit._rollout import message_text

TIMEOUT_S = 0.5
# Engine start-up and math-verify's import happen once per module, outside these bounds.
MARGIN_S = 8.0
MAX_REASON_CHARS = 1000
CODE_TIMEOUT_S = 2.0

CONFIG: dict[str, Any] = {
    "rewards": [
        {"name": "math", "type": "math"},
        {"name": "numeric", "type": "numeric"},
        {"name": "exact", "type": "exact"},
        {"name": "choice", "type": "choice"},
        {"name": "format", "type": "format"},
        {"name": "regex", "type": "format", "pattern": "(a+)+$"},
        {"name": "length", "type": "length", "max_tokens": 8, "buffer_tokens": 4},
        {"name": "chars", "type": "length", "max_tokens": 8, "buffer_tokens": 4, "unit": "chars"},
        {"name": "repetition", "type": "ngram_repetition"},
        {"name": "code", "type": "code", "timeout_s": CODE_TIMEOUT_S},
    ],
    "shaping": [
        {"name": "ucb", "type": "ucb_exploration", "answer_from": "math"},
        {"name": "ucb_extracted", "type": "ucb_exploration", "prompt_id_column": "index"},
        {"name": "repeats", "type": "batch_repetition"},
        {"name": "diverse", "type": "semantic_diversity", "judge": "answer", "combine": "add"},
    ],
    "diagnostics": [
        {"name": "answers", "type": "answer_diversity"},
        {"name": "pass", "type": "pass_at_k"},
        {"name": "distinct", "type": "distinct_n"},
    ],
    "engine": {"workers": 2, "timeout_s": TIMEOUT_S},
    "strict": False,
}

HOSTILE_TEXT = [
    "",
    "\x00\\boxed{1}\x00",
    "\ud800",
    "\\boxed{\udfff}",
    "\\boxed{" * 2000,
    "{" * 20_000,
    "\\boxed{2}" + "a" * 1_000_000,
    "\\boxed{9^{9^{9^{9}}}}",
    "#### 1e999999",
    "The answer is (B)",
    "<think>x</think><answer>1</answer>",
    "```python\nprint(input())\n```",
]
odd_text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    odd_text,
    st.builds(object),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
# Chat messages as TRL and verl pass them, and the shapes they take when a dataset is odd.
odd_message = st.one_of(
    st.fixed_dictionaries({"role": st.just("assistant"), "content": nested}),
    st.fixed_dictionaries({"role": st.just("assistant")}),
    st.fixed_dictionaries(
        {"content": st.lists(st.dictionaries(st.sampled_from(["type", "text"]), nested))}
    ),
    nested,
)
texts = st.one_of(odd_text, nested, st.lists(odd_message, max_size=3))
references = st.one_of(
    odd_text,
    nested,
    st.fixed_dictionaries({"inputs": st.lists(nested, max_size=2), "outputs": nested}),
    st.lists(st.fixed_dictionaries({"input": nested, "output": nested}), max_size=2),
)
metadata = st.dictionaries(
    st.sampled_from(["index", "completion_ids", "completion_length", "extra_info", "x"]),
    nested,
    max_size=3,
).map(lambda m: {"index": 0, **m} if "index" not in m else m)
rollouts = st.lists(
    st.builds(
        Rollout,
        prompt=texts,
        completion=texts,
        group=st.one_of(st.none(), st.integers(0, 1), st.sampled_from(["a", ""])),
        reference=references,
        metadata=metadata,
    ),
    min_size=1,
    max_size=4,
)

# Inputs that raised before: a text part whose text is None, a reference test value that is
# not JSON or Python; and a reference too long to repeat in a reason.
KNOWN = [
    Rollout(prompt, completion, reference=reference, metadata={"index": 0})
    for prompt, completion, reference in [
        ("p", [{"role": "assistant", "content": [{"type": "text", "text": None}]}], "1"),
        ([{"role": "user", "content": [{"type": "text", "text": 5}]}], "\\boxed{1}", "1"),
        ("p", "```python\nprint(1)\n```", {"inputs": [object()], "outputs": ["1"]}),
        ("p", "```python\nprint(1)\n```", ["assert f(", "assert True"]),
        ("p", "\\boxed{1}", "x" * 1_000_000),
    ]
]


@pytest.fixture(scope="module")
def pipeline() -> Any:
    with RewardPipeline(CONFIG) as p:
        # Start the workers (and math-verify's import) outside the timed examples.
        p.score([Rollout("warm", "\\boxed{1}", reference="1", metadata={"index": 0})])
        yield p


def check_scored(pipeline: RewardPipeline, batch: list[Rollout], *, use_async: bool) -> None:
    start = time.monotonic()
    scored = asyncio.run(pipeline.ascore(batch)) if use_async else pipeline.score(batch)
    elapsed = time.monotonic() - start

    n = len(batch)
    assert list(scored.batch) == batch  # same rollouts, same order
    assert len(scored.rewards) == n
    assert all(len(values) == n for values in scored.components.values())
    assert set(scored.details) == {r["name"] for r in CONFIG["rewards"]}
    for name, results in scored.details.items():
        assert len(results) == n, name
        for r in results:
            assert isinstance(r.outcome, Outcome)
            assert math.isfinite(r.score), (name, r)
            if r.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
                assert r.reason, (name, r)
            assert len(r.reason) <= MAX_REASON_CHARS, (name, r.reason[:80])
    assert all(math.isfinite(v) for v in scored.rewards), scored.components
    # At most every rollout's math item times out, and its code test runs to its deadline.
    assert elapsed < n * (TIMEOUT_S + CODE_TIMEOUT_S) + MARGIN_S


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=rollouts, use_async=st.booleans())
@example(batch=KNOWN, use_async=False)
@example(batch=KNOWN, use_async=True)
def test_junk_rollouts_each_get_an_outcome_in_order_and_in_time(
    pipeline: RewardPipeline, batch: list[Rollout], use_async: bool
) -> None:
    check_scored(pipeline, batch, use_async=use_async)


@pytest.mark.parametrize("group", [[1], {"a": 1}])
def test_an_unhashable_group_is_a_batch_error_not_a_type_error(group: Any) -> None:
    with pytest.raises(BatchError, match=r"rollout 1: group .* is not hashable"):
        Batch([Rollout("p", "a"), Rollout("p", "b", group=group)])


@settings(max_examples=50, deadline=None)
@given(value=texts)
@example(value={"content": [{"type": "text", "text": None}, {"text": "ok"}, "part", 3]})
def test_message_text_is_a_string_for_anything(value: Any) -> None:
    assert isinstance(message_text(value), str)
    assert message_text([{"content": [{"text": None}, {"text": "ok"}]}]) == "ok"


@pytest.mark.slow
def test_lone_surrogates_reach_no_tokenizer() -> None:
    """Rust tokenizers refuse strings that are not UTF-8; the embedding judges and metrics
    score such completions instead of raising (the packaged MiniLM model, no mocks)."""
    config = {
        "rewards": [{"name": "format", "type": "format"}],
        "shaping": [{"name": "diverse", "type": "semantic_diversity", "combine": "add"}],
        "diagnostics": [{"name": "spread", "type": "embedding_diversity"}],
        "engine": {"workers": 1},
    }
    batch = [Rollout("p", "\ud800 lone"), Rollout("p", "two \udfff"), Rollout("p", "fine")]
    with RewardPipeline(config) as p:
        scored = p.score(batch)
    assert len(scored.rewards) == 3
    assert all(math.isfinite(v) for v in scored.components["diverse"])
    assert math.isfinite(scored.metrics["rewardkit/spread/mean"])
