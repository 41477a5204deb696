"""Where generated code runs: the :class:`CodeSandbox` plugin point and the local subprocess one.

.. warning::

   :class:`LocalSubprocessSandbox` is **not a security boundary**. It runs the program as the
   same user, on the same machine and network, with limits (setrlimit on CPU time, address space
   and file size; a wall-clock deadline; a scrubbed environment; a fresh temporary directory as
   working directory; the whole process group killed at the end, and where a pids cgroup is
   writable a process-count limit and every process of the run killed, ``setsid`` ones too).
   That stops accidents (infinite loops, memory blow-ups, files written all over), not an
   adversary: the program can read your files, open sockets and use any interpreter facility,
   and if the worker is killed with SIGKILL mid-run, the program's own children outlive it.
   The isolating sandbox is :class:`~rewardkit.verifiers.BwrapSandbox` (``bwrap``, the default
   through ``auto`` where it works). For other executors (containers, a sandbox service),
   register a :class:`CodeSandbox` through the ``rewardkit_code_sandboxes`` hook and name it in
   the ``code`` verifier's ``sandbox`` field.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rewardkit._errors import ArgumentTypeError
from rewardkit.verifiers._cgroup import PidsCgroup, sweep_dead_work_folders

__all__ = [
    "CodeSandbox",
    "LocalSubprocessSandbox",
    "SandboxRequest",
    "SandboxResult",
    "code_sandboxes",
]


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """One program run: source, stdin and limits. ``max_processes`` counts the processes and
    threads the program may have at once (the program itself included); a sandbox that cannot
    limit it says so in its documentation."""

    source: str
    stdin: str = ""
    timeout_s: float = 1.0
    memory_mb: int = 1024
    max_output_bytes: int = 1 << 20
    max_file_bytes: int = 16 << 20
    max_processes: int = 64

    def __repr__(self) -> str:
        return (
            f"SandboxRequest({len(self.source)} chars of source, stdin={len(self.stdin)} chars, "
            f"timeout_s={self.timeout_s:g})"
        )


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What a run produced. ``timed_out`` means the wall-clock deadline killed it."""

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0

    def __repr__(self) -> str:
        state = "timed out" if self.timed_out else f"exit {self.exit_code}"
        return f"SandboxResult({state}, stdout={len(self.stdout)} chars, {self.duration_s:.3f} s)"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class CodeSandbox:
    """Runs one Python program and returns its output. Subclass it to use another executor.

    Instances are built with the ``code`` verifier's ``sandbox_options`` as keyword arguments,
    inside the execution engine's worker processes (so class and options must be picklable), and
    called once per test. ``run`` must return within ``request.timeout_s`` plus a little
    start-up, never raise for a misbehaving program, and report a deadline as ``timed_out``.

    ``request.source`` is run as the main script and ``request.stdin`` fed to it unchanged,
    through a pipe (not a file the program could reopen); ``stdout`` and ``exit_code`` are
    reported as the program left them. For an assert test the source is the ``code``
    verifier's harness and stdin holds the test and a per-run nonce that the harness prints only
    once the test has passed (see :mod:`rewardkit.verifiers._assert_harness`): a sandbox that
    drops stdin makes every assert test fail, one that keeps or logs it where the program can
    read it lets a program read the test and forge a pass. The harness forks once (the program
    runs in a child process), so a sandbox must allow at least two processes.
    """

    name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        if options:
            raise ArgumentTypeError(
                f"{type(self).__name__} takes no options, got {sorted(options)}"
            )

    def run(self, request: SandboxRequest) -> SandboxResult:
        raise NotImplementedError


# The assert harness's judge, besides the program's own processes.
_LOCAL_OVERHEAD = 1

# Runs first in the child interpreter: set the limits, arrange to die with the worker that
# started us, then run the program as __main__. A launcher instead of ``preexec_fn``, which is
# unsafe in a process that runs threads.
_LAUNCHER = """
import ctypes, resource, runpy, signal, sys
cpu, mem, fsize, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for res, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem),
                   (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)):
    try:
        resource.setrlimit(res, (value, value))
    except (ValueError, OSError):
        pass
if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
del ctypes, resource, signal, cpu, mem, fsize
sys.argv = [path]
runpy.run_path(path, run_name="__main__")
"""


