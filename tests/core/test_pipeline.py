from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rewardkit import (
    BatchError,
    ComponentRegistry,
    EngineClosedError,
    EngineConfig,
    ExecutionEngine,
    Outcome,
    RewardPipeline,
    RewardResult,
    Rollout,
    ScoringContext,
    StateError,
    parse_config,
)


def _pipeline(registry: ComponentRegistry, **sections) -> RewardPipeline:
    return RewardPipeline(parse_config(sections, registry=registry))


ROLLOUTS = [
    Rollout("p1", "ab", reference="ab"),
    Rollout("p1", "abc", reference="ab"),
    Rollout("p2", "x", reference="y"),
]


def test_weights_then_shaping_in_order(registry: ComponentRegistry) -> None:
    p = _pipeline(
        registry,
        rewards=[
            {"name": "len", "type": "test_chars", "weight": 0.5},
            {"name": "eq", "type": "test_equals", "weight": 2.0},
        ],
        shaping=[
            {"name": "plus", "type": "test_offset", "value": 1.0},
            {"name": "times", "type": "test_offset", "value": 3.0, "combine": "multiply"},
        ],
        diagnostics=[{"name": "groups", "type": "test_group_size"}],
    )
    s = p.score(ROLLOUTS, step=7)
    # (0.5*len + 2*eq + 1) * 3
    assert s.rewards == [(1.0 + 2.0 + 1) * 3, (1.5 + 0 + 1) * 3, (0.5 + 0 + 1) * 3]
    assert s.components["len"] == [2.0, 3.0, 1.0]
    assert s.components["times"] == [3.0, 3.0, 3.0]
    assert [d.outcome for d in s.details["eq"]] == [
        Outcome.CORRECT,
        Outcome.INCORRECT,
        Outcome.INCORRECT,
    ]
    assert p.shaping[1].seen_totals == [[4.0, 2.5, 1.5]]
    assert s.metrics["rewardkit/eq/frac_correct"] == pytest.approx(1 / 3)
    assert s.metrics["rewardkit/eq/frac_timeout"] == 0.0
    assert s.metrics["rewardkit/len/mean"] == 2.0
    assert s.metrics["rewardkit/groups/mean"] == 1.5
    assert s.metrics["rewardkit/reward/mean"] == pytest.approx(sum(s.rewards) / 3)
    assert s.step == 7
    rows = s.rows()
    assert rows[0]["details"]["eq"] == {"outcome": "correct", "answer": "ab", "reason": ""}


def test_zero_weight_is_log_only(registry: ComponentRegistry) -> None:
    p = _pipeline(registry, rewards=[{"type": "test_chars", "weight": 0}])
    s = p.score(ROLLOUTS)
    assert s.rewards == [0.0, 0.0, 0.0] and s.components["test_chars"] == [2.0, 3.0, 1.0]


def test_missing_reference_is_a_clear_error_or_an_outcome(registry: ComponentRegistry) -> None:
    rollouts = [Rollout("p", "a", reference="a"), Rollout("p", "b")]
    p = _pipeline(registry, rewards=[{"name": "eq", "type": "test_equals"}])
    with pytest.raises(BatchError, match="rollout 1: field 'reference' is missing but reward 'eq'"):
        p.score(rollouts)
    lenient = _pipeline(registry, rewards=[{"name": "eq", "type": "test_equals"}], strict=False)
    s = lenient.score(rollouts)
    assert s.details["eq"][1].outcome is Outcome.ERROR


