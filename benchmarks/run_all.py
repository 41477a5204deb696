"""Run every benchmark under ``benchmarks/`` in turn, each in a fresh interpreter.

By default each runs with small arguments (a smoke run of minutes in all: the code paths and the
same-run baseline comparison, but numbers too noisy to publish); ``--full`` uses each script's own
defaults, the settings behind ``docs/benchmarks.md``. Every script's output is shown as it runs
and saved to ``OUT/<script>.txt`` (JSON results, where a script writes them, next to it).

    python benchmarks/run_all.py [--full] [--only import_time --only ...] [--out bench_out]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Small arguments per script (see each script's ``--help``).
QUICK_ARGS: dict[str, list[str]] = {
    "import_time": ["--runs", "5"],
    "shaping_throughput": ["--steps", "3", "--prompts", "64"],
    "verify_throughput": [
        "--n",
        "512",
        "--workers",
        "2",
        "--latency-items",
        "50",
        "--diff-n",
        "500",
    ],
    "math_differential": ["--n", "1000", "--spelling", "all"],
    "verl_reward_loop": ["--prompts", "16", "--group", "4", "--workers", "2"],
    "diversity_throughput": ["--prompts", "8", "--group", "8", "--rounds", "1"],
    "judge_scale": ["--n", "64"],
    "mask_overhead": ["--reps", "5", "--rounds", "1", "--steps", "3"],
}
#: Scripts that can also write their results as JSON, with the flag that does it.
JSON_FLAG = {"diversity_throughput": "--json", "mask_overhead": "--json"}


def _scripts() -> list[str]:
    found = sorted(p.stem for p in HERE.glob("*.py") if p.stem != Path(__file__).stem)
    # Known scripts first, in the order above (cheap ones first); new ones run with defaults.
    return [s for s in QUICK_ARGS if s in found] + [s for s in found if s not in QUICK_ARGS]


def _run(script: str, args: list[str], log: Path) -> tuple[int, float]:
    cmd = [sys.executable, str(HERE / f"{script}.py"), *args]
    print(f"\n=== {script}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("w", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        for line in proc.stdout:  # shown live and kept
            sys.stdout.write(line)
            fh.write(line)
        code = proc.wait()
    return code, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="each script's own (publishable) defaults")
    ap.add_argument(
        "--only", action="append", metavar="NAME", help="run only this script (repeatable)"
    )
    ap.add_argument("--out", type=Path, default=Path("bench_out"), help="where output goes")
    args = ap.parse_args()

    scripts = _scripts()
    if args.only:
        unknown = sorted(set(args.only) - set(scripts))
        if unknown:
            ap.error(f"no benchmark named {', '.join(unknown)}; known: {', '.join(scripts)}")
        scripts = [s for s in scripts if s in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"{len(scripts)} benchmarks, {'full' if args.full else 'quick'} settings; output in "
        f"{args.out.resolve()}/"
    )

    summary: list[tuple[str, int, float]] = []
    for script in scripts:
        script_args = [] if args.full else list(QUICK_ARGS.get(script, []))
        if script in JSON_FLAG:
            script_args += [JSON_FLAG[script], str(args.out / f"{script}.json")]
        code, seconds = _run(script, script_args, args.out / f"{script}.txt")
        summary.append((script, code, seconds))

    print("\n=== summary")
    for script, code, seconds in summary:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  {script:<22} {status:<18} {seconds:7.1f} s  -> {args.out / (script + '.txt')}")
    print(
        f"Output is in {args.out.resolve()}/; published numbers go to docs/benchmarks.md "
        "(from --full runs)."
    )
    return 0 if all(code == 0 for _, code, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
