"""The ``code`` verifier and the local sandbox: tests, limits, clean-up, plugin point."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from engine_fns import process_alive

from rewardkit import ConfigError, Outcome, Rollout, ScoringContext
from rewardkit.verifiers import (
    CodeVerifier,
    LocalSubprocessSandbox,
    SandboxRequest,
    code_sandboxes,
    extract_code,
    parse_tests,
)

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
    # Not a security boundary: the program can write outside its directory, which counts runs.
    code = _block(f"open({str(runs)!r}, 'a').write('run\\n')\nprint('x')")
    results = _score(context, [(code, {"inputs": ["1"], "outputs": ["x"]})] * 6)
    assert all(r.outcome is Outcome.CORRECT for r in results)
    assert runs.read_text().count("run") == 1


def test_sandbox_plugin_point() -> None:
    assert code_sandboxes()["local"] is LocalSubprocessSandbox
    with pytest.raises(ConfigError, match="unknown sandbox"):
        CodeVerifier(CodeVerifier.Config(sandbox="cloud"))
