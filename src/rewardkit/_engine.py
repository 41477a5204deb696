"""The execution engine: worker processes with a hard per-item wall-clock deadline.

Verifiers call sympy (through math-verify) and run untrusted code. Both can spin in C for minutes
while holding the interpreter lock (a power tower like ``9^{9^{9^9}}``), and no in-process timeout
can stop that: ``signal.alarm`` works only on the main thread, and a thread cannot be killed. So
the work runs in worker processes that can be killed, and the deadline is kept by a dispatcher
thread in the calling process, which holds no lock a worker can take. It therefore holds whether
``map`` is called from the main thread, a worker thread or an asyncio task.

Design, briefly:

* Items travel to idle workers in chunks (one pipe message each way per chunk, results flushed
  every few milliseconds) so inter-process traffic is amortised. Each worker publishes the
  position and start time of the item it is running in a small shared array; the dispatcher
  sleeps until the earliest per-item deadline and kills a worker whose item is past it.
* A worker is the leader of its own process group; it is killed with ``killpg`` so that anything
  it started (a code sandbox) dies with it, and replaced. Its item gets outcome ``timeout``; the
  rest of its chunk is re-queued. A worker that dies by itself gives its item outcome ``error``.
* Workers are started with ``spawn`` or ``forkserver``, never ``fork`` (forking a process that
  runs threads can deadlock), get ``PR_SET_PDEATHSIG`` on Linux so they die with their parent,
  and are stopped by :meth:`ExecutionEngine.close`, a weakref finalizer and ``atexit``.
* Results are cached by caller-supplied keys in an LRU; equal keys in one call are computed once.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import math
import os
import pickle
import signal
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from rewardkit._config import EngineConfig
from rewardkit._errors import ArgumentError, ArgumentTypeError, EngineClosedError
from rewardkit._rollout import Outcome, RewardResult
from rewardkit._sync_async import Core, run_async, run_sync

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

__all__ = ["WARMUP_ATTRIBUTE", "ExecutionEngine"]

#: A function sent to the engine may carry a zero-argument callable under this attribute; each
#: worker calls it once before the function's first item, outside any item's deadline (bounded by
#: ``startup_timeout_s``). Verifiers use it to import math-verify and sympy ahead of time.
WARMUP_ATTRIBUTE = "rewardkit_warmup"

_IDLE = -1.0
_WARMING = -2.0
_FLUSH_EVERY_S = 0.02
_POLL_WHILE_LOADING_S = 0.01
_RECENT_FUNCTIONS = 8
_REASON_CHARS = 300
# Workers that fail to start this many times in a row make their chunk fail instead of retrying
# forever (a broken interpreter, an unimportable function).
_MAX_START_FAILURES = 3
#: How often a waiting ``map``/``amap`` checks that the dispatcher thread is still alive.
_WATCH_S = 1.0


# =========================================================================== starting workers

_starting_worker = threading.local()


def _install_main_guard() -> None:
    """Keep spawned workers from re-running the parent's ``__main__``.

    multiprocessing re-imports the parent's main script in every spawn/forkserver child (as
    ``__mp_main__``) so functions defined there unpickle. A training script without an
    ``if __name__ == "__main__":`` guard would then build its model and start training again in
    each worker. The workers only run functions from importable modules (plugins, rewardkit), so
    the main-module keys are dropped from the preparation data - only for starts made by the
    engine's own thread (a thread-local flag), leaving every other use of multiprocessing alone.
    """
    from multiprocessing import spawn

    if getattr(spawn.get_preparation_data, "_rewardkit_guard", False):
        return
    original = spawn.get_preparation_data

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if getattr(_starting_worker, "active", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    get_preparation_data._rewardkit_guard = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


# =========================================================================== worker side


def _set_parent_death_signal(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies, even if we are stuck in C code."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _sanitized(value: Any) -> RewardResult:
    """A result that is certainly picklable, or an error saying what the function returned."""
    if not isinstance(value, RewardResult):
        return RewardResult.error(f"function returned {type(value).__name__}, not RewardResult")
    answer = value.answer if isinstance(value.answer, str) or value.answer is None else None
    return RewardResult(float(value.score), Outcome(value.outcome), str(value.reason or ""), answer)


def _worker_main(
    conn: Connection, progress: Any, parent_pid: int, memory_mb: int
) -> None:  # pragma: no cover - runs in the worker process (covered by engine tests)
    """Worker loop: receive ``(fn_blob, [(task_id, item_blob), ...])``, stream back results."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # our own process group, so killpg takes our children too
    _set_parent_death_signal(parent_pid)
    # Ctrl-C in a terminal reaches the whole foreground group; the trainer handles it and then
    # closes the engine. A worker dying on its own would only turn items into errors.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_mb > 0:
        try:
            import resource

            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    functions: dict[bytes, Callable[[Any], Any] | BaseException] = {}
    progress[0] = _IDLE
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn_blob, tasks = message
        fn = functions.get(fn_blob)
        if fn is None:
            progress[1] = time.monotonic()
            progress[0] = _WARMING
            try:
                fn = pickle.loads(fn_blob)
                warmup = getattr(fn, WARMUP_ATTRIBUTE, None)
                if callable(warmup):
                    warmup()
            except BaseException as exc:
                fn = exc
            functions[fn_blob] = fn
        out: list[tuple[int, RewardResult]] = []
        last_flush = time.monotonic()
        for position, (task_id, blob) in enumerate(tasks):
            progress[1] = time.monotonic()
            progress[0] = float(position)
            if isinstance(fn, BaseException):
                result = RewardResult.error(f"cannot load function in worker: {_reason(fn)}")
            else:
                try:
                    result = _sanitized(fn(pickle.loads(blob)))
                except BaseException as exc:  # math-verify's TimeoutException is a BaseException
                    result = RewardResult.error(_reason(exc))
            out.append((task_id, result))
            now = time.monotonic()
            if now - last_flush >= _FLUSH_EVERY_S:
                conn.send(("results", out))
                out = []
                last_flush = now
        progress[0] = _IDLE
        conn.send(("done", out))


