"""The ``code`` verifier: run the completion's last Python code block against the reference tests.

Each (program, test) pair is one engine item: it runs in a :class:`CodeSandbox` (by default
``auto``: the isolating ``bwrap`` sandbox where it works, else the ``local`` subprocess, which is
**not a security boundary**; see :mod:`._bwrap` and :mod:`._sandbox`) from inside an engine
worker, so tests of a batch run in parallel, identical programs of a collapsed group run once
(cache key: a hash of program and test), and the engine's hard deadline backs up the sandbox's.

References may be stdin/stdout pairs (``{"inputs": [...], "outputs": [...]}`` as in APPS, or a
list of ``{"input": ..., "output": ...}``; also as JSON text) or assert statements (a string of
Python whose top-level ``assert`` statements are the tests and whose other statements are setup,
or a list of assert strings).

An assert test runs through :mod:`._assert_harness`: the sandbox runs the harness with the
program in its text and, on stdin, the test and a random nonce (fresh per run, made in the
worker). The harness forks: the program runs in one process, the test in the other (the judge),
which has never run a line of the program, keeps its own builtins and modules, and sees the
program's values only as plain data (proxies for anything else). The judge prints the nonce
only after the test passed; the test passes only when the run exits 0 **and** its stdout holds
the nonce, so early exits and forged output fail. What stays in the program's hands: the values
its functions return and the behaviour of its own objects (see docs/verifiers.md). In the
``local`` sandbox a program running as root can still reach the judge (ptrace, its descriptors,
files it imports later); in ``bwrap`` it holds no capability and the system is read-only.
"""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import (
    ComponentConfig,
    EntryCheckContext,
    RewardComponent,
    ScoringContext,
)
from rewardkit._errors import ArgumentError, ConfigError
from rewardkit._registry import did_you_mean
from rewardkit._rollout import Outcome, RewardResult, Rollout
from rewardkit.verifiers._bwrap import AutoSandbox, resolve_auto
from rewardkit.verifiers._extract import completion_tail
from rewardkit.verifiers._sandbox import CodeSandbox, SandboxRequest, code_sandboxes

__all__ = [
    "CodeTest",
    "CodeVerifier",
    "assert_harness",
    "extract_code",
    "parse_tests",
    "run_code_test",
]

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}
# Time for the interpreter to start on top of the per-test deadline, for the engine's backstop.
_STARTUP_MARGIN_S = 1.0


def extract_code(text: str) -> str | None:
    """The last fenced code block tagged Python (or untagged); None when there is none."""
    last = None
    for m in _FENCE.finditer(text):
        if m.group(1).lower() in _PYTHON_TAGS:
            last = m.group(2)
    if last is None or not last.strip():
        return None
    return last


@dataclass(frozen=True, slots=True)
class CodeTest:
    """One test: stdin and expected stdout, or a snippet (setup + assert) run after the program."""

    stdin: str = ""
    expected_stdout: str | None = None
    snippet: str | None = None

    def __repr__(self) -> str:
        if self.snippet is not None:
            return f"CodeTest(assert {self.snippet.strip().splitlines()[-1][:40]!r})"
        return f"CodeTest(stdin={self.stdin[:20]!r}, expected={str(self.expected_stdout)[:20]!r})"


def _asserts(source: str) -> list[CodeTest]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ArgumentError(f"reference tests are not valid Python: {exc.msg}") from None
    lines = _LINE_ENDS.split(source)
    setup = [n for n in tree.body if not isinstance(n, ast.Assert)]
    setup_src = "\n".join(_segment(lines, n) for n in setup)
    tests = [n for n in tree.body if isinstance(n, ast.Assert)]
    return [CodeTest(snippet=f"{setup_src}\n{_segment(lines, n)}\n") for n in tests]


# Where ast's line numbers start a new line: after \r\n, \r or \n (not \f or \v).
_LINE_ENDS = re.compile(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)")


def _segment(lines: list[str], node: ast.stmt) -> str:
    """``ast.get_source_segment`` from lines split once: that function re-splits the whole
    source character by character on every call, which takes seconds on a long reference in the
    trainer's process."""
    if node.end_lineno is None or node.end_col_offset is None:
        return ""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset : node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset :].decode()
    tail = lines[last].encode()[: node.end_col_offset].decode()
    return "".join([head, *lines[first + 1 : last], tail])


