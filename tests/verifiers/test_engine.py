"""The execution engine: order, outcomes, deadlines from any thread, caching, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import engine_fns
import pytest
from engine_fns import MARGIN_S, TEST_DEADLINE_S, TOWER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewardkit import EngineClosedError, EngineConfig, ExecutionEngine, Outcome

_alive = engine_fns.process_alive


def test_results_in_input_order(engine: ExecutionEngine) -> None:
    items = list(range(300))
    results = engine.map(engine_fns.echo, items)
    assert [r.answer for r in results] == [repr(i) for i in items]
    assert all(r.outcome is Outcome.CORRECT for r in results)


def test_empty_input(engine: ExecutionEngine) -> None:
    assert engine.map(engine_fns.echo, []) == []


def test_exceptions_crashes_and_bad_returns_become_errors(engine: ExecutionEngine) -> None:
    results = engine.map(engine_fns.echo, ["a", "raise", "exit", "not-a-result", "b"])
    assert [r.outcome for r in results] == [
        Outcome.CORRECT,
        Outcome.ERROR,
        Outcome.ERROR,
        Outcome.ERROR,
        Outcome.CORRECT,
    ]
    assert "ValueError: bad item" in results[1].reason
    assert "worker process died (exit code 7)" in results[2].reason
    assert "not RewardResult" in results[3].reason
    assert results[4].answer == "'b'"


def test_power_tower_is_killed_and_worker_replaced(engine: ExecutionEngine) -> None:
    engine.map(engine_fns.echo, ["warm"])
    before = set(engine.worker_pids())
    t0 = time.monotonic()
    results = engine.map(engine_fns.echo, ["x", TOWER, "y", "sleep", "z"])
    elapsed = time.monotonic() - t0
    assert [r.outcome for r in results] == [
        Outcome.CORRECT,
        Outcome.TIMEOUT,
        Outcome.CORRECT,
        Outcome.TIMEOUT,
        Outcome.CORRECT,
    ]
    assert elapsed < TEST_DEADLINE_S + MARGIN_S
    # The stuck workers are gone and replaced.
    gone = [p for p in before if not _alive(p)]
    assert gone
    assert len(engine.map(engine_fns.pid, list(range(20)))) == 20


def test_deadline_holds_from_a_non_main_thread(engine: ExecutionEngine) -> None:
    box: dict[str, object] = {}

    def run() -> None:
        t0 = time.monotonic()
        box["results"] = engine.map(engine_fns.echo, [TOWER, "ok"])
        box["elapsed"] = time.monotonic() - t0

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    results = box["results"]
    assert [r.outcome for r in results] == [Outcome.TIMEOUT, Outcome.CORRECT]  # type: ignore[attr-defined]
    assert box["elapsed"] < TEST_DEADLINE_S + MARGIN_S  # type: ignore[operator]


def test_deadline_holds_inside_asyncio_and_loop_stays_free(engine: ExecutionEngine) -> None:
    async def main() -> tuple[list, float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        t0 = time.monotonic()
        results = await asyncio.create_task(engine.amap(engine_fns.echo, [TOWER, 1]))
        elapsed = time.monotonic() - t0
        tick_task.cancel()
        return results, elapsed, ticks

    results, elapsed, ticks = asyncio.run(main())
    assert [r.outcome for r in results] == [Outcome.TIMEOUT, Outcome.CORRECT]
    assert elapsed < TEST_DEADLINE_S + MARGIN_S
    assert ticks >= 5  # the event loop kept running while the worker was stuck


def test_timeout_override_per_call(engine: ExecutionEngine) -> None:
    t0 = time.monotonic()
    (result,) = engine.map(engine_fns.echo, ["sleep"], timeout_s=0.3)
    assert result.outcome is Outcome.TIMEOUT and "0.3" in result.reason
    assert time.monotonic() - t0 < 0.3 + MARGIN_S
    with pytest.raises(ValueError):
        engine.map(engine_fns.echo, [1], timeout_s=0)


def test_equal_keys_computed_once_and_cached(engine: ExecutionEngine) -> None:
    # `pid` answers with the worker's pid: equal keys must share one computation.
    results = engine.map(engine_fns.pid, list(range(50)), keys=["same"] * 50)
    assert len({r.answer for r in results}) == 1
    again = engine.map(engine_fns.pid, [0], keys=["same"])
    assert again[0].answer == results[0].answer
    # No keys: each item computed (different workers may answer).
    assert len(engine.map(engine_fns.pid, list(range(50)))) == 50


def test_timeouts_are_not_cached(engine: ExecutionEngine) -> None:
    for _ in range(2):  # a cached timeout would come back instantly the second time
        t0 = time.monotonic()
        (result,) = engine.map(engine_fns.echo, ["sleep"], keys=["k-sleep"], timeout_s=0.2)
        assert result.outcome is Outcome.TIMEOUT
        assert time.monotonic() - t0 >= 0.2


def test_unpicklable_item_is_an_error_not_a_crash(engine: ExecutionEngine) -> None:
    results = engine.map(engine_fns.echo, [1, threading.Lock(), 2])
    assert [r.outcome for r in results] == [Outcome.CORRECT, Outcome.ERROR, Outcome.CORRECT]
    assert "not picklable" in results[1].reason


def test_function_must_be_picklable(engine: ExecutionEngine) -> None:
    with pytest.raises(TypeError, match="picklable"):
        engine.map(lambda x: x, [1])


def test_keys_length_checked(engine: ExecutionEngine) -> None:
    with pytest.raises(ValueError, match="keys"):
        engine.map(engine_fns.echo, [1, 2], keys=["a"])


def test_warmup_runs_outside_item_deadline() -> None:
    with ExecutionEngine(EngineConfig(workers=1, timeout_s=0.5)) as eng:
        (result,) = eng.map(engine_fns.slow_warmup_probe, [1])
    assert result.outcome is Outcome.CORRECT and result.answer == "warm"


class _ProgressStartingOnSecondRead:
    """A worker's shared progress array whose item starts right after the first read."""

    def __init__(self, start: float) -> None:
        self.reads = 0
        self.start = start

    def __getitem__(self, index: int) -> float:
        if index == 1:
            return self.start
        self.reads += 1
        return -1.0 if self.reads == 1 else 0.0  # idle at first, then running item 0


