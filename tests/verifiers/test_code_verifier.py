"""The ``code`` verifier and the local sandbox: tests, limits, clean-up, plugin point."""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import pytest
from engine_fns import process_alive

from rewardkit import ConfigError, Outcome, Rollout, ScoringContext
from rewardkit.verifiers import (
    CodeVerifier,
    LocalSubprocessSandbox,
    SandboxRequest,
    SandboxResult,
    code_sandboxes,
    extract_code,
    parse_tests,
)
from rewardkit.verifiers._code import run_code_test

STDIO = {"inputs": ["1\n", "2\n", "3\n"], "outputs": ["2\n", "4\n", "6\n"]}
ASSERTS = "import math\nassert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 1\n"


def _block(code: str) -> str:
    return f"Here is my solution:\n```python\n{code}\n```\n"


def _score(context: ScoringContext, pairs: list[tuple[Any, Any]], **cfg: Any):  # type: ignore[no-untyped-def]
    verifier = CodeVerifier(CodeVerifier.Config(**cfg))
    return verifier.score(
        [Rollout(prompt="q", completion=c, reference=r) for c, r in pairs], context
    )


def test_extract_code_takes_the_last_python_block() -> None:
    text = "```python\nprint(1)\n```\nthen\n```cpp\nint main(){}\n```\n```py\nprint(2)\n```"
    assert extract_code(text) == "print(2)\n"
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("no code") is None
    assert extract_code("```python\n```") is None


def test_parse_tests_formats() -> None:
    assert len(parse_tests(STDIO)) == 3
    assert len(parse_tests('{"inputs": ["1"], "outputs": ["2"]}')) == 1
    assert len(parse_tests([{"input": "1", "output": "2"}])) == 1
    asserts = parse_tests(ASSERTS)
    assert len(asserts) == 3 and "import math" in (asserts[0].snippet or "")
    assert len(parse_tests(["assert f(1) == 1", "assert f(2) == 2"])) == 2
    for bad in (None, 5, "x = (", "print(1)", {"inputs": [1]}, []):
        with pytest.raises(ValueError):
            parse_tests(bad)


def test_stdio_and_assert_tests(context: ScoringContext) -> None:
    results = _score(
        context,
        [
            (_block("import sys\nprint(int(sys.stdin.read()) * 2)"), STDIO),
            (_block("print(4)"), STDIO),
            (_block("def add(a, b):\n    return a + b"), ASSERTS),
            ("I cannot solve this.", STDIO),
            (_block("print(1)"), "not python ("),
        ],
    )
    assert [r.outcome for r in results] == [
        Outcome.CORRECT,
        Outcome.INCORRECT,
        Outcome.INCORRECT,
        Outcome.NO_ANSWER,
        Outcome.ERROR,
    ]
    assert results[0].score == 1.0 and results[0].answer == "3/3"
    assert results[1].score == pytest.approx(1 / 3)
    assert results[2].score == pytest.approx(2 / 3) and "AssertionError" in results[2].reason
    all_or_nothing = _score(context, [(_block("print(4)"), STDIO)], scoring="all")
    assert all_or_nothing[0].score == 0.0


def test_limits_loop_memory_output_and_files(context: ScoringContext, tmp_path: Any) -> None:
    one = {"inputs": [""], "outputs": ["done"]}
    t0 = time.monotonic()
    results = _score(
        context,
        [
            (_block("while True:\n    pass"), one),
            (_block("x = bytearray(4 * 1024**3)"), one),
            (_block("while True:\n    print('x' * 1000)"), one),
            (_block("open('big', 'wb').write(b'0' * (64 << 20))"), one),
        ],
        timeout_s=0.5,
        memory_mb=256,
        max_file_bytes=1 << 20,
    )
    assert time.monotonic() - t0 < 15
    assert results[0].outcome is Outcome.TIMEOUT
    assert results[1].outcome is Outcome.INCORRECT and "MemoryError" in results[1].reason
    assert results[2].outcome is Outcome.INCORRECT and "output limit" in results[2].reason
    assert results[3].outcome is Outcome.INCORRECT  # SIGXFSZ / File too large