def parse_tests(reference: Any) -> list[CodeTest]:
    """The tests a reference describes (see the module docstring); ValueError when none."""
    ref = reference
    if isinstance(ref, str):
        stripped = ref.strip()
        if stripped[:1] in ("{", "["):
            try:
                ref = json.loads(stripped)
            except json.JSONDecodeError:
                ref = stripped
        if isinstance(ref, str):
            tests = _asserts(ref)
            if not tests:
                raise ArgumentError("reference has no assert statements")
            return tests
    if isinstance(ref, Mapping):
        if "inputs" in ref and "outputs" in ref:
            ins, outs = ref["inputs"], ref["outputs"]
            if not isinstance(ins, list) or not isinstance(outs, list) or len(ins) != len(outs):
                raise ArgumentError("'inputs' and 'outputs' must be lists of equal length")
            return [CodeTest(stdin=_text(i), expected_stdout=_text(o)) for i, o in zip(ins, outs)]
        if "tests" in ref:
            return parse_tests(ref["tests"])
        raise ArgumentError("a test mapping needs 'inputs' and 'outputs', or 'tests'")
    if isinstance(ref, list) and ref:
        if all(isinstance(t, str) for t in ref):
            return [t for s in ref for t in _asserts(s)]
        if all(isinstance(t, Mapping) for t in ref):
            out = []
            for t in ref:
                stdin = t.get("input", t.get("stdin", ""))
                expected = t.get("output", t.get("stdout", t.get("expected_output")))
                if expected is None:
                    raise ArgumentError("a stdin/stdout test needs 'output'")
                out.append(CodeTest(stdin=_text(stdin), expected_stdout=_text(expected)))
            return out
    raise ArgumentError(f"cannot read tests from a {type(reference).__name__} reference")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"a test input/output of type {type(value).__name__} is not text"
        ) from None


def outputs_match(actual: str, expected: str, mode: str) -> bool:
    if mode == "exact":
        return actual == expected
    if mode == "tokens":
        return actual.split() == expected.split()
    a = [line.rstrip() for line in actual.strip("\n").splitlines()]
    e = [line.rstrip() for line in expected.strip("\n").splitlines()]
    return a == e


# --------------------------------------------------------------------------- worker side


_HARNESS_FILE = Path(__file__).with_name("_assert_harness.py")


@lru_cache(maxsize=1)
def _harness_source() -> str:
    return _HARNESS_FILE.read_text(encoding="utf-8")


def assert_harness(program: str) -> str:
    """The Python source that runs an assert test against ``program`` (see
    :mod:`._assert_harness`); the test itself comes on stdin, see :func:`assert_stdin`."""
    return f"{_harness_source()}\n\n_rewardkit_harness({program!r})\n"


def _test_imports(test: str) -> list[str]:
    """Absolute module names the test imports, for the judge to import before the program runs."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return [n for n in dict.fromkeys(names) if n != "solution" and not n.startswith("solution.")]


def assert_stdin(test: str, nonce: str) -> str:
    """The harness's stdin: the test's imports (JSON), the test's length and text, the nonce."""
    test = test.encode("utf-8", "replace").decode("utf-8")  # as the sandbox will send it
    size = len(test.encode("utf-8"))
    return f"{json.dumps(_test_imports(test))}\n{size}\n{test}{nonce}\n"


@lru_cache(maxsize=16)
def _sandbox(cls: type[CodeSandbox], options: str) -> CodeSandbox:
    return cls(**json.loads(options))


def _last_error(stderr: str, exit_code: int | None) -> str:
    last = stderr.strip().splitlines()[-1:] or [f"exit code {exit_code}"]
    return last[0][:200]


def run_code_test(
    item: tuple[type[CodeSandbox], str, SandboxRequest, CodeTest, str],
) -> RewardResult:
    """Worker function: run one test in the sandbox; correct when it passes.

    ``request.source`` is the program; an assert test wraps it in the harness here, in the
    worker, with a nonce made for this run (so the engine's cache key, a hash of the item, stays
    the same for the same program and test).
    """
    cls, options, request, test, compare = item
    nonce = None
    if test.snippet is not None:
        nonce = secrets.token_hex(16)
        request = replace(
            request,
            source=assert_harness(request.source),
            stdin=assert_stdin(test.snippet, nonce),
        )
    result = _sandbox(cls, options).run(request)
    if result.timed_out:
        return RewardResult.timeout(f"test exceeded {request.timeout_s:g} s")
    if result.truncated:
        return RewardResult.incorrect(reason="output limit exceeded")
    if result.exit_code != 0:
        return RewardResult.incorrect(reason=_last_error(result.stderr, result.exit_code))
    if nonce is not None:
        if nonce in result.stdout:
            return RewardResult.correct()
        return RewardResult.incorrect(reason="the program exited before its tests finished")
    # A stdin/stdout program may exit whenever it likes: what it printed is the verdict.
    assert test.expected_stdout is not None
    if outputs_match(result.stdout, test.expected_stdout, compare):
        return RewardResult.correct()
    return RewardResult.incorrect(reason="wrong output")