class LocalSubprocessSandbox(CodeSandbox):
    """A subprocess with rlimits, a scrubbed environment and a fresh temporary directory.

    Not a security boundary: see the module docstring.
    """

    name: ClassVar[str] = "local"

    def __init__(self, python: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.python = python or sys.executable
        self.extra_env = dict(env or {})
        sweep_dead_work_folders()

    def _env(self, home: str) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "OMP_NUM_THREADS": "1",
        }
        env.update(self.extra_env)
        return env

    def run(self, request: SandboxRequest) -> SandboxResult:
        started = time.monotonic()
        # The worker's pid in the name: a later sandbox removes the folder if the worker is killed.
        with tempfile.TemporaryDirectory(prefix=f"rewardkit-sandbox-{os.getpid()}-") as home:
            path = os.path.join(home, "main.py")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(request.source)
            cpu = int(request.timeout_s) + 1
            argv = [
                self.python,
                "-I",
                "-c",
                _LAUNCHER,
                str(cpu),
                str(request.memory_mb * 1024 * 1024),
                str(request.max_file_bytes),
                path,
            ]
            begun = _start(
                argv,
                request.max_processes + _LOCAL_OVERHEAD,
                "the interpreter",
                cwd=home,
                env=self._env(home),
            )
            if isinstance(begun, SandboxResult):
                return begun
            return _finish(*begun, request, started + request.timeout_s, started)


def _start(
    argv: list[str], processes: int, what: str, **popen: Any
) -> tuple[subprocess.Popen[bytes], PidsCgroup | None] | SandboxResult:
    """Start ``argv`` with piped stdio in its own session, inside a pids cgroup allowing
    ``processes`` where one can be made; a result saying ``cannot start {what}`` if it fails."""
    cgroup = PidsCgroup.create(processes)
    if cgroup is not None:
        argv = cgroup.enter_argv() + argv
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, killed as a whole
            **popen,
        )
    except OSError as exc:
        if cgroup is not None:
            cgroup.close()
        return SandboxResult("", f"cannot start {what}: {exc}", None)
    return proc, cgroup


def _finish(
    proc: subprocess.Popen[bytes],
    cgroup: PidsCgroup | None,
    request: SandboxRequest,
    deadline: float,
    started: float,
) -> SandboxResult:
    """Feed ``proc`` the request's stdin and collect its output until ``deadline`` (monotonic),
    then kill what is left of it: its process group and its cgroup."""
    try:
        out, err, timed_out, truncated = _communicate(
            proc,
            request.stdin.encode("utf-8", "replace"),
            deadline,
            request.max_output_bytes,
        )
    finally:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # stray children of the program too
        proc.wait()
        if cgroup is not None:
            cgroup.close()  # and those that left the group (setsid)
    return SandboxResult(
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace")[-4000:],
        None if timed_out else proc.returncode,
        timed_out,
        truncated,
        time.monotonic() - started,
    )


def _communicate(
    proc: subprocess.Popen[bytes], stdin: bytes, deadline: float, cap: int
) -> tuple[bytes, bytes, bool, bool]:
    """Feed stdin and collect output until exit, the deadline, or ``cap`` bytes of output.

    ``Popen.communicate`` would buffer unbounded output (a program printing in a loop fills the
    memory); this stops reading, and kills the program, at the cap.
    """
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    sizes = dict.fromkeys(chunks, 0)
    sel = selectors.DefaultSelector()
    pending_in = memoryview(stdin)
    if pending_in:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    timed_out = truncated = False
    open_outputs = 2
    try:
        while open_outputs:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(timeout=left):
                if key.fileobj is proc.stdin:
                    try:
                        n = os.write(proc.stdin.fileno(), pending_in[:65536])
                        pending_in = pending_in[n:]
                    except (BrokenPipeError, BlockingIOError, OSError):
                        pending_in = pending_in[:0]
                    if not pending_in:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                fd = key.fd
                data = os.read(fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_outputs -= 1
                    continue
                chunks[fd].append(data)
                sizes[fd] += len(data)
                if sizes[fd] > cap:
                    truncated = True
                    open_outputs = 0
                    break
        if not timed_out and not truncated:
            left = max(0.0, deadline - time.monotonic())
            try:
                proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        sel.close()
        if not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
    out = b"".join(chunks[proc.stdout.fileno()])[:cap]
    err = b"".join(chunks[proc.stderr.fileno()])[:cap]
    return out, err, timed_out, truncated


def code_sandboxes(registry: Any = None) -> dict[str, type[CodeSandbox]]:
    """Every registered sandbox by name: the built-in ``local`` plus those of plugins."""
    from rewardkit._registry import get_registry

    reg = registry if registry is not None else get_registry()
    found: dict[str, type[CodeSandbox]] = {}
    # The hook exists once the verifiers plugin added its hookspecs (rewardkit_add_hookspecs).
    hook = getattr(reg.plugin_manager.hook, "rewardkit_code_sandboxes", None)
    for result in hook() if hook is not None else ():
        for name, cls in (result or {}).items():
            if not (isinstance(cls, type) and issubclass(cls, CodeSandbox)):
                from rewardkit._errors import PluginError

                raise PluginError(f"code sandbox {name!r} is {cls!r}, not a CodeSandbox subclass")
            found[name] = cls
    return found