# =========================================================================== dispatcher side


class _Job:
    """One ``map`` call's unique items: results fill in by task id; the future resolves at 0."""

    __slots__ = ("engine_made", "future", "remaining", "results")

    def __init__(self, n: int) -> None:
        self.results: list[RewardResult | None] = [None] * n
        self.engine_made: set[int] = set()  # task ids the engine answered (timeout, crash)
        self.remaining = n
        self.future: Future[list[RewardResult | None]] = Future()
        if n == 0:  # everything was a cache hit
            self.future.set_result(self.results)

    def settle(self, task_id: int, result: RewardResult, *, by_engine: bool = False) -> None:
        if self.results[task_id] is not None:
            return
        self.results[task_id] = result
        if by_engine:
            self.engine_made.add(task_id)
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(self.results)


class _Chunk:
    __slots__ = ("fn_blob", "job", "tasks", "timeout_s")

    def __init__(
        self, job: _Job, fn_blob: bytes, tasks: list[tuple[int, bytes]], timeout_s: float
    ) -> None:
        self.job = job
        self.fn_blob = fn_blob
        self.tasks = tasks
        self.timeout_s = timeout_s


class _Worker:
    __slots__ = (
        "chunk",
        "conn",
        "done_ids",
        "loaded",
        "process",
        "progress",
        "ready",
        "sent_at",
        "started",
    )

    def __init__(self, process: BaseProcess, conn: Connection, progress: Any) -> None:
        self.process = process
        self.conn = conn
        self.progress = progress
        self.ready = False
        self.started = time.monotonic()
        self.chunk: _Chunk | None = None
        self.sent_at = 0.0
        self.done_ids: set[int] = set()
        self.loaded: set[bytes] = set()  # functions it has loaded and warmed up

    @property
    def pid(self) -> int:
        return self.process.pid or -1


def _progress(worker: _Worker) -> tuple[float, float]:
    """One read of the worker's ``(position, started)``; the worker writes ``started`` first."""
    position = worker.progress[0]
    return position, worker.progress[1]


def _reaped(worker: _Worker) -> bool:
    """Whether the worker's exit status was collected, which frees its pid for reuse."""
    # multiprocessing reaps finished children on its own (e.g. in Process.start), and only its
    # private Popen knows; a reaped pid must never be signalled.
    popen = getattr(worker.process, "_popen", None)
    return popen is None or getattr(popen, "returncode", None) is not None