# --------------------------------------------------------------------------- component


class CodeConfig(ComponentConfig):
    scoring: Literal["fraction", "all"] = Field(
        default="fraction",
        description="'fraction': share of tests passed; 'all': 1 only when every test passes.",
    )
    timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=600,
        description="Wall-clock deadline per test in seconds (CPU time is limited to the next "
        "whole second). The engine's backstop deadline is this plus 1 s of interpreter start-up.",
    )
    memory_mb: int = Field(
        default=1024, ge=16, le=1 << 20, description="Address-space limit of the program (MiB)."
    )
    max_output_bytes: int = Field(
        default=1 << 20, ge=1024, description="Output beyond this fails the test and kills it."
    )
    max_file_bytes: int = Field(
        default=16 << 20, ge=0, description="Largest file the program may write (RLIMIT_FSIZE)."
    )
    compare: Literal["lines", "tokens", "exact"] = Field(
        default="lines",
        description="stdout comparison: 'lines' ignores trailing spaces and blank lines at the "
        "end, 'tokens' compares whitespace-separated tokens, 'exact' compares bytes.",
    )
    max_processes: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Processes and threads a program may have at once (cgroup pids.max, where "
        "a pids cgroup is writable; the sandbox's own processes are not counted).",
    )
    max_tests: int = Field(
        default=64, ge=1, le=10_000, description="Use at most this many tests per rollout."
    )
    sandbox: str = Field(
        default="auto",
        min_length=1,
        description="Registered code sandbox to run programs in: 'bwrap' (bubblewrap: own PID, "
        "network and mount namespaces), 'local' (a subprocess with rlimits, not a security "
        "boundary), 'auto' (bwrap where it works, else local with one warning); plugins add "
        "others via rewardkit_code_sandboxes.",
    )
    sandbox_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the sandbox (JSON values), e.g. {python: /usr/bin/python3}.",
    )


