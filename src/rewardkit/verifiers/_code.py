"""The ``code`` verifier: run the completion's last Python code block against the reference tests.

Each (program, test) pair is one engine item: it runs in a :class:`CodeSandbox` (by default a
local subprocess with rlimits, **not a security boundary**; see :mod:`._sandbox`) from inside an
engine worker, so tests of a batch run in parallel, identical programs of a collapsed group run
once (cache key: a hash of program and test), and the engine's hard deadline backs up the
sandbox's own.

References may be stdin/stdout pairs (``{"inputs": [...], "outputs": [...]}`` as in APPS, or a
list of ``{"input": ..., "output": ...}``; also as JSON text) or assert statements (a string of
Python whose top-level ``assert`` statements are the tests and whose other statements are setup,
or a list of assert strings).

An assert test is not judged by the exit status alone: a program that calls ``sys.exit(0)`` or
``os._exit(0)``, or registers an ``atexit`` hook that exits 0, would otherwise "pass" every test.
The sandbox runs :func:`assert_harness` instead, with a random nonce (fresh per run, made in the
worker, never in the program text) as its stdin. The harness moves that stdin behind a private
descriptor (the program's stdin is empty), imports the program as module ``solution`` (so
``if __name__ == "__main__":`` blocks do not run; a ``SystemExit`` from its body ends the body,
not the test: what it defined so far is tested), runs the test code in that module's namespace,
and only then reads the nonce and writes it to stdout. The test passes only when the run exits 0
**and** its stdout holds the nonce. This lives in the program the verifier builds and the verdict
it reads, so every :class:`CodeSandbox` gets it. The comparisons in the test's asserts go through
a checker that will not let an object of the program's own class pass as equal to a built-in
value (``assert add(1, 2) == 3`` with an ``__eq__`` that always says True; see the comment at
``_ASSERT_HARNESS``). It stops early exits, forged output and lying ``__eq__``; it is no defence
against a program that deliberately goes after the harness (reads descriptors it did not open,
its caller's memory, rewrites frames or the checker) or reads the test's expected values from
the harness text: the program shares the harness's process.
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
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._errors import ConfigError
from rewardkit._rollout import Outcome, RewardResult, Rollout
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
        raise ValueError(f"reference tests are not valid Python: {exc.msg}") from None
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
                raise ValueError("reference has no assert statements")
            return tests
    if isinstance(ref, Mapping):
        if "inputs" in ref and "outputs" in ref:
            ins, outs = ref["inputs"], ref["outputs"]
            if not isinstance(ins, list) or not isinstance(outs, list) or len(ins) != len(outs):
                raise ValueError("'inputs' and 'outputs' must be lists of equal length")
            return [CodeTest(stdin=_text(i), expected_stdout=_text(o)) for i, o in zip(ins, outs)]
        if "tests" in ref:
            return parse_tests(ref["tests"])
        raise ValueError("a test mapping needs 'inputs' and 'outputs', or 'tests'")
    if isinstance(ref, list) and ref:
        if all(isinstance(t, str) for t in ref):
            return [t for s in ref for t in _asserts(s)]
        if all(isinstance(t, Mapping) for t in ref):
            out = []
            for t in ref:
                stdin = t.get("input", t.get("stdin", ""))
                expected = t.get("output", t.get("stdout", t.get("expected_output")))
                if expected is None:
                    raise ValueError("a stdin/stdout test needs 'output'")
                out.append(CodeTest(stdin=_text(stdin), expected_stdout=_text(expected)))
            return out
    raise ValueError(f"cannot read tests from a {type(reference).__name__} reference")


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
        raise ValueError(
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


# Runs an assert test (see the module docstring). Everything the harness calls after the program
# ran is bound before it runs, because the program may rebind builtins (``exec``, ``compile``,
# ``type``) or patch modules; tracing is switched off before the test so a trace function cannot
# skip its asserts; ``optimize=0`` keeps asserts even where a sandbox runs ``python -O``;
# ``os._exit`` keeps the program's ``atexit`` hooks from changing the exit status afterwards.
#
# The comparisons in the test's asserts (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``,
# ``not in``; also inside ``and``/``not``, calls and comprehensions, and in asserts nested in
# setup code) are rewritten, before the program runs, into calls of a checker bound under a
# random name. Otherwise a program could return an object whose ``__eq__`` always says True and
# pass ``assert add(1, 2) == 3``. The checker first turns each operand into a *plain* value:
# exact built-in types (``type(x) is int``, never ``isinstance``) are kept, subclasses of the
# built-in scalars and containers (``int``, ``float``, ``str``, ``tuple``, ``dict``, ...) are read
# through the built-in type's own C methods, ignoring their overrides (a namedtuple becomes its
# tuple, a numpy float its float, a ``Counter`` its dict), containers recursively. Plain values
# never run the program's code, so comparing them is Python's own comparison (``True == 1``,
# ``1 == 1.0``, no float tolerance). When one side is plain and the other is not (an object of
# some other class, maybe inside a list), the checker refuses and the assert fails. When neither
# side is plain (user classes, numpy arrays, ``Fraction``), it falls back to the operator itself.
# For ``in`` only an element of a plain container must be plain: other containers (generators,
# arrays) answer for themselves. ``x == None`` is ``x is None``.
_ASSERT_HARNESS = """\
import ast as _ast, linecache as _linecache, operator as _operator, os as _os, sys as _sys
import traceback as _traceback, types as _types


