"""Module-level functions for engine tests (workers import this module by name)."""

from __future__ import annotations

import os
import time

from rewardkit import RewardResult

#: Item deadline the tests use: short to keep them fast, long enough for a loaded 2-core box.
TEST_DEADLINE_S = 1.0
#: Slack on top of a deadline before a test calls it broken (worker kill, busy machine).
MARGIN_S = 2.5

#: A power tower: CPython computes it in C while holding the interpreter lock.
TOWER = "tower"


def echo(item: object) -> RewardResult:
    """Correct, with the item's repr as the answer; misbehaves on a few magic items."""
    if item == TOWER:
        return RewardResult.correct(answer=str(9 ** (9 ** (9**9))))
    if item == "sleep":
        time.sleep(3600)
    if item == "raise":
        raise ValueError("bad item")
    if item == "exit":
        os._exit(7)
    if item == "not-a-result":
        return "oops"  # type: ignore[return-value]
    return RewardResult.correct(answer=repr(item))


def pid(item: object) -> RewardResult:
    """The worker's process id as the answer."""
    return RewardResult.correct(answer=str(os.getpid()))


def spawn_sleeper(item: object) -> RewardResult:
    """Starts a grandchild in the worker's process group, then hangs."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    with open(str(item), "w") as fh:
        fh.write(str(child.pid))
    time.sleep(3600)
    return RewardResult.correct()


def slow_warmup_probe(item: object) -> RewardResult:
    return RewardResult.correct(answer="warm" if _WARMED else "cold")


_WARMED = False


def _warm() -> None:
    global _WARMED
    time.sleep(1.5)  # longer than the item deadline used in the test
    _WARMED = True


slow_warmup_probe.rewardkit_warmup = _warm  # type: ignore[attr-defined]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process; reads /proc on Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            # The state follows the parenthesised command name, which may contain spaces.
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