class CodeVerifier(RewardComponent):
    """Runs the last Python code block against reference tests (stdin/stdout or asserts) in a sandbox."""

    type: ClassVar[str] = "code"
    Config: ClassVar[type[ComponentConfig]] = CodeConfig
    requires_reference: ClassVar[bool] = True
    io_bound: ClassVar[bool] = True  # waits on sandbox subprocesses, not on the CPU
    config: CodeConfig

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """``sandbox`` names a sandbox of the ``rewardkit_code_sandboxes`` hook, and
        ``sandbox_options`` are JSON values that sandbox's constructor takes.

        Checked with the config, so ``rewardkit validate`` catches a misspelt sandbox or option
        with its path instead of the trainer failing at start-up or at every test.
        """
        import inspect

        sandboxes = code_sandboxes(context.registry)
        known = sorted(sandboxes)
        name = entry.sandbox
        if name not in sandboxes:
            return [
                (
                    "sandbox",
                    f"unknown sandbox {name!r}{did_you_mean(name, known)} "
                    f"Registered sandboxes: {', '.join(known) or '(none)'}.",
                )
            ]
        # The options travel to the workers as JSON and become the sandbox's keyword arguments
        # there: a YAML date or !!binary, or an option the sandbox does not take, would
        # otherwise pass validation and fail when the pipeline is built or at every test.
        options = entry.sandbox_options
        try:
            json.dumps(options, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return [("sandbox_options", f"options must be JSON values: {exc}")]
        sandbox = sandboxes[name]
        if name == "auto":  # bwrap takes every option auto passes on
            sandbox = sandboxes.get("bwrap", sandbox)
        try:
            inspect.signature(sandbox).bind(**options)
        except TypeError as exc:
            return [("sandbox_options", f"sandbox {name!r}: {exc}")]
        except ValueError:  # no signature to check against
            pass
        return []

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        known = code_sandboxes()
        if self.config.sandbox not in known:
            raise ConfigError(
                f"code verifier {self.name!r}: unknown sandbox {self.config.sandbox!r}; "
                f"registered: {', '.join(sorted(known)) or '(none)'}"
            )
        self._sandbox_cls = known[self.config.sandbox]
        options = dict(self.config.sandbox_options)
        if self._sandbox_cls is AutoSandbox:  # decided here, once, not in every worker
            self._sandbox_cls, options = resolve_auto(options)
        self._options = json.dumps(options, sort_keys=True)

    def _plan(
        self, rollouts: Sequence[Rollout], max_chars: int
    ) -> tuple[list[RewardResult | None], list[tuple[int, tuple[Any, ...]]]]:
        cfg = self.config
        out: list[RewardResult | None] = []
        jobs: list[tuple[int, tuple[Any, ...]]] = []
        for i, r in enumerate(rollouts):
            try:
                tests = parse_tests(r.reference)[: cfg.max_tests]
            except Exception as exc:  # one unreadable reference must not fail the batch
                reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
                out.append(RewardResult.error(f"bad reference tests: {reason}"[:300]))
                continue
            # Code is not at the very end like a math answer, so it gets four times the room.
            code = extract_code(completion_tail(r.completion, 4 * max_chars))
            if code is None:
                out.append(RewardResult.no_answer("no Python code block"))
                continue
            out.append(None)
            for t in tests:
                # An assert test's harness (with its per-run nonce) is built in the worker.
                request = SandboxRequest(
                    source=code,
                    stdin=t.stdin,
                    timeout_s=cfg.timeout_s,
                    memory_mb=cfg.memory_mb,
                    max_output_bytes=cfg.max_output_bytes,
                    max_file_bytes=cfg.max_file_bytes,
                    max_processes=cfg.max_processes,
                )
                jobs.append((i, (self._sandbox_cls, self._options, request, t, cfg.compare)))
        return out, jobs

    def _aggregate(
        self,
        out: list[RewardResult | None],
        jobs: list[tuple[int, tuple[Any, ...]]],
        verdicts: Sequence[RewardResult],
    ) -> list[RewardResult]:
        per: dict[int, list[RewardResult]] = {}
        for (i, _), v in zip(jobs, verdicts):
            per.setdefault(i, []).append(v)
        for i, results in per.items():
            passed = sum(v.outcome is Outcome.CORRECT for v in results)
            n = len(results)
            if passed == n:
                out[i] = RewardResult.correct(1.0, answer=f"{passed}/{n}")
                continue
            score = passed / n if self.config.scoring == "fraction" else 0.0
            failures = [v for v in results if v.outcome is not Outcome.CORRECT]
            reason = f"{passed}/{n} tests passed; first failure: {failures[0].reason}"
            if all(v.outcome is Outcome.TIMEOUT for v in failures) and passed == 0:
                out[i] = RewardResult(score, Outcome.TIMEOUT, reason, f"{passed}/{n}")
            elif all(v.outcome is Outcome.ERROR for v in failures) and passed == 0:
                out[i] = RewardResult(score, Outcome.ERROR, reason, f"{passed}/{n}")
            else:
                out[i] = RewardResult.incorrect(score, answer=f"{passed}/{n}", reason=reason)
        return out  # type: ignore[return-value]

    @staticmethod
    def _key(item: tuple[Any, ...]) -> bytes:
        # Programs are long; the cache keeps a digest, not the text.
        return hashlib.blake2b(pickle.dumps(item, protocol=5), digest_size=16).digest()

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        out, jobs = self._plan(rollouts, context.engine.config.max_input_chars)
        if not jobs:
            return out  # type: ignore[return-value]
        items = [item for _, item in jobs]
        verdicts = context.engine.map(
            run_code_test,
            items,
            keys=[self._key(it) for it in items],
            timeout_s=self.config.timeout_s + _STARTUP_MARGIN_S,
        )
        return self._aggregate(out, jobs, verdicts)

    async def ascore(
        self, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        out, jobs = self._plan(rollouts, context.engine.config.max_input_chars)
        if not jobs:
            return out  # type: ignore[return-value]
        items = [item for _, item in jobs]
        verdicts = await context.engine.amap(
            run_code_test,
            items,
            keys=[self._key(it) for it in items],
            timeout_s=self.config.timeout_s + _STARTUP_MARGIN_S,
        )
        return self._aggregate(out, jobs, verdicts)