def _kill_group(worker: _Worker) -> None:
    """SIGKILL the worker's process group (the worker and whatever it started).

    Called before the worker is reaped, while its pid (a zombie at worst) cannot be reused.
    """
    pid = worker.pid
    if pid <= 0 or _reaped(worker):
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
            return
    except OSError:
        pass
    # Not (yet) its own group leader: kill only the worker, never our own group.
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


class _Pool:
    """Worker processes and the dispatcher thread that feeds them and keeps their deadlines.

    Separate from :class:`ExecutionEngine` so that the engine can be garbage-collected (its
    finalizer then stops the pool) while the dispatcher thread still runs.
    """

    def __init__(self, config: EngineConfig) -> None:
        import multiprocessing

        self.config = config
        self.ctx: BaseContext = multiprocessing.get_context(config.start_method)
        self.lock = threading.Lock()
        self.pending: deque[_Chunk] = deque()
        self.workers: list[_Worker] = []
        self.closing = False
        self.recent: list[bytes] = []  # recently used functions, oldest first
        self.owner_pid = os.getpid()
        self.start_failures = 0
        self.crashed: BaseException | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.thread = threading.Thread(
            target=self._run, name="rewardkit-engine-dispatcher", daemon=True
        )
        self.thread.start()

    # ------------------------------------------------------------------ called by the engine

    def submit(self, chunks: list[_Chunk]) -> None:
        with self.lock:
            if self.closing:
                raise EngineClosedError("the execution engine is closed")
            self.pending.extend(chunks)
        self._wake()

    def shutdown(self) -> None:
        if os.getpid() != self.owner_pid:
            return  # a forked child's copy: the workers belong to the parent
        with self.lock:
            if self.closing:
                already = True
            else:
                already = False
                self.closing = True
        if not already:
            self._wake()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=10)
        # Whatever the thread could not finish (it crashed, or we are in a finalizer at exit).
        for w in list(self.workers):
            _kill_group(w)
            w.process.join(timeout=1)
        self.workers.clear()
        fds = (self._wake_r, self._wake_w)
        self._wake_r = self._wake_w = -1  # before closing: a closed fd number can be reused
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _wake(self) -> None:
        fd = self._wake_w
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.write(fd, b"\0")

    # ------------------------------------------------------------------ dispatcher thread

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not leave callers waiting forever
            self.crashed = exc
            with self.lock:
                self.closing = True
            self._fail_everything(f"execution engine crashed: {_reason(exc)}")
        finally:
            self._stop_workers()

    def _loop(self) -> None:
        from multiprocessing.connection import wait

        while True:
            with self.lock:
                closing = self.closing
            if closing:
                self._fail_everything("execution engine closed")
                return
            self._keep_workers()
            self._dispatch()
            objects: list[Any] = [self._wake_r]
            for w in self.workers:
                objects.append(w.conn)
                objects.append(w.process.sentinel)
            ready = wait(objects, timeout=self._next_deadline())
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            for w in list(self.workers):
                if w.conn in ready:
                    self._receive(w)
            for w in list(self.workers):
                if w.process.sentinel in ready:  # exited; not reaped yet
                    self._on_death(w)
            self._enforce_deadlines()

    def _keep_workers(self) -> None:
        busy = bool(self.pending) or any(w.chunk is not None for w in self.workers)
        if not busy and not self.workers and not self.recent:
            return  # start lazily, on the first use
        while len(self.workers) < self.config.workers:
            self.workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        parent_conn, child_conn = self.ctx.Pipe(duplex=True)
        progress = self.ctx.RawArray("d", 2)
        progress[0] = _IDLE
        process = self.ctx.Process(
            target=_worker_main,
            args=(child_conn, progress, os.getpid(), self.config.worker_memory_mb),
            name="rewardkit-engine-worker",
            daemon=True,
        )
        _install_main_guard()
        _starting_worker.active = True
        try:
            process.start()
        finally:
            _starting_worker.active = False
        child_conn.close()
        return _Worker(process, parent_conn, progress)

    def _dispatch(self) -> None:
        for w in list(self.workers):
            if not w.ready or w.chunk is not None:
                continue
            with self.lock:
                chunk = self.pending.popleft() if self.pending else None
            if chunk is None:
                # Idle: load and warm up recently used functions ahead of need, so that a
                # worker replaced after a timeout does not make the next item wait for imports.
                cold = [blob for blob in self.recent if blob not in w.loaded]
                if not cold:
                    continue
                chunk = _Chunk(_Job(0), cold[-1], [], 0.0)
            w.chunk = chunk
            w.done_ids = set()
            w.sent_at = time.monotonic()
            w.loaded.add(chunk.fn_blob)
            try:
                w.conn.send((chunk.fn_blob, chunk.tasks))
            except (OSError, ValueError):
                self._on_death(w)

    def remember(self, fn_blob: bytes) -> None:
        """Note a function as in use, so that new workers warm it up before they are needed."""
        with self.lock:
            if fn_blob in self.recent:
                self.recent.remove(fn_blob)
            self.recent.append(fn_blob)
            del self.recent[:-_RECENT_FUNCTIONS]
        self._wake()

    def warm(self, fn_blob: bytes) -> bool:
        """Whether every live worker is started, idle and has ``fn_blob`` loaded."""
        workers = list(self.workers)
        return len(workers) >= self.config.workers and all(
            w.ready and w.chunk is None and fn_blob in w.loaded for w in workers
        )

    def _receive(self, w: _Worker) -> None:
        try:
            while w.conn.poll():
                self._handle(w, w.conn.recv())
        except (EOFError, OSError):
            self._on_death(w)

    def _handle(self, w: _Worker, message: tuple[str, Any]) -> None:
        kind, payload = message
        if kind == "ready":
            w.ready = True
            self.start_failures = 0
            return
        chunk = w.chunk
        if chunk is None:
            return
        for task_id, result in payload:
            w.done_ids.add(task_id)
            chunk.job.settle(task_id, result)
        if kind == "done":
            w.chunk = None

    def _next_deadline(self) -> float | None:
        now = time.monotonic()
        soonest: float | None = None
        for w in self.workers:
            due, loading = self._due(w, *_progress(w))
            if due is None:
                continue
            if loading:
                # Loading its chunk: the first item will start, shortening the deadline,
                # without a message to wake us; poll until it does.
                due = min(due, now + _POLL_WHILE_LOADING_S)
            soonest = due if soonest is None else min(soonest, due)
        if soonest is None:
            return None
        return max(0.0, soonest - now) + 0.001

    def _due(self, w: _Worker, position: float, started: float) -> tuple[float | None, bool]:
        """When the worker's current work runs out of time (None: idle and waiting), and
        whether it is still loading a chunk whose first item has not started.

        Takes one snapshot of the worker's progress (see :func:`_progress`): deciding from two
        reads could pair a start-up deadline with a started item and oversleep its deadline.
        """
        if not w.ready:
            return w.started + self.config.startup_timeout_s, False
        chunk = w.chunk
        if chunk is None:
            return None, False
        if position >= 0 and started >= w.sent_at:
            return started + chunk.timeout_s, False
        loading = bool(chunk.tasks)
        if position == _WARMING and started >= w.sent_at:
            return started + self.config.startup_timeout_s, loading
        # Idle, or progress left from the previous chunk: the worker has not taken this one up.
        return w.sent_at + self.config.startup_timeout_s, loading

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for w in list(self.workers):
            snapshot = _progress(w)
            due, _ = self._due(w, *snapshot)
            if due is not None and now >= due:
                self._on_overdue(w, snapshot)

    def _on_overdue(self, w: _Worker, snapshot: tuple[float, float]) -> None:
        if not w.ready:
            self._retire(w, "worker did not start", blame=None)
            return
        if _progress(w) != snapshot:
            # It moved on since the check (the item finished at the edge of its deadline):
            # killing it now would blame the next item. The next loop checks again.
            return
        chunk = w.chunk
        assert chunk is not None
        position, started = int(snapshot[0]), snapshot[1]
        if position >= 0 and started >= w.sent_at:
            task_id = chunk.tasks[position][0]
            timeout = RewardResult.timeout(f"deadline of {chunk.timeout_s:g} s exceeded")
            self._retire(w, "", blame=(task_id, timeout))
        else:
            self._retire(
                w,
                f"worker did not load or warm up the function within "
                f"{self.config.startup_timeout_s:g} s",
                blame=None,
                fail_chunk=True,
            )

    def _on_death(self, w: _Worker) -> None:
        if w not in self.workers:
            return
        _kill_group(w)  # children it left behind, before reaping frees the pid
        w.process.join(timeout=0.5)
        code = w.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if code is not None and -code == signal.SIGKILL and self.config.worker_memory_mb:
            how += " (out of memory?)"
        chunk = w.chunk
        position, started = int(w.progress[0]), w.progress[1]
        if chunk is not None and position >= 0 and started >= w.sent_at:
            blame = (chunk.tasks[position][0], RewardResult.error(f"worker process died ({how})"))
            self._retire(w, "", blame=blame)
        else:
            self._retire(w, f"worker process died during start-up ({how})", blame=None)

    def _retire(
        self,
        w: _Worker,
        why: str,
        *,
        blame: tuple[int, RewardResult] | None,
        fail_chunk: bool = False,
    ) -> None:
        """Kill a worker, keep what it finished, settle the blamed item, re-queue the rest."""
        _kill_group(w)
        # Results it sent before dying are still in the pipe.
        with contextlib.suppress(EOFError, OSError):
            while w.conn.poll():
                self._handle(w, w.conn.recv())
        w.process.join(timeout=1)
        with contextlib.suppress(OSError):
            w.conn.close()
        if w in self.workers:
            self.workers.remove(w)
        chunk = w.chunk
        w.chunk = None
        if blame is None and not fail_chunk:
            self.start_failures += 1
            fail_chunk = self.start_failures >= _MAX_START_FAILURES
        if chunk is None:
            if fail_chunk:  # workers cannot start at all: fail queued work, not loop forever
                with self.lock:
                    doomed = list(self.pending)
                    self.pending.clear()
                for c in doomed:
                    for task_id, _ in c.tasks:
                        c.job.settle(task_id, RewardResult.error(why), by_engine=True)
            return
        rest: list[tuple[int, bytes]] = []
        for task_id, blob in chunk.tasks:
            if task_id in w.done_ids or chunk.job.results[task_id] is not None:
                continue
            if blame is not None and task_id == blame[0]:
                chunk.job.settle(task_id, blame[1], by_engine=True)
            elif fail_chunk:
                chunk.job.settle(task_id, RewardResult.error(why), by_engine=True)
            else:
                rest.append((task_id, blob))
        if rest:
            with self.lock:
                self.pending.appendleft(_Chunk(chunk.job, chunk.fn_blob, rest, chunk.timeout_s))

    def _fail_everything(self, why: str) -> None:
        with self.lock:
            doomed = list(self.pending)
            self.pending.clear()
        for c in doomed:
            for task_id, _ in c.tasks:
                c.job.settle(task_id, RewardResult.error(why), by_engine=True)
        for w in self.workers:
            if w.chunk is not None:
                for task_id, _ in w.chunk.tasks:
                    w.chunk.job.settle(task_id, RewardResult.error(why), by_engine=True)
                w.chunk = None

    def _stop_workers(self) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
        from multiprocessing.connection import wait

        # Wait for clean exits without reaping, so the group kill below is still safe.
        pending = {w.process.sentinel for w in self.workers}
        deadline = time.monotonic() + 0.5
        while pending and time.monotonic() < deadline:
            pending -= set(wait(list(pending), timeout=max(0.0, deadline - time.monotonic())))
        for w in self.workers:
            _kill_group(w)  # stragglers, and any child a clean exit left behind
            w.process.join(timeout=1)
            with contextlib.suppress(OSError):
                w.conn.close()
        self.workers.clear()


