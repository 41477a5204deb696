"""``scope="global"`` across 2 real processes (torchrun, gloo, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("global_scope_worker.py")


@pytest.mark.slow
@pytest.mark.distributed
def test_global_scope_over_two_processes_equals_single_process_on_the_union() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(WORKER),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "rank 0: ok" in output and "rank 1: ok" in output, output[-4000:]
