"""Two processes under torchrun (gloo, CPU) with an embedding judge and groups straddling them:
each process embeds only its own completions, the vectors are gathered, and the shaped values
equal a single-process computation on the same completions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rewardkit import Batch, RewardPipeline

sys.path.append(str(Path(__file__).parent))
from trl_embed_gather_script import CONFIG, PROMPTS, TEXTS

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

HERE = Path(__file__).parent


def test_each_process_embeds_only_its_own_completions(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(HERE / "trl_embed_gather_script.py"), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=600)
    outputs = [tmp_path / f"rank{r}.json" for r in range(2)]
    if not all(p.is_file() for p in outputs):
        raise AssertionError(
            f"torchrun failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    ranks = [json.loads(p.read_text()) for p in outputs]
    # 6 completions in the global batch; each rank ran the model on its own 3 only (the judge
    # and the embedding_diversity diagnostic read the gathered vectors from the cache).
    assert [r["embedded"] for r in ranks] == [{"float32": 3}, {"float32": 3}]
    with RewardPipeline.from_config(CONFIG) as reference:
        single = reference.score(
            Batch.from_columns(PROMPTS, TEXTS, groups=[i // 2 for i in range(len(TEXTS))])
        )
    for name in ("digits", "div"):
        gathered = ranks[0]["columns"][name] + ranks[1]["columns"][name]
        assert gathered == pytest.approx(single.components[name]), name
    # The judge saw real groups: some pairs merged, some not.
    assert len(set(single.components["div"])) > 1