@pytest.mark.parametrize("mode", ["raise", "short", "junk"])
def test_a_broken_reward_gives_errors_not_a_crash(
    registry: ComponentRegistry, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = _pipeline(
        registry,
        rewards=[
            {"name": "len", "type": "test_chars"},
            {"name": "bad", "type": "test_broken", "mode": mode},
        ],
    )
    for scored in (p.score(ROLLOUTS), asyncio.run(p.ascore(ROLLOUTS))):
        assert [r.outcome for r in scored.details["bad"]] == [Outcome.ERROR] * 3
        assert scored.details["bad"][0].reason.startswith("reward failed: ")
        assert scored.components["len"] == [2.0, 3.0, 1.0]  # the other rewards still count
        assert scored.rewards == [2.0, 3.0, 1.0]
    assert sum("reward 'bad' failed" in r.getMessage() for r in caplog.records) == 1


def test_empty_batch(registry: ComponentRegistry) -> None:
    p = _pipeline(registry, rewards=[{"type": "test_chars"}])
    with pytest.raises(BatchError, match="empty"):
        p.score([])


def test_async_equals_sync(registry: ComponentRegistry) -> None:
    p = _pipeline(
        registry,
        rewards=[{"name": "len", "type": "test_chars"}, {"name": "eq", "type": "test_equals"}],
        shaping=[{"name": "plus", "type": "test_offset", "value": 0.25}],
    )
    a = asyncio.run(p.ascore(ROLLOUTS))
    s = p.score(ROLLOUTS)
    assert a.rewards == s.rewards and a.components == s.components


def test_state_round_trip(tmp_path: Path, registry: ComponentRegistry) -> None:
    cfg = {
        "rewards": [{"type": "test_chars"}],
        "shaping": [{"name": "o", "type": "test_offset", "value": 1}],
    }
    p = _pipeline(registry, **cfg)
    p.score(ROLLOUTS)
    p.score(ROLLOUTS)
    p.save_state(tmp_path / "state.json")
    q = _pipeline(registry, **cfg)
    q.load_state(tmp_path / "state.json")
    assert q.state_dict() == {"o": {"calls": 2}}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(StateError, match="corrupt"):
        q.load_state(tmp_path / "bad.json")
    (tmp_path / "foreign.json").write_text('{"hello": 1}')
    with pytest.raises(StateError, match="not a rewardkit state file"):
        q.load_state(tmp_path / "foreign.json")


# ------------------------------------------------------------------ after close()


def test_score_after_close_raises_instead_of_starting_new_workers() -> None:
    p = RewardPipeline({"rewards": [{"type": "math"}], "engine": {"workers": 1}})
    # Symbolic equality: sympy, in a worker process.
    rollouts = [Rollout("q", "\\boxed{x^2-1}", reference="(x-1)(x+1)")]
    assert p.score(rollouts).rewards == [1.0]
    engine = p.engine
    assert engine.worker_pids()
    p.close()
    assert engine.closed and engine.worker_pids() == []
    with pytest.raises(EngineClosedError, match="closed"):
        p.score(rollouts)
    with pytest.raises(EngineClosedError, match="closed"):
        asyncio.run(p.ascore(rollouts))
    with pytest.raises(EngineClosedError):
        p.engine  # noqa: B018 - the property is what would start the workers
    assert p._engine is None  # no new engine was built
    p.close()  # idempotent


def test_a_closed_pipeline_without_rewards_raises_too() -> None:
    # A shaping-only config needs no engine, but close() released its terms (judges, Ray
    # pools): scoring afterwards must fail as for any closed pipeline, not go on quietly.
    p = RewardPipeline({"shaping": [{"type": "batch_repetition"}]})
    rollouts = [Rollout("q", "a"), Rollout("q", "a")]
    assert len(p.score(rollouts).rewards) == 2  # scores while open
    p.close()
    with pytest.raises(EngineClosedError, match="closed"):
        p.score(rollouts)
    with pytest.raises(EngineClosedError, match="closed"):
        asyncio.run(p.ascore(rollouts))
    with pytest.raises(EngineClosedError, match="closed"):
        p.score_rewards(rollouts)


def test_a_reward_meeting_a_closed_engine_raises_rather_than_scoring_errors() -> None:
    # An adapter that kept the engine and scores after close: the lifecycle error surfaces; it
    # is not turned into error outcomes as a reward's own failure would be.
    p = RewardPipeline({"rewards": [{"type": "math"}], "engine": {"workers": 1}})
    ctx = ScoringContext(engine=p.engine)
    p.close()
    rollouts = [Rollout("q", "\\boxed{x^2-1}", reference="(x-1)(x+1)")]
    with pytest.raises(EngineClosedError):
        p.score_reward(p.rewards[0], rollouts, ctx)
    with pytest.raises(EngineClosedError):
        asyncio.run(p.ascore_reward(p.rewards[0], rollouts, ctx))


def test_engine_map_and_amap_after_close_raise() -> None:
    engine = ExecutionEngine(EngineConfig(workers=1))
    engine.close()
    with pytest.raises(EngineClosedError):
        engine.map(RewardResult.correct, [1.0])
    with pytest.raises(EngineClosedError):
        asyncio.run(engine.amap(RewardResult.correct, [1.0]))
    assert engine.worker_pids() == []
