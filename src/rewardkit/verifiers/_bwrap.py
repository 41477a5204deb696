"""The isolating code sandbox (bubblewrap) and ``auto``: bubblewrap where it works, else
``local`` with one warning.

``bwrap`` runs each program through `bubblewrap <https://github.com/containers/bubblewrap>`_
(the Debian package ``bubblewrap``) in new user, PID, network, mount, IPC and UTS namespaces:

* its own PID namespace: when the program's main process exits, is killed at the deadline, or
  loses the engine worker that started it (``--die-with-parent``, also when the trainer is
  killed with SIGKILL and the workers go), the kernel kills every process in the namespace,
  double-forked and ``setsid`` ones included;
* no network: a fresh network namespace with only a loopback device that is down;
* a read-only view of the system (``/usr``, the interpreter's prefix and the virtual
  environment, a few files of ``/etc``), nothing else of the host's files (no ``/home``,
  ``/root``, ``/tmp``, no checkout), a fresh ``/proc`` and a minimal ``/dev``;
* a private writable work folder ``/sandbox`` (and ``/tmp``): size-limited tmpfs in the
  sandbox's own mount namespace, gone with it (nothing on the host disk to leave behind);
* every capability dropped, no new user namespaces inside, its own session;
* a process-count limit through a pids cgroup (``pids.max``) where one is writable (as root on
  cgroup v1, or v2 with the pids controller delegated); see :class:`~._cgroup.PidsCgroup`.

The rlimits and scrubbed environment of ``local`` apply too.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rewardkit._errors import SandboxUnavailableError
from rewardkit.verifiers._sandbox import (
    _LAUNCHER,
    CodeSandbox,
    LocalSubprocessSandbox,
    SandboxRequest,
    SandboxResult,
    _finish,
    _start,
)

__all__ = ["AutoSandbox", "BwrapSandbox", "bwrap_problem", "resolve_auto"]

# Processes the sandbox itself keeps besides the program's: bwrap's outer process and its init
# in the namespace, and the assert harness's judge.
_BWRAP_OVERHEAD = 3
# bwrap's own set-up (namespaces, mounts) before the interpreter starts; the deadline gives it
# this much on top.
_BWRAP_START_S = 0.1


def _bwrap_binary(bwrap: str | None) -> str | None:
    return shutil.which(bwrap or "bwrap")


@functools.cache
def _has_option(bwrap: str, option: str) -> bool:
    """Whether this bwrap knows ``option`` (``--disable-userns`` came with bubblewrap 0.8)."""
    try:
        out = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return option in out.stdout + out.stderr


def _system_binds(python: str) -> list[str]:
    """bwrap arguments for a read-only system: /usr and its merged-/usr links, the Python
    prefixes, and the few files of /etc that the dynamic loader and time zones read."""
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    prefixes = {
        os.path.dirname(os.path.dirname(os.path.abspath(python))),
        os.path.dirname(os.path.dirname(os.path.realpath(python))),
        os.path.realpath(sys.base_prefix),
    }
    for p in sorted(prefixes, key=len):
        if p and p != "/" and not p.startswith("/usr/") and p != "/usr" and os.path.isdir(p):
            args += ["--ro-bind", p, p]
    return args


class BwrapSandbox(CodeSandbox):
    """Each program in its own namespaces through bubblewrap (see the module docstring)."""

    name: ClassVar[str] = "bwrap"

    def __init__(
        self,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        bwrap: str | None = None,
        binds: Sequence[str] = (),
    ) -> None:
        self.python = python or sys.executable
        self.extra_env = dict(env or {})
        found = _bwrap_binary(bwrap)
        if found is None:
            raise SandboxUnavailableError(f"bwrap not found ({bwrap or 'bwrap'} on PATH)")
        self.bwrap = found
        self.binds = [str(b) for b in binds]

    def _argv(self, request: SandboxRequest, source_fd: int) -> list[str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/sandbox",
            "TMPDIR": "/sandbox",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "OMP_NUM_THREADS": "1",
        }
        env.update(self.extra_env)
        tmpfs = str(max(2 * request.max_file_bytes, 1 << 20) + (8 << 20))
        argv = [
            self.bwrap,
            "--die-with-parent",
            "--unshare-all",
            "--unshare-user",
            *(["--disable-userns"] if _has_option(self.bwrap, "--disable-userns") else []),
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        # The tmpfs mounts come before the read-only binds: bwrap applies them in order, and an
        # interpreter or venv under /tmp (a checkout in /tmp) must stay visible on top of them.
        argv += ["--size", tmpfs, "--tmpfs", "/tmp", "--size", tmpfs, "--tmpfs", "/sandbox"]
        argv += _system_binds(self.python)
        for b in self.binds:
            argv += ["--ro-bind", b, b]
        argv += ["--ro-bind-data", str(source_fd), "/sandbox/main.py", "--chdir", "/sandbox"]
        argv += ["--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += [
            self.python,
            "-I",
            "-c",
            _LAUNCHER,
            str(int(request.timeout_s) + 1),
            str(request.memory_mb * 1024 * 1024),
            str(request.max_file_bytes),
            "/sandbox/main.py",
        ]
        return argv

    def run(self, request: SandboxRequest) -> SandboxResult:
        started = time.monotonic()
        source_fd = os.memfd_create("rewardkit-program", os.MFD_CLOEXEC)
        try:
            data = request.source.encode("utf-8", "surrogateescape")
            view = memoryview(data)
            while view:
                view = view[os.write(source_fd, view) :]
            os.lseek(source_fd, 0, os.SEEK_SET)
            argv = self._argv(request, source_fd)
            begun = _start(
                argv,
                request.max_processes + _BWRAP_OVERHEAD,
                "bwrap",
                pass_fds=(source_fd,),
                env={"PATH": "/usr/bin:/bin"},
            )
        finally:
            os.close(source_fd)
        if isinstance(begun, SandboxResult):
            return begun
        return _finish(*begun, request, started + request.timeout_s + _BWRAP_START_S, started)


@functools.cache
def bwrap_problem(bwrap: str | None = None, python: str | None = None) -> str | None:
    """Why the bwrap sandbox cannot run here (None when it can): runs a trivial program in it."""
    try:
        sandbox = BwrapSandbox(python=python, bwrap=bwrap)
    except SandboxUnavailableError:
        return (
            f"bubblewrap is not installed (no {bwrap or 'bwrap'!r} on PATH; Debian/Ubuntu: "
            "apt-get install bubblewrap)"
        )
    try:
        result = sandbox.run(SandboxRequest("print('rewardkit-ok')", timeout_s=10.0))
    except OSError as exc:
        return f"bwrap cannot start: {exc}"
    if result.exit_code == 0 and "rewardkit-ok" in result.stdout:
        return None
    detail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
    return f"bwrap cannot create its namespaces here ({detail[0][:200]})"


def resolve_auto(options: Mapping[str, Any]) -> tuple[type[CodeSandbox], dict[str, Any]]:
    """``auto``: bwrap where a trial run works, else ``local`` with one warning naming why.

    Options both take (``python``, ``env``) are kept; bwrap's own (``bwrap``, ``binds``) are
    dropped for ``local``.
    """
    opts = dict(options)
    problem = bwrap_problem(opts.get("bwrap"), opts.get("python"))
    if problem is None:
        return BwrapSandbox, opts
    _warn_fallback(problem)
    return LocalSubprocessSandbox, {k: v for k, v in opts.items() if k in ("python", "env")}


@functools.cache
def _warn_fallback(problem: str) -> None:
    warnings.warn(
        f"code sandbox 'auto': {problem}; falling back to 'local', which is not a security "
        "boundary (no PID or network namespace, no process-count limit without a pids cgroup)",
        RuntimeWarning,
        stacklevel=4,
    )


class AutoSandbox(CodeSandbox):
    """``auto``, the default: :class:`BwrapSandbox` where it works here, else
    :class:`~rewardkit.verifiers.LocalSubprocessSandbox` with one warning. The ``code``
    verifier resolves it when it is built; used directly, it resolves on first use."""

    name: ClassVar[str] = "auto"

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._delegate: CodeSandbox | None = None

    def run(self, request: SandboxRequest) -> SandboxResult:
        if self._delegate is None:
            cls, opts = resolve_auto(self.options)
            self._delegate = cls(**opts)
        return self._delegate.run(request)