def _rewardkit_rewrite(test, checker):
    names = {_ast.Eq: "==", _ast.NotEq: "!=", _ast.Lt: "<", _ast.LtE: "<=", _ast.Gt: ">",
             _ast.GtE: ">=", _ast.In: "in", _ast.NotIn: "not in", _ast.Is: "is",
             _ast.IsNot: "is not"}

    class Rewrite(_ast.NodeTransformer):
        def visit_Compare(self, node):
            self.generic_visit(node)
            ops = tuple(names[type(op)] for op in node.ops)
            if set(ops) <= {"is", "is not"}:
                return node
            if len(ops) == 1:
                args = [_ast.Constant(ops[0]), node.left, node.comparators[0]]
            else:  # a chain: later operands as thunks keep Python's short-circuit
                no_args = dict(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
                thunks = [_ast.Lambda(_ast.arguments(**no_args), c) for c in node.comparators]
                args = [_ast.Constant(ops), node.left, *thunks]
            return _ast.copy_location(_ast.Call(_ast.Name(checker, _ast.Load()), args, []), node)

    tree = _ast.parse(test, "test.py")
    for node in [n for n in _ast.walk(tree) if isinstance(n, _ast.Assert)]:
        node.test = Rewrite().visit(node.test)
    return _ast.fix_missing_locations(tree)


def _rewardkit_checker():
    type_, id_, issubclass_, zip_, map_, set_, tuple_, dict_, AssertionError_ = (
        type, id, issubclass, zip, map, set, tuple, dict, AssertionError)
    type_name = type.__dict__["__name__"].__get__  # not a metaclass's __name__
    op, contains = _operator, _operator.contains
    ops = {"==": op.eq, "!=": op.ne, "<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge,
           "in": lambda a, b: contains(b, a), "not in": lambda a, b: not contains(b, a),
           "is": op.is_, "is not": op.is_not}
    exact = {id(t) for t in (bool, int, float, complex, str, bytes, bytearray, type(None), range)}
    scalars = ((int, int.__index__), (float, float.__float__), (complex, complex.__complex__),
               (str, str.__str__), (bytes, bytes.__bytes__))
    containers = (tuple, list, set, frozenset)

    class Opaque(Exception):
        pass

    def plain(value, depth):
        t = type_(value)
        if id_(t) in exact:
            return value
        for base, read in scalars:
            if issubclass_(t, base):
                return read(value)
        if depth > 100:
            raise Opaque("a value nested more than 100 levels deep")
        if issubclass_(t, dict_):
            if t is dict_ and leaves(dict_.keys(value)) and leaves(dict_.values(value)):
                return value
            items = dict_.items(value)
            return dict_([(plain(k, depth + 1), plain(v, depth + 1)) for k, v in items])
        for base in containers:
            if issubclass_(t, base):
                if t is base and leaves(value):
                    return value
                return base([plain(v, depth + 1) for v in base.__iter__(value)])
        raise Opaque(f"value of type {type_name(t)}")

    def leaves(items):  # fast path: all exact scalars (ids, not types: a metaclass may lie in ==)
        return set_(map_(id_, map_(type_, items))) <= exact

    def check(name, a, b):
        fn = ops[name]
        if name == "is" or name == "is not":
            return fn(a, b)
        if (name == "==" or name == "!=") and (a is None or b is None):
            return (a is b) if name == "==" else (a is not b)
        plain_a = plain_b = opaque = None
        try:
            plain_a = (plain(a, 0),)
        except Opaque as exc:
            opaque = exc
        try:
            plain_b = (plain(b, 0),)
        except Opaque as exc:
            opaque = exc
        if plain_a and plain_b:
            return fn(plain_a[0], plain_b[0])
        # A plain container compares its items with ==; any other one answers for itself.
        guarded = plain_b if name == "in" or name == "not in" else plain_a or plain_b
        if not guarded:
            return fn(a, b)  # neither side plain: nothing trustworthy to hold it to
        raise AssertionError_(f"{opaque.args[0]} is not a plain built-in; refusing to compare")

    def compare(names, left, *rest):
        if type_(names) is not tuple_:
            return check(names, left, rest[0])
        for name, thunk in zip_(names, rest):
            right = thunk()
            result = check(name, left, right)
            if not result:
                return result
            left = right
        return result

    return compare


def _rewardkit_harness(program, test):
    exec_, compile_, read, write, exit_ = exec, compile, _os.read, _os.write, _os._exit
    settrace, setprofile, print_exc, sys = _sys.settrace, _sys.setprofile, _traceback.print_exc, _sys
    no_nonce = b"rewardkit harness: no nonce on stdin (the sandbox must pass request.stdin)\\n"
    # The nonce stays unread in the stdin pipe behind a private descriptor until the test has
    # passed: no frame or object holds it while the program runs, and its stdin is empty.
    try:
        secret = _os.dup(0)
        null = _os.open(_os.devnull, _os.O_RDONLY)
        _os.dup2(null, 0)
        _os.close(null)
    except OSError:
        write(2, no_nonce)
        exit_(2)

    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass

    def fail(message=None):
        try:
            flush()
            if message is None:
                print_exc()
            else:
                write(2, message.encode("utf-8", "replace") + b"\\n")
        finally:
            exit_(1)

    module = _types.ModuleType("solution")
    module.__file__ = "solution.py"
    namespace = module.__dict__
    sys.modules["solution"] = module
    for name, source in (("solution.py", program), ("test.py", test)):
        _linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    checker = "_rewardkit_compare_" + _os.urandom(8).hex()
    try:
        tree = _rewardkit_rewrite(test, checker)
        test_code = compile_(tree, "test.py", "exec", dont_inherit=True, optimize=0)
    except SyntaxError:  # e.g. ``await`` in a chained comparison, now inside a lambda
        test_code = compile_(test, "test.py", "exec", dont_inherit=True, optimize=0)
    compare = _rewardkit_checker()
    try:
        exec_(compile_(program, "solution.py", "exec", dont_inherit=True, optimize=0), namespace)
    except SystemExit:
        pass  # ends the program's top level; what it defined so far is tested
    except BaseException:
        fail()
    settrace(None)
    setprofile(None)
    namespace[checker] = compare
    try:
        exec_(test_code, namespace)
    except SystemExit as exc:
        fail(f"SystemExit({exc.code!r}) raised during the test: the program exited early")
    except BaseException:
        fail()
    flush()
    try:
        nonce = b""
        while not nonce.endswith(b"\\n"):
            chunk = read(secret, 64)
            if not chunk:
                break
            nonce += chunk
        if not nonce.strip():
            write(2, no_nonce)
            exit_(2)
        write(1, b"\\n" + nonce.strip() + b"\\n")
    except BaseException:
        exit_(1)
    exit_(0)


_rewardkit_harness(%r, %r)
"""


def assert_harness(program: str, test: str) -> str:
    """The Python source that runs ``test`` against ``program`` (see the module docstring)."""
    return _ASSERT_HARNESS % (program, test)


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
            request, source=assert_harness(request.source, test.snippet), stdin=f"{nonce}\n"
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
    max_tests: int = Field(
        default=64, ge=1, le=10_000, description="Use at most this many tests per rollout."
    )
    sandbox: str = Field(
        default="local",
        min_length=1,
        description="Registered code sandbox to run programs in ('local': a subprocess with "
        "rlimits, not a security boundary); plugins add others via rewardkit_code_sandboxes.",
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
    config: CodeConfig

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        known = code_sandboxes()
        if self.config.sandbox not in known:
            raise ConfigError(
                f"code verifier {self.name!r}: unknown sandbox {self.config.sandbox!r}; "
                f"registered: {', '.join(sorted(known)) or '(none)'}"
            )
        self._sandbox_cls = known[self.config.sandbox]
        self._options = json.dumps(self.config.sandbox_options, sort_keys=True)

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
