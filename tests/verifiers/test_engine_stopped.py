"""The engine's watch on its dispatcher thread: when the thread that keeps the deadlines dies
mid-map without settling its items, every open item of ``map`` and ``amap`` gets outcome
``error`` ("execution engine stopped") within a watch period instead of waiting forever."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import engine_fns
import pytest

from rewardkit import EngineConfig, ExecutionEngine, Outcome
from rewardkit._engine import _WATCH_S

#: How long a caller may take to see the stopped dispatcher: one watch period plus slack for a
#: loaded 2-core machine (the workers are killed on the way out).
_PROMPT_S = _WATCH_S + 5.0


def _kill_dispatcher_when_busy(engine: ExecutionEngine, busy: int) -> None:
    """Once ``busy`` workers hold a chunk, end the dispatcher thread the way a bug or an
    interpreter at exit would: without it settling the items it was running or had queued."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pool = engine._pool
        if pool is not None and sum(w.chunk is not None for w in list(pool.workers)) >= busy:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the workers never started the items")
    pool._fail_everything = lambda why: None  # type: ignore[method-assign]  # the thread leaves items open
    with pool.lock:
        pool.closing = True
    pool._wake()
    pool.thread.join(timeout=30)
    assert not pool.thread.is_alive()


@pytest.mark.parametrize("mode", ["map", "amap"])
def test_every_open_item_gets_an_error_when_the_dispatcher_stops(mode: str) -> None:
    items = ["a", "sleep", "sleep", "sleep", "b"]  # "sleep" never returns in a worker
    with ExecutionEngine(EngineConfig(workers=2, timeout_s=600.0, chunk_size=1)) as engine:
        engine.map(engine_fns.echo, ["warm"])  # workers up and warm: the items start at once
        box: dict[str, Any] = {}

        def run() -> None:
            if mode == "map":
                box["results"] = engine.map(engine_fns.echo, items)
            else:
                box["results"] = asyncio.run(engine.amap(engine_fns.echo, items))

        caller = threading.Thread(target=run, daemon=True)
        caller.start()
        _kill_dispatcher_when_busy(engine, busy=2)
        stopped_at = time.monotonic()
        caller.join(timeout=_PROMPT_S)
        waited = time.monotonic() - stopped_at
        assert not caller.is_alive(), f"{mode} still waiting {waited:.1f} s after the stop"
        results = box["results"]
    assert len(results) == len(items)
    sleepers = [results[i] for i, item in enumerate(items) if item == "sleep"]
    assert [r.outcome for r in sleepers] == [Outcome.ERROR] * 3
    assert {r.reason for r in sleepers} == {"execution engine stopped"}
    # Items the dispatcher finished before it stopped keep their results; the rest are errors.
    for item, r in zip(items, results):
        if item != "sleep":
            assert r.outcome is Outcome.CORRECT or r.reason == "execution engine stopped"