def test_item_starting_mid_check_does_not_stretch_the_deadline() -> None:
    # Regression: the dispatcher read the progress twice, saw "idle" then "running", skipped
    # polling and slept until the 60 s start-up deadline while a power tower ran.
    from types import SimpleNamespace

    from rewardkit._engine import _Chunk, _Job, _Pool

    now = time.monotonic()
    worker = SimpleNamespace(
        ready=True,
        chunk=_Chunk(_Job(1), b"fn", [(0, b"item")], TEST_DEADLINE_S),
        sent_at=now,
        progress=_ProgressStartingOnSecondRead(start=now + 0.001),
    )
    pool = SimpleNamespace(workers=[worker], config=EngineConfig(startup_timeout_s=60))
    pool._due = lambda *args: _Pool._due(pool, *args)
    wait_s = _Pool._next_deadline(pool)  # type: ignore[arg-type]
    assert wait_s is not None and wait_s <= TEST_DEADLINE_S


def test_item_finishing_at_its_deadline_does_not_blame_the_next_one() -> None:
    # The overdue check saw item 0 past its deadline; by the time it acts, the worker has
    # started item 1. Killing it then would report item 1 as a timeout it never had.
    from types import SimpleNamespace

    from rewardkit._engine import _Chunk, _Job, _Pool

    now = time.monotonic()
    chunk = _Chunk(_Job(2), b"fn", [(0, b"a"), (1, b"b")], TEST_DEADLINE_S)
    worker = SimpleNamespace(ready=True, chunk=chunk, sent_at=now - 5, progress=[1.0, now])
    retired: list[object] = []
    pool = SimpleNamespace(_retire=lambda *args, **kwargs: retired.append((args, kwargs)))
    _Pool._on_overdue(pool, worker, (0.0, now - 4))  # type: ignore[arg-type]
    assert retired == []
    _Pool._on_overdue(pool, worker, (1.0, now))  # type: ignore[arg-type]
    ((_, kwargs),) = retired
    assert kwargs["blame"][0] == 1 and kwargs["blame"][1].outcome is Outcome.TIMEOUT


