"""The pipeline's one missing-reference policy, the combine step's contributions, metric names,
and sync/async twins built from one implementation (issue 13 items 1 and 7)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

import rewardkit
from rewardkit import (
    MISSING_REFERENCE_REASON,
    BatchError,
    ComponentRegistry,
    RewardComponent,
    RewardPipeline,
    RewardResult,
    Rollout,
    ScoringContext,
    metric_name,
    parse_config,
)
from rewardkit._sync_async import run_async, run_sync


class Seer(RewardComponent):
    """Needs a reference and raises when it gets none: a plugin that trusts the contract."""

    type = "test_seer"
    requires_reference: ClassVar[bool] = True
    seen: ClassVar[list[list[Any]]] = []

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        Seer.seen.append([r.reference for r in rollouts])
        return [
            RewardResult.correct()
            if r.completion == r.reference.upper()
            else RewardResult.incorrect()
            for r in rollouts
        ]


class Length(RewardComponent):
    """Needs no reference: 1 point per character."""

    type = "test_length"

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        return [RewardResult.correct(float(len(r.completion))) for r in rollouts]


REGISTRY = ComponentRegistry(
    plugins=[SimpleNamespace(rewardkit_components=rewardkit.hookimpl(lambda: [Seer, Length]))]
)
ROLLOUTS = [
    Rollout("p1", "A", reference="a"),
    Rollout("p1", "B", reference=None),
    Rollout("p2", "CC", reference="x"),
    Rollout("p2", "", reference=None),
]
REWARDS = [
    {"name": "seer", "type": "test_seer", "weight": 2.0},
    {"name": "len", "type": "test_length"},
]


def _pipeline(**sections: Any) -> RewardPipeline:
    return RewardPipeline(parse_config({"rewards": REWARDS, **sections}, registry=REGISTRY))


def _outcomes(results: dict[str, list[RewardResult]]) -> dict[str, list[str]]:
    return {name: [r.outcome.value for r in res] for name, res in results.items()}


EXPECTED = {
    "seer": ["correct", "error", "incorrect", "error"],
    "len": ["correct"] * 4,
}


@pytest.mark.parametrize("strict", [True, False])
def test_error_policy_scores_the_others_and_hides_the_rollout_from_the_reward(
    strict: bool,
) -> None:
    with _pipeline(strict=strict) as p:
        Seer.seen.clear()
        sync = p.score(ROLLOUTS, missing_reference="error")
        assert Seer.seen == [["a", "x"]]  # the reward never saw the rollouts without one
        Seer.seen.clear()
        async_ = asyncio.run(p.ascore(ROLLOUTS, missing_reference="error"))
        assert Seer.seen == [["a", "x"]]
    for scored in (sync, async_):
        assert _outcomes(scored.details) == EXPECTED
        assert [r.reason for r in scored.details["seer"]][1::2] == [MISSING_REFERENCE_REASON] * 2
        assert scored.rewards == [3.0, 1.0, 2.0, 0.0]  # 2 x seer + len


def test_the_config_picks_the_default_policy() -> None:
    with _pipeline() as strict:
        assert strict.missing_reference == "raise"
        with pytest.raises(BatchError, match="rollout 1: field 'reference' is missing but reward"):
            strict.score(ROLLOUTS)
        with pytest.raises(BatchError, match="rollout 1"):
            asyncio.run(strict.ascore(ROLLOUTS))
        with pytest.raises(ValueError, match="missing_reference must be"):
            strict.score(ROLLOUTS, missing_reference="skip")  # type: ignore[arg-type]
    with _pipeline(strict=False) as lax:
        assert lax.missing_reference == "error"
        assert _outcomes(lax.score(ROLLOUTS).details) == EXPECTED
        with pytest.raises(BatchError, match="rollout 1"):
            lax.score(ROLLOUTS, missing_reference="raise")


def test_the_raise_hint_names_what_chose_raise() -> None:
    """From the config's strict the fix is the config; from the caller's argument it is the
    argument (strict: false would change nothing there)."""
    with _pipeline() as strict:
        with pytest.raises(BatchError, match="set strict: false") as info:
            strict.score(ROLLOUTS)
        assert "missing_reference=" not in str(info.value)
    with _pipeline(strict=False) as lax:
        for run in (
            lambda: lax.score(ROLLOUTS, missing_reference="raise"),
            lambda: asyncio.run(lax.ascore(ROLLOUTS, missing_reference="raise")),
        ):
            with pytest.raises(BatchError, match="pass missing_reference='error'") as info:
                run()
            assert "strict" not in str(info.value)


def test_missing_references_is_the_one_rule() -> None:
    with _pipeline() as p:
        assert p.missing_references(ROLLOUTS) == {1: ("seer",), 3: ("seer",)}
        length = [c for c in p.rewards if c.name == "len"]
        assert p.missing_references(ROLLOUTS, length) == {}
        # A subset of the rewards: a reward that needs no reference scores every rollout.
        only_len = p.score_rewards(ROLLOUTS, rewards=length)
        assert list(only_len) == ["len"] and _outcomes(only_len) == {"len": EXPECTED["len"]}


def test_a_batch_with_no_reference_at_all_never_calls_the_reward() -> None:
    rollouts = [Rollout("p", "a"), Rollout("p", "b")]
    with _pipeline(strict=False) as p:
        Seer.seen.clear()
        for results in (
            p.score_rewards(rollouts),
            asyncio.run(p.ascore_rewards(rollouts)),
        ):
            assert _outcomes(results) == {"seer": ["error"] * 2, "len": ["correct"] * 2}
        assert Seer.seen == []


def test_contributions_add_up_to_the_total(registry: ComponentRegistry) -> None:
    config = {
        "rewards": [
            {"name": "len", "type": "test_chars", "weight": 0.5},
            {"name": "eq", "type": "test_equals", "weight": 2.0},
            {"name": "log_only", "type": "test_chars", "weight": 0},
        ],
        "shaping": [
            {"name": "bonus", "type": "test_offset", "value": 1.0},
            {"name": "scale", "type": "test_offset", "value": 3.0, "combine": "multiply"},
        ],
    }
    rollouts = [Rollout("p1", "ab", reference="ab"), Rollout("p1", "abc", reference="ab")]
    with RewardPipeline(parse_config(config, registry=registry)) as p:
        scored = p.score(rollouts)
    c = scored.contributions
    # len: 0.5 x (2, 3); eq: 2 x (1, 0); bonus +1; scale: x3 adds 2 x the total before it.
    assert c["len"] == [1.0, 1.5] and c["eq"] == [2.0, 0.0] and c["log_only"] == [0.0, 0.0]
    assert c["bonus"] == [1.0, 1.0] and c["scale"] == [8.0, 5.0]
    assert scored.rewards == [12.0, 7.5]
    assert [sum(col[i] for col in c.values()) for i in range(2)] == scored.rewards
    assert scored.components["scale"] == [3.0, 3.0]  # components keep the term's own value


def test_metric_names_come_from_one_helper(registry: ComponentRegistry) -> None:
    assert metric_name("acc", "mean") == "rewardkit/acc/mean"
    with RewardPipeline(
        parse_config({"rewards": [{"name": "acc", "type": "test_chars"}]}, registry=registry)
    ) as p:
        scored = p.score([Rollout("p", "ab")])
    assert metric_name("acc", "frac_correct") in scored.metrics
    assert metric_name("reward", "mean") in scored.metrics
    assert all(k.startswith(metric_name("", "")[:-1]) for k in scored.metrics)  # "rewardkit/"


def test_the_drivers_answer_requests_and_throw_failures_into_the_core() -> None:
    def core() -> Any:
        first = yield "double 2"
        try:
            yield "fail"
        except KeyError as exc:
            return (first, f"handled {exc.args[0]}")
        return (first, "not reached")

    def answer(request: str) -> int:
        if request == "fail":
            raise KeyError("boom")
        return 4

    async def aanswer(request: str) -> int:
        return answer(request)

    assert run_sync(core(), answer) == (4, "handled boom")
    assert asyncio.run(run_async(core(), aanswer)) == (4, "handled boom")