# =========================================================================== public API

_live_pools: weakref.WeakSet[_Pool] = weakref.WeakSet()


@atexit.register
def _stop_all_pools() -> None:
    for pool in list(_live_pools):
        pool.shutdown()


class ExecutionEngine:
    """Runs a function over items in worker processes with a hard per-item deadline.

    ``fn`` must be picklable by reference (a module-level function) and return a
    :class:`RewardResult`; an exception becomes outcome ``error`` with its message, and an item
    past its deadline gets outcome ``timeout`` while its worker is killed and replaced. Results
    come back in input order. ``keys`` (optional, one per item, ``None`` for "do not cache") must
    determine ``fn(item)``: equal keys in one call are computed once, and results are kept in an
    LRU cache of ``config.cache_size`` entries across calls (timeouts and crashes are not cached).

    Workers start on first use and stay up between calls. Use the engine as a context manager or
    call :meth:`close`; a finalizer and ``atexit`` stop forgotten engines too.
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config if config is not None else EngineConfig()
        self._lock = threading.Lock()
        self._pool: _Pool | None = None
        self._pid = os.getpid()
        self._closed = False
        self._cache: OrderedDict[tuple[bytes, Hashable], RewardResult] = OrderedDict()
        self._finalizer: weakref.finalize | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._pool else "idle")
        return (
            f"ExecutionEngine(workers={self.config.workers}, timeout_s={self.config.timeout_s:g}, "
            f"{state})"
        )

    # ------------------------------------------------------------------ lifecycle

    def _pool_for_use(self) -> _Pool:
        with self._lock:
            if self._closed:
                raise EngineClosedError("the execution engine is closed")
            if self._pid != os.getpid():
                # A forked child inherits the object but not the dispatcher thread or the
                # workers (which belong to the parent): start afresh, never touch the parent's.
                self._pool = None
                self._cache.clear()
                self._pid = os.getpid()
            if self._pool is None or self._pool.crashed is not None:
                if self._pool is not None:
                    self._pool.shutdown()
                self._pool = _Pool(self.config)
                _live_pools.add(self._pool)
                if self._finalizer is not None:
                    self._finalizer.detach()
                self._finalizer = weakref.finalize(self, _Pool.shutdown, self._pool)
            return self._pool

    def close(self) -> None:
        """Stop the workers (items still running get outcome ``error``). Idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.shutdown()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    @property
    def closed(self) -> bool:
        return self._closed

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and tests)."""
        pool = self._pool
        return [] if pool is None else [w.pid for w in list(pool.workers) if w.pid > 0]

    def __enter__(self) -> ExecutionEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        raise ArgumentTypeError("an ExecutionEngine cannot be pickled; build one in each process")

    def warmup(self, fn: Callable[[Any], RewardResult], *, timeout_s: float = 120.0) -> bool:
        """Start every worker and load ``fn`` (running its warm-up) in each; wait until done.

        Optional: the first ``map`` does the same lazily. Call it before training so the first
        step does not wait for worker start-up and imports. Returns whether all workers were
        warm within ``timeout_s``.
        """
        pool = self._pool_for_use()
        fn_blob = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        pool.remember(fn_blob)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pool.warm(fn_blob):
                return True
            if not pool.thread.is_alive():
                return False
            time.sleep(0.02)
        return False

    # ------------------------------------------------------------------ mapping

    def _prepare(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        keys: Sequence[Hashable] | None,
        timeout_s: float | None,
    ) -> tuple[list[RewardResult | None], list[int], list[list[int]], bytes, list[Any], float]:
        """Resolve cache hits and duplicates; return what still has to run."""
        if self._closed:
            raise EngineClosedError("the execution engine is closed")
        n = len(items)
        if keys is not None and len(keys) != n:
            raise ArgumentError(f"{len(keys)} keys for {n} items")
        if timeout_s is not None and not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ArgumentError(f"timeout_s must be a positive number, got {timeout_s!r}")
        timeout = float(timeout_s) if timeout_s is not None else self.config.timeout_s
        try:
            fn_blob = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ArgumentTypeError(
                f"the engine's function must be picklable (a module-level function): {exc}"
            ) from exc
        out: list[RewardResult | None] = [None] * n
        unique_keys: list[Any] = []  # per task: its cache key (or None)
        members: list[list[int]] = []  # per task: the item indices it answers
        first_of: dict[Hashable, int] = {}
        with self._lock:
            for i in range(n):
                key = None if keys is None else keys[i]
                if key is not None:
                    try:
                        hit = self._cache.get((fn_blob, key))
                    except TypeError:  # unhashable key: just do not cache
                        key = None
                        hit = None
                    if hit is not None:
                        self._cache.move_to_end((fn_blob, key))
                        out[i] = hit
                        continue
                    task = first_of.get(key)
                    if task is not None:
                        members[task].append(i)
                        continue
                    first_of[key] = len(members)
                members.append([i])
                unique_keys.append(key)
        return out, [m[0] for m in members], members, fn_blob, unique_keys, timeout

    def _submit(
        self, fn_blob: bytes, items: Sequence[Any], firsts: list[int], timeout: float
    ) -> tuple[_Job, list[RewardResult | None]]:
        job = _Job(len(firsts))
        tasks: list[tuple[int, bytes]] = []
        for task_id, i in enumerate(firsts):
            try:
                tasks.append((task_id, pickle.dumps(items[i], protocol=pickle.HIGHEST_PROTOCOL)))
            except Exception as exc:
                job.settle(
                    task_id,
                    RewardResult.error(f"item is not picklable: {_reason(exc)}"),
                    by_engine=True,
                )
        if tasks:
            pool = self._pool_for_use()
            per_chunk = max(
                1, min(self.config.chunk_size, math.ceil(len(tasks) / (2 * self.config.workers)))
            )
            chunks = [
                _Chunk(job, fn_blob, tasks[k : k + per_chunk], timeout)
                for k in range(0, len(tasks), per_chunk)
            ]
            pool.remember(fn_blob)
            pool.submit(chunks)
        return job, job.results

    def _finish(
        self,
        out: list[RewardResult | None],
        members: list[list[int]],
        fn_blob: bytes,
        keys: list[Any],
        job: _Job,
    ) -> list[RewardResult]:
        results = job.results
        with self._lock:
            for task_id, indices in enumerate(members):
                result = results[task_id]
                if result is None:  # cannot happen once the job settled; never return None
                    result = RewardResult.error("execution engine lost the item")
                for i in indices:
                    out[i] = result
                key = keys[task_id]
                if (
                    key is not None
                    and self.config.cache_size > 0
                    and task_id not in job.engine_made
                ):
                    self._cache[(fn_blob, key)] = result
                    self._cache.move_to_end((fn_blob, key))
                    while len(self._cache) > self.config.cache_size:
                        self._cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def _mapping(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        keys: Sequence[Hashable] | None,
        timeout_s: float | None,
    ) -> Core[list[RewardResult]]:
        """The one implementation of :meth:`map` and :meth:`amap`: yields the submitted job
        while it runs (the driver waits for it), then returns the results in input order."""
        out, firsts, members, fn_blob, ukeys, timeout = self._prepare(fn, items, keys, timeout_s)
        job, _ = self._submit(fn_blob, items, firsts, timeout)
        if not job.future.done():
            yield job
        return self._finish(out, members, fn_blob, ukeys, job)

    def _settle_if_stopped(self, job: _Job) -> None:
        """Give every open item of ``job`` outcome ``error`` when the dispatcher thread (which
        keeps the deadlines) is gone, so no waiter blocks forever."""
        pool = self._pool
        if not job.future.done() and (pool is None or not pool.thread.is_alive()):
            for task_id in range(len(job.results)):
                job.settle(task_id, RewardResult.error("execution engine stopped"), by_engine=True)

    def _wait(self, job: _Job) -> None:
        while not job.future.done():
            concurrent.futures.wait([job.future], timeout=_WATCH_S)
            self._settle_if_stopped(job)

    async def _await(self, job: _Job) -> None:
        import asyncio

        waiting = asyncio.wrap_future(job.future)
        while not waiting.done():
            await asyncio.wait([waiting], timeout=_WATCH_S)
            self._settle_if_stopped(job)
        await waiting

    def map(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        *,
        keys: Sequence[Hashable] | None = None,
        timeout_s: float | None = None,
    ) -> list[RewardResult]:
        """``[fn(item) for item in items]`` in worker processes, each within ``timeout_s``.

        Blocks the calling thread (any thread); the deadline is kept by the dispatcher thread.
        Raises :class:`EngineClosedError` after :meth:`close`, ``TypeError`` when ``fn`` is not
        picklable, ``ValueError`` for mismatched ``keys``; never for a bad item.
        """
        return run_sync(self._mapping(fn, items, keys, timeout_s), self._wait)

    async def amap(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        *,
        keys: Sequence[Hashable] | None = None,
        timeout_s: float | None = None,
    ) -> list[RewardResult]:
        """Async :meth:`map` (the same implementation): awaits the workers without blocking the
        event loop."""
        return await run_async(self._mapping(fn, items, keys, timeout_s), self._await)