def test_sandbox_runs_in_fresh_scrubbed_temp_dir_and_kills_the_group(tmp_path: Any) -> None:
    os.environ["REWARDKIT_TEST_SECRET"] = "s3cret"
    try:
        sandbox = LocalSubprocessSandbox()
        probe = sandbox.run(
            SandboxRequest(
                "import os\nprint(os.getcwd())\nprint(os.environ.get('REWARDKIT_TEST_SECRET'))\n"
                "open('scratch.txt', 'w').write('x')"
            )
        )
    finally:
        del os.environ["REWARDKIT_TEST_SECRET"]
    cwd, secret = probe.stdout.split()
    assert "rewardkit-sandbox-" in cwd and not os.path.exists(cwd)  # removed afterwards
    assert secret == "None"
    forker = (
        "import os, subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    result = sandbox.run(SandboxRequest(forker, timeout_s=1.0))
    assert result.timed_out
    grandchild = int(result.stdout.split()[0])
    time.sleep(0.2)
    assert not process_alive(grandchild)


def test_same_program_in_a_collapsed_group_runs_once(
    context: ScoringContext, tmp_path: Any
) -> None:
    runs = tmp_path / "runs.txt"
    # The local sandbox is no security boundary: the program can write outside its directory,
    # which counts runs (bwrap's programs cannot: that is tested in test_sandbox_isolation.py).
    code = _block(f"open({str(runs)!r}, 'a').write('run\\n')\nprint('x')")
    results = _score(context, [(code, {"inputs": ["1"], "outputs": ["x"]})] * 6, sandbox="local")
    assert all(r.outcome is Outcome.CORRECT for r in results)
    assert runs.read_text().count("run") == 1
    # The assert harness's per-run nonce is made in the worker, outside the cache key.
    runs.unlink()
    code = _block(f"open({str(runs)!r}, 'a').write('run\\n')\ndef f():\n    return 1")
    results = _score(context, [(code, "assert f() == 1")] * 6, sandbox="local")
    assert all(r.outcome is Outcome.CORRECT for r in results)
    assert runs.read_text().count("run") == 1


def test_sandbox_plugin_point() -> None:
    assert code_sandboxes()["local"] is LocalSubprocessSandbox
    with pytest.raises(ConfigError, match="unknown sandbox"):
        CodeVerifier(CodeVerifier.Config(sandbox="cloud"))


ADD_TESTS = "assert add(1, 2) == 3\nassert add(2, 5) == 7\n"
WRONG_ADD = "def add(a, b):\n    return 0\n"
EARLY_EXITS = {
    "sys.exit": "import sys\nsys.exit(0)\n",
    "os._exit": WRONG_ADD + "import os\nos._exit(0)\n",
    "atexit": WRONG_ADD + "import atexit, os\natexit.register(os._exit, 0)\n",
    "raise SystemExit": WRONG_ADD + "raise SystemExit\n",
    "main guard": (
        "import sys\n\ndef main():\n    return 0\n\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    ),
}


@pytest.mark.parametrize("program", list(EARLY_EXITS.values()), ids=list(EARLY_EXITS))
def test_a_program_that_exits_early_fails_assert_tests(
    context: ScoringContext, program: str
) -> None:
    (result,) = _score(context, [(_block(program), ADD_TESTS)])
    assert result.outcome is not Outcome.CORRECT
    assert result.score == 0.0, result


def test_forged_success_output_and_harness_tampering_fail(context: ScoringContext) -> None:
    forgeries = [
        # Claims success on stdout, then leaves before the harness can say otherwise.
        WRONG_ADD + "print('All tests passed')\nprint('OK')\nimport os\nos._exit(0)\n",
        # Echoes whatever the verifier sent on stdin: the harness has consumed it already.
        WRONG_ADD + "import os, sys\nprint(sys.stdin.read())\nos._exit(0)\n",
        # Disables exec/compile for the test code: the harness bound them before the program ran.
        WRONG_ADD + "import builtins\nbuiltins.exec = lambda *a, **k: None\n"
        "builtins.compile = lambda *a, **k: None\n",
        # Dumps its caller's frame: the harness holds no nonce while the program runs.
        WRONG_ADD + "import inspect, os, sys\n"
        "print(sys._getframe(1).f_locals, inspect.stack(), flush=True)\nos._exit(0)\n",
        # Exits from inside the function under test.
        "import sys\ndef add(a, b):\n    sys.exit(0)\n",
    ]
    results = _score(context, [(_block(p), ADD_TESTS) for p in forgeries])
    assert [r.outcome for r in results] == [Outcome.INCORRECT] * len(forgeries)
    assert "before its tests finished" in results[0].reason
    assert "SystemExit" in results[-1].reason


def test_programs_that_exit_after_defining_their_functions_are_still_tested(
    context: ScoringContext,
) -> None:
    add = "def add(a, b):\n    return a + b\n"
    programs = [
        add,
        # The __main__ block does not run (the program is imported as module `solution`) ...
        add + "if __name__ == '__main__':\n    print(add(int(input()), 1))\n",
        # ... and an exit at the top level ends the program's body, not the test.
        "import sys\n" + add + "sys.exit(1)\n",
        "import sys\n" + add + "raise SystemExit('bye')\n",
        "print('debug output without a newline', end='')\n" + add,
    ]
    results = _score(context, [(_block(p), ADD_TESTS) for p in programs])
    assert [r.outcome for r in results] == [Outcome.CORRECT] * len(programs), results
    # What the exit skipped is not defined, so the tests fail on it.
    (late,) = _score(context, [(_block("import sys\nsys.exit(0)\n" + add), ADD_TESTS)])
    assert late.outcome is Outcome.INCORRECT and "NameError" in late.reason


class _RecordingSandbox(LocalSubprocessSandbox):
    """The local sandbox, remembering what it was asked to run (called in this process)."""

    requests: ClassVar[list[SandboxRequest]] = []

    def run(self, request: SandboxRequest) -> SandboxResult:
        self.requests.append(request)
        return super().run(request)


def test_the_nonce_is_fresh_per_run_and_neither_it_nor_the_test_is_in_the_program_text() -> None:
    (test,) = parse_tests("assert add(1, 2) == 3")
    request = SandboxRequest("def add(a, b):\n    return a + b\n")
    item = (_RecordingSandbox, "{}", request, test, "lines")
    assert run_code_test(item).outcome is Outcome.CORRECT
    assert run_code_test(item).outcome is Outcome.CORRECT
    first, second = _RecordingSandbox.requests[-2:]
    nonces = [first.stdin.splitlines()[-1], second.stdin.splitlines()[-1]]
    assert nonces[0] != nonces[1] and all(len(n) == 32 for n in nonces)
    assert nonces[0] not in first.source and nonces[1] not in second.source
    assert "add(1, 2) == 3" in first.stdin and "add(1, 2) == 3" not in first.source
    assert first.source == second.source  # the harness itself is deterministic


ALWAYS_EQUAL = (
    "class AlwaysEqual:\n"
    "    def __eq__(self, other):\n        return True\n\n"
    "    def __ne__(self, other):\n        return False\n\n"
    "    __hash__ = object.__hash__\n\n"
)
LYING_INT = (
    "class Int(int):\n    def __eq__(self, other):\n        return True\n\n"
    "    __hash__ = int.__hash__\n\n"
)
# A wrong program and the tests it would pass if the test's comparisons trusted its objects.
EQUALITY_HACKS = {
    "always-equal object": (ALWAYS_EQUAL + "def add(a, b):\n    return AlwaysEqual()\n", ADD_TESTS),
    "operands reversed": (
        ALWAYS_EQUAL + "def add(a, b):\n    return AlwaysEqual()\n",
        "assert 3 == add(1, 2)\n",
    ),
    "int subclass": (LYING_INT + "def add(a, b):\n    return Int(0)\n", ADD_TESTS),
    "str subclass": (
        "class Str(str):\n    def __eq__(self, other):\n        return True\n\n"
        "    __hash__ = str.__hash__\n\n"
        "def greet(name):\n    return Str('')\n",
        "assert greet('Ann') == 'Hello, Ann!'\n",
    ),
    "list holding an always-equal object": (
        ALWAYS_EQUAL + "def pair():\n    return [1, AlwaysEqual()]\n",
        "assert pair() == [1, 2]\n",
    ),
    "__ne__ override": (
        "class Int(int):\n    def __ne__(self, other):\n        return True\n\n"
        "def count(xs):\n    return Int(0)\n",
        "assert count([1, 2]) != 0\n",
    ),
    "inside all()": (
        ALWAYS_EQUAL + "def add(a, b):\n    return AlwaysEqual()\n",
        "assert all(add(a, b) == a + b for a, b in [(1, 2), (2, 5)])\n",
    ),
    "membership": (
        ALWAYS_EQUAL + "def add(a, b):\n    return AlwaysEqual()\n",
        "assert add(1, 2) in (3, 4)\n",
    ),
    "assert in a setup helper": (
        LYING_INT + "def add(a, b):\n    return Int(0)\n",
        "def check(f):\n    assert f(1, 2) == 3\n\ncheck(add)\nassert add is not None\n",
    ),
    "rebinding operator.eq and builtins.type first": (
        ALWAYS_EQUAL + "import builtins, operator\n\n"
        "def add(a, b):\n    operator.eq = lambda x, y: True\n    builtins.type = lambda x: int\n"
        "    return AlwaysEqual()\n",
        "assert add(1, 2) == 3\n",
    ),
}


def test_objects_that_claim_equality_fail_assert_tests(context: ScoringContext) -> None:
    results = _score(context, [(_block(p), t) for p, t in EQUALITY_HACKS.values()])
    failed = {name: r for name, r in zip(EQUALITY_HACKS, results) if r.score != 0.0}
    assert not failed, failed
    assert all(r.outcome is Outcome.INCORRECT for r in results), results
    refused = "value of type AlwaysEqual is not a plain built-in; refusing to compare"
    assert refused in results[0].reason
    assert refused in results[4].reason  # found inside the list


CORRECT_PROGRAMS = {
    "tuple, nested list and dict": (
        "def f():\n    return (1, [2, {'a': (3.5, None)}], 'x')\n",
        "assert f() == (1, [2, {'a': (3.5, None)}], 'x')\nassert f() != (1,)\n",
    ),
    "bool compared with int, int with float": (
        "def f():\n    return True\n\ndef g():\n    return 2\n",
        "assert f() == 1\nassert g() == 2.0\nassert [f()] == [1]\n",
    ),
    "float tolerance and math.isclose": (
        "def root(x):\n    return x ** 0.5\n",
        "import math\nassert abs(root(2) - 1.41421356) < 1e-6\nassert math.isclose(root(4), 2)\n"
        "assert root(9) >= 3 and not root(9) < 3\n",
    ),
    "two user-class instances": (
        "class Point:\n    def __init__(self, x):\n        self.x = x\n\n"
        "    def __eq__(self, other):\n"
        "        return isinstance(other, Point) and self.x == other.x\n\n"
        "def make(x):\n    return Point(x)\n",
        "assert make(1) == Point(1)\nassert make(1) != Point(2)\nassert make(1) != None\n",
    ),
    "subclasses of built-ins read as their built-in values": (
        "from collections import Counter, OrderedDict, namedtuple\nimport enum\n\n"
        "P = namedtuple('P', 'x y')\n\nclass Color(enum.IntEnum):\n    RED = 1\n\n"
        "def f():\n    return Counter('aab'), P(1, 2), OrderedDict(a=1), Color.RED\n",
        "assert f() == ({'a': 2, 'b': 1}, (1, 2), {'a': 1}, 1)\n",
    ),
    "membership, chains and identity": (
        "def evens(n):\n    return (i for i in range(0, n, 2))\n\ndef f():\n    return 0\n",
        "assert 4 in evens(10)\nassert f() in (0, 1) and 5 not in [f()]\n"
        "assert f() == f() == 0 < 1\n"
        "assert f() is not None\n",
    ),
}


def test_correct_programs_still_pass_rewritten_asserts(context: ScoringContext) -> None:
    results = _score(context, [(_block(p), t) for p, t in CORRECT_PROGRAMS.values()])
    failed = {name: r for name, r in zip(CORRECT_PROGRAMS, results) if r.score != 1.0}
    assert not failed, failed
    # Wrong answers still fail, with Python's own comparison of plain values.
    (wrong,) = _score(context, [(_block("def f():\n    return 1.0000001\n"), "assert f() == 1")])
    assert wrong.outcome is Outcome.INCORRECT and wrong.reason.endswith("failure: AssertionError")


def test_numpy_values_limits_of_the_plain_value_check(context: ScoringContext) -> None:
    pytest.importorskip("numpy")
    programs = [
        # A numpy float is a float subclass: read as its float.
        (
            "import numpy as np\n\ndef mean(xs):\n    return np.mean(xs)\n",
            "assert mean([1, 2]) == 1.5",
        ),
        # An array stays in the program's process; .tolist() brings plain values over.
        (
            "import numpy as np\n\ndef double(xs):\n    return np.asarray(xs) * 2\n",
            "assert double([1, 2]).tolist() == [2, 4]",
        ),
        # An array or numpy int against a plain value is refused (documented limit) ...
        ("import numpy as np\n\ndef f():\n    return np.int64(3)\n", "assert f() == 3"),
        # ... and so is an array against an array the test made: nothing crosses but plain data.
        (
            "import numpy as np\n\ndef double(xs):\n    return np.asarray(xs) * 2\n",
            "import numpy as np\nassert (double([1, 2]) == np.array([2, 4])).all()",
        ),
    ]
    results = _score(context, [(_block(p), t) for p, t in programs])
    assert [r.outcome for r in results] == [
        Outcome.CORRECT,
        Outcome.CORRECT,
        Outcome.INCORRECT,
        Outcome.INCORRECT,
    ]
    assert "value of type int64 is not a plain built-in" in results[2].reason
    assert "value of type ndarray is not a plain built-in" in results[3].reason


# Each program below is wrong, and each forged a pass when the test ran in the program's own
# process (its namespace, builtins and modules): the test now runs in a separate judge process.
FORGERIES = {
    "rebinding the comparison checker found in globals()": (
        # Right for the first input only; on its first call it replaced the checker that the
        # generator looks up again for every later comparison.
        "def f(x):\n"
        "    g = globals()\n"
        "    for k in list(g):\n"
        "        if k.startswith('_rewardkit_compare_'):\n"
        "            g[k] = lambda *a: True\n"
        "    return x\n",
        "assert all(f(x) == y for x, y in [(1, 1), (2, 4), (3, 9)])\n",
    ),
    "shadowing all": (
        "all = lambda *a: True\n\ndef add(a, b):\n    return 0\n",
        "assert all(add(a, b) == a + b for a, b in [(1, 2), (2, 5)])\n",
    ),
    "shadowing sorted": (
        "sorted = lambda *a, **k: [1, 2, 3]\n\ndef sort_list(xs):\n    return []\n",
        "assert sorted(sort_list([3, 1, 2])) == [1, 2, 3]\n",
    ),
    "patching builtins.abs": (
        "import builtins\nbuiltins.abs = lambda x: 0\n\ndef root(x):\n    return 0.0\n",
        "assert abs(root(2) - 1.41421356) < 1e-6\n",
    ),
    "patching math.isclose": (
        "import math\nmath.isclose = lambda *a, **k: True\n\ndef root(x):\n    return 0.0\n",
        "import math\nassert math.isclose(root(4), 2)\n",
    ),
    "reading the expected value out of the harness": (
        "import gc, re, sys\n\n"
        "def answer():\n"
        "    texts = [open(sys.argv[0]).read()]\n"
        "    texts += [o for o in gc.get_objects() if isinstance(o, str)]\n"
        "    for text in texts:\n"
        "        m = re.search('answer\\(\\) == (\\d+)', text)\n"
        "        if m and m.group(1) != '4':\n"
        "            return int(m.group(1))\n"
        "    return 0\n",
        "assert answer() == 31337\n",
    ),
    # Found by the review after the two-process harness: an operator or `in` on a program object
    # sent the test's expected value to the program, which picked the answer.
    "an object whose arithmetic sees the expected value": (
        "class Zero:\n    def __sub__(self, other):\n        return 0.0\n\n"
        "    __rsub__ = __mod__ = __sub__\n\ndef root(x):\n    return Zero()\n",
        "assert abs(root(2) - 1.41421356) < 1e-6 and abs(1.41421356 - root(2)) < 1e-6\n"
        "assert root(2) % 7 == 0\n",
    ),
    "an object that contains everything": (
        "class All:\n    def __contains__(self, item):\n        return True\n\n"
        "def words(text):\n    return All()\n",
        "assert 'needle' in words('hay')\n",
    ),
    "StopIteration ending the test's map()": (
        "def is_prime(n):\n    raise StopIteration\n",
        "assert all(map(is_prime, [2, 3, 4, 5]))\n",
    ),
}


def test_forged_passes_through_the_programs_own_process_fail(context: ScoringContext) -> None:
    results = _score(context, [(_block(p), t) for p, t in FORGERIES.values()])
    forged = {name: r for name, r in zip(FORGERIES, results) if r.outcome is Outcome.CORRECT}
    assert not forged, forged
    assert all(r.outcome is Outcome.INCORRECT for r in results), results
    # The same tricks change nothing for a correct program: the judge's builtins are its own.
    honest = (
        "import builtins, math\nbuiltins.abs = lambda x: 0\nmath.isclose = lambda *a, **k: False\n"
        "all = lambda *a: False\n\ndef root(x):\n    return x ** 0.5\n"
    )
    tests = (
        "import math\nassert math.isclose(root(4), 2)\nassert abs(root(2) - 1.41421356) < 1e-6\n"
    )
    tests += "assert all(root(x * x) == x for x in range(5))\n"
    (result,) = _score(context, [(_block(honest), tests)])
    assert result.outcome is Outcome.CORRECT, result


CROSSING = {
    "program objects compared with each other": (
        "class P:\n    def __init__(self, x):\n        self.x = x\n\n"
        "    def __eq__(self, other):\n        return isinstance(other, P) and self.x == other.x\n\n"
        "    def __hash__(self):\n        return hash(self.x)\n\n"
        "def make(x):\n    return P(x)\n",
        "assert make(1) == P(1) and make(1) != P(2) and make(1).x == 1\n"
        "assert len({make(1), make(1)}) == 1\n",
    ),
    "a callable the test passes": (
        "def apply(f, xs):\n    return sorted(xs, key=f)\n",
        "assert apply(lambda x: -x, [1, 3, 2]) == [3, 2, 1]\n",
    ),
    "the program's exceptions": (
        "class Bad(ValueError):\n    pass\n\ndef check(x):\n    if x < 0:\n"
        "        raise Bad('negative')\n    return x\n",
        "try:\n    check(-1)\nexcept ValueError as exc:\n    assert 'negative' in str(exc)\n"
        "else:\n    raise AssertionError('no error')\nassert check(2) == 2\n",
    ),
    "iterators, big ints, bytes and sets": (
        "def gen(n):\n    yield from range(n)\n\n"
        "def big():\n    return 3 ** 5000, b'\\x00\\xff', {1, 2}, frozenset({3}), 1 + 2j\n",
        "assert list(gen(3)) == [0, 1, 2] and 2 in gen(3)\n"
        "assert big() == (3 ** 5000, b'\\x00\\xff', {1, 2}, frozenset({3}), 1 + 2j)\n",
    ),
    "import solution": (
        "def add(a, b):\n    return a + b\n",
        "from solution import add as plus\nimport solution\nassert plus(1, 2) == solution.add(1, 2) == 3\n",
    ),
}


def test_values_and_objects_cross_between_program_and_judge(context: ScoringContext) -> None:
    results = _score(context, [(_block(p), t) for p, t in CROSSING.values()])
    failed = {name: r for name, r in zip(CROSSING, results) if r.outcome is not Outcome.CORRECT}
    assert not failed, failed