def test_concurrent_callers_from_many_threads(engine: ExecutionEngine) -> None:
    out: dict[int, list] = {}

    def run(k: int) -> None:
        out[k] = engine.map(engine_fns.echo, [(k, i) for i in range(40)])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for k in range(6):
        assert [r.answer for r in out[k]] == [repr((k, i)) for i in range(40)]


def test_close_kills_workers_and_their_children(tmp_path: Path) -> None:
    eng = ExecutionEngine(EngineConfig(workers=2, timeout_s=60))
    eng.map(engine_fns.echo, [1, 2, 3])
    workers = eng.worker_pids()
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    marker = tmp_path / "grandchild.pid"
    box: dict[str, object] = {}
    caller = threading.Thread(
        target=lambda: box.setdefault("r", eng.map(engine_fns.spawn_sleeper, [str(marker)]))
    )
    caller.start()
    for _ in range(200):
        if marker.exists() and marker.read_text():
            break
        time.sleep(0.05)
    grandchild = int(marker.read_text())
    assert _alive(grandchild)
    eng.close()
    caller.join(timeout=30)
    assert box["r"][0].outcome is Outcome.ERROR  # type: ignore[index]
    time.sleep(0.2)
    assert not any(_alive(p) for p in [*workers, grandchild])
    with pytest.raises(EngineClosedError):
        eng.map(engine_fns.echo, [1])
    eng.close()  # idempotent


def test_no_orphans_after_interpreter_exit_without_close(tmp_path: Path) -> None:
    script = tmp_path / "forgetful.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            import engine_fns
            from rewardkit import EngineConfig, ExecutionEngine

            if __name__ == "__main__":
                eng = ExecutionEngine(EngineConfig(workers=2))
                eng.map(engine_fns.echo, [1, 2])
                print(*eng.worker_pids())
                # no close(): atexit and the finalizer must stop the workers
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            import engine_fns
            from rewardkit import EngineConfig, ExecutionEngine

            if __name__ == "__main__":
                eng = ExecutionEngine(EngineConfig(workers=2, timeout_s=3600))
                eng.map(engine_fns.echo, [1, 2])
                print(*eng.worker_pids(), flush=True)
                eng.map(engine_fns.echo, ["tower"])  # a worker stuck in C code
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    time.sleep(0.5)
    proc.kill()  # SIGKILL: no atexit, no finalizer
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_forked_child_does_not_touch_parent_workers(engine: ExecutionEngine) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    engine.map(engine_fns.echo, [1])
    parent_workers = engine.worker_pids()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            engine.close()
        finally:
            os.write(w, b"x")
            os._exit(0)
    os.waitpid(pid, 0)
    os.read(r, 1)
    assert all(_alive(p) for p in parent_workers)
    assert engine.map(engine_fns.echo, [5])[0].answer == "5"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=50),
            st.integers(),
            st.none(),
            st.sampled_from(["raise", "not-a-result", "ok"]),
            st.binary(max_size=20),
        ),
        max_size=40,
    ),
    st.booleans(),
)
def test_fuzz_every_item_gets_an_outcome_in_order(
    engine: ExecutionEngine, items: list[object], use_keys: bool
) -> None:
    keys = [repr(i) for i in items] if use_keys else None
    t0 = time.monotonic()
    results = engine.map(engine_fns.echo, items, keys=keys)
    assert len(results) == len(items)
    for item, res in zip(items, results):
        if item == "raise" or item == "not-a-result":
            assert res.outcome is Outcome.ERROR
        else:
            assert res.outcome is Outcome.CORRECT and res.answer == repr(item)
    assert time.monotonic() - t0 < TEST_DEADLINE_S * max(1, len(items)) + MARGIN_S
