"""The documented ``trl grpo`` YAML with rewardkit presets, run for real on a tiny local model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# --import-mode=importlib puts no test folder on sys.path; the sibling helper modules (trl_probes,
# trl_tiny) have unique names, so appending this folder shadows nothing.
sys.path.append(str(Path(__file__).parent))
from trl_tiny import build_tiny_model_and_tokenizer, tiny_prompt_texts

pytestmark = pytest.mark.slow

RK_CONFIG = """\
rewards:
  - {name: digits, type: keyword, keywords: ["1", "2"]}
shaping:
  - {name: repetition, type: batch_repetition, scope: group}
"""

GRPO_YAML = """\
model_name_or_path: {root}/model
dataset_name: {root}/data
output_dir: {root}/out
reward_funcs:
  - rewardkit_trl.presets.math_accuracy
  - rewardkit_trl.presets.config
reward_weights: [1.0, 0.5]
env:
  REWARDKIT_CONFIG: {root}/rewardkit.yaml
  REWARDKIT_NUM_GENERATIONS: 4
num_generations: 4
per_device_train_batch_size: 4
max_completion_length: 8
max_steps: 2
logging_steps: 1
learning_rate: 1.0e-4
use_cpu: true
bf16: false
gradient_checkpointing: false
report_to: none
save_strategy: "no"
"""


def test_trl_grpo_cli_with_presets_from_yaml(tmp_path: Path) -> None:
    model, tokenizer = build_tiny_model_and_tokenizer()
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "data").mkdir()
    rows = [{"prompt": p, "answer": str(i % 10)} for i, p in enumerate(tiny_prompt_texts(8))]
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "rewardkit.yaml").write_text(RK_CONFIG)
    (tmp_path / "grpo.yaml").write_text(GRPO_YAML.format(root=tmp_path))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("REWARDKIT_CONFIG", None)
    # `trl grpo --config grpo.yaml` runs this module's main() through `accelerate launch`; calling
    # it directly skips only the launcher (same parser, YAML `env:` block and reward lookup).
    proc = subprocess.run(
        [sys.executable, "-m", "trl.scripts.grpo", "--config", str(tmp_path / "grpo.yaml")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for key in (
        "'rewards/math_accuracy/mean'",
        "'rewards/rewardkit/mean'",
        "'rewardkit/math_accuracy/frac_no_answer'",
        "'rewardkit/repetition/mean'",
    ):
        assert key in out, key
