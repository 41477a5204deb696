"""A training script without an ``if __name__ == "__main__":`` guard must not run again inside
the engine's spawned workers (multiprocessing's default would re-import it in each of them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from rewardkit import RewardPipeline, Rollout

print("TOP-LEVEL RAN", flush=True)
with RewardPipeline({"rewards": [{"type": "math"}], "engine": {"workers": 2}}) as p:
    s = p.score([
        Rollout("q", "\\\\boxed{9^{9^{9^{9}}}}", reference="5"),
        Rollout("q", "so \\\\boxed{\\\\frac13}", reference="\\\\frac{1}{3}"),
    ])
print([d.outcome.value for d in s.details["math"]], flush=True)
"""


def test_unguarded_script_runs_once(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("TOP-LEVEL RAN") == 1, out.stdout
    assert "['timeout', 'correct']" in out.stdout, out.stdout + out.stderr
