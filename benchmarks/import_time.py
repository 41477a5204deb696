"""How long ``import rewardkit`` takes, and that it pulls in no torch/trl/verl.

Runs fresh interpreters (the only honest way to time an import) and reports the median of
``-X importtime``'s cumulative time for ``rewardkit``, next to two references measured in the same
run: ``import pydantic`` (the core's heaviest dependency) and the full public API
(``import rewardkit; rewardkit.RewardPipeline; rewardkit.get_registry()``).

    python benchmarks/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

HEAVY = ("torch", "transformers", "sentence_transformers", "trl", "verl", "numpy")

CASES = {
    "import rewardkit": "import rewardkit",
    "import pydantic (reference)": "import pydantic",
    "full API: pipeline + registry": "import rewardkit; rewardkit.RewardPipeline; rewardkit.get_registry()",
}


def _top_level_rows(stderr: str) -> list[tuple[str, int]]:
    """``-X importtime`` rows ``self | cumulative | name`` whose name is not indented."""
    rows = []
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2][1:]
            if not name.startswith(" "):
                rows.append((name.strip(), int(parts[1])))
    return rows


def _cumulative_us(code: str, startup: set[str]) -> tuple[float, list[str]]:
    """Microseconds spent importing what ``code`` imports beyond interpreter start-up."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    total = sum(
        us for name, us in _top_level_rows(res.stderr) if name not in startup | {"json", "sys"}
    )
    return total, json.loads(res.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    bare = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        capture_output=True,
        text=True,
        check=True,
    )
    startup = {name for name, _ in _top_level_rows(bare.stderr)}
    print(f"{'case':34s} {'median ms':>10s} {'p10':>8s} {'p90':>8s}")
    for label, code in CASES.items():
        times = []
        modules: list[str] = []
        for _ in range(args.runs):
            us, modules = _cumulative_us(code, startup)
            times.append(us / 1000)
        times.sort()
        p10 = times[max(0, len(times) // 10)]
        p90 = times[min(len(times) - 1, (len(times) * 9) // 10)]
        print(f"{label:34s} {statistics.median(times):10.1f} {p10:8.1f} {p90:8.1f}")
        heavy = [m for m in HEAVY if m in modules]
        if label == "import rewardkit" and heavy:
            raise SystemExit(f"import rewardkit imported heavy modules: {heavy}")
    print("heavy modules after `import rewardkit`: none of", ", ".join(HEAVY))


if __name__ == "__main__":
    main()
