"""A pids cgroup per sandbox run: a process-count limit, and a way to kill every process a
program started, ``setsid`` double forks included, even without a PID namespace.

Used by both built-in sandboxes where a pids cgroup is writable: as root on cgroup v1 (the
``pids`` hierarchy), or on cgroup v2 where the ``pids`` controller is enabled for children of
this process's cgroup (delegation). Elsewhere :meth:`PidsCgroup.create` returns None and there is
no process-count limit (``RLIMIT_NPROC`` counts every process of the user and does not bind
root, so the sandboxes do not use it).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time

__all__ = ["PidsCgroup", "sweep_dead_work_folders"]

_PREFIX = "rewardkit-sandbox-"
_counter = itertools.count()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (nobody reaped it) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidsCgroup:
    """A fresh pids cgroup for one sandbox run, named ``rewardkit-sandbox-<pid>-<n>``.

    The program enters it through ``/bin/sh -c 'echo $$ > cgroup.procs && exec ...'`` (see
    :meth:`enter_argv`) before anything of its own runs, so every process and thread it starts
    counts against ``pids.max``. :meth:`close` kills every process left in it and removes it.
    The cgroups of a process that died without closing them (an engine worker killed with
    SIGKILL) are emptied and removed by the next :meth:`create` of any process.
    """

    def __init__(self, path: str, v2: bool) -> None:
        self.path = path
        self.v2 = v2

    @classmethod
    def create(cls, limit: int) -> PidsCgroup | None:
        """A new cgroup allowing ``limit`` processes, or None where none can be made."""
        for parent, v2 in _parents():
            with contextlib.suppress(OSError):
                _sweep(parent, v2)
            path = os.path.join(parent, f"{_PREFIX}{os.getpid()}-{next(_counter)}")
            try:
                os.mkdir(path)
            except OSError:
                continue
            cgroup = cls(path, v2)
            try:
                with open(os.path.join(path, "pids.max"), "w") as fh:
                    fh.write(str(limit))
                usable = _can_enter(parent, cgroup)
            except OSError:
                usable = False
            if usable:
                return cgroup
            cgroup.close()
        return None

    def close(self) -> None:
        """Kill every process in the cgroup, then remove it."""
        _kill_cgroup(self.path, self.v2, 2.0)
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)

    def enter_argv(self) -> list[str]:
        """A prefix that moves the process into the cgroup, then execs the rest of argv."""
        procs = os.path.join(self.path, "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs]


@functools.cache
def _parents() -> list[tuple[str, bool]]:
    """Where a child pids cgroup of this process could go: (directory, is cgroup v2)."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    found: list[tuple[str, bool]] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) < 5 or len(rest) < 3:
                continue
            root, mount, fstype, options = fields[3], fields[4], rest[0], rest[2].split(",")
            if fstype == "cgroup" and "pids" in options and "pids" in own:
                parent = os.path.normpath(os.path.join(mount, os.path.relpath(own["pids"], root)))
                found.append((parent, False))
            elif fstype == "cgroup2" and "" in own:
                parent = os.path.normpath(os.path.join(mount, os.path.relpath(own[""], root)))
                control = os.path.join(parent, "cgroup.subtree_control")
                with contextlib.suppress(OSError), open(control) as sub:
                    if "pids" in sub.read().split():
                        found.append((parent, True))
    return found


_entered: dict[str, bool] = {}


def _can_enter(parent: str, cgroup: PidsCgroup) -> bool:
    """Whether a process can move itself into a cgroup under ``parent`` (tried once per parent:
    cgroup v2 may allow making a directory but not entering it)."""
    if parent not in _entered:
        try:
            done = subprocess.run([*cgroup.enter_argv(), "true"], timeout=10, capture_output=True)
            _entered[parent] = done.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _entered[parent] = False
    return _entered[parent]


def _sweep(parent: str, v2: bool) -> None:
    """Empty and remove the cgroups of processes that are gone."""
    for name in os.listdir(parent):
        if not name.startswith(_PREFIX):
            continue
        try:
            owner = int(name[len(_PREFIX) :].split("-")[0])
        except ValueError:
            continue
        if not _alive(owner):
            with contextlib.suppress(OSError):
                _kill_cgroup(os.path.join(parent, name), v2, 1.0)
                os.rmdir(os.path.join(parent, name))


def _kill_cgroup(path: str, v2: bool, wait_s: float) -> None:
    if v2:
        with contextlib.suppress(OSError), open(os.path.join(path, "cgroup.kill"), "w") as fh:
            fh.write("1")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with open(os.path.join(path, "cgroup.procs")) as fh:
                pids = [int(p) for p in fh.read().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return
        time.sleep(0.005)


@functools.cache
def sweep_dead_work_folders() -> None:
    """Remove ``local`` work folders (``rewardkit-sandbox-<pid>-*``) of processes that are gone,
    such as an engine worker killed with SIGKILL mid-run; once per process."""
    root = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(root):
            if not name.startswith("rewardkit-sandbox-"):
                continue
            parts = name[len("rewardkit-sandbox-") :].split("-", 1)
            if len(parts) == 2 and parts[0].isdigit() and not _alive(int(parts[0])):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
