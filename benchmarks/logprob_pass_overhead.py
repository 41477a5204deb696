"""Cost of the extra no-grad forward pass the rewardkit TRL trainers run for log-prob terms.

With aligned steps and HF generation, TRL 1.16 computes no log-probs before scoring, so a config
with a term that reads ``completion_logprobs`` (``unlikeliness``) makes ``RewardKitGRPOTrainer``
run one no-grad forward pass of the policy over each generation batch. A short offline run (tiny
Qwen2 from the TRL test fixtures) trains, in alternating rounds in one process and with the same
seed, with ``pass_at_k_objective`` (no log-probs: no pass) and with ``unlikeliness`` (the pass),
and reports the median step time of each (TRL's ``step_time``, first step of a run left out) and
the time spent inside the log-prob pass itself, as a share of the steps.

    python benchmarks/logprob_pass_overhead.py [--rounds 3] [--steps 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]

CONFIGS: dict[str, dict[str, Any]] = {
    "no_logprobs": {"shaping": [{"type": "pass_at_k_objective", "k": 2}]},
    "logprob_pass": {"shaping": [{"type": "unlikeliness", "beta": 0.25}]},
}


def _tiny() -> Any:
    spec = importlib.util.spec_from_file_location(
        "trl_tiny", ROOT / "adapters" / "trl" / "tests" / "trl_tiny.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["trl_tiny"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    opts = parser.parse_args()

    import torch
    from datasets import Dataset
    from rewardkit_trl import RewardKitGRPOTrainer
    from trl import GRPOConfig

    torch.set_num_threads(1)
    tiny = _tiny()
    data = Dataset.from_dict({"prompt": tiny.tiny_prompt_texts(64)})
    step_times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    pass_share: list[float] = []
    for _ in range(opts.rounds):
        for name, config in CONFIGS.items():
            model, tokenizer = tiny.build_tiny_model_and_tokenizer(hidden_size=64)
            with tempfile.TemporaryDirectory() as out:
                args = tiny.tiny_grpo_args(
                    out, max_steps=opts.steps, max_completion_length=32, log_level="error"
                )
                trainer = RewardKitGRPOTrainer(
                    model,
                    config,
                    args=GRPOConfig(**args),
                    train_dataset=data,
                    processing_class=tokenizer,
                )
                spent: list[float] = []
                forward = trainer._rewardkit_forward_logps

                def timed(*a: Any, _f: Any = forward, _s: list[float] = spent) -> Any:
                    start = time.perf_counter()
                    try:
                        return _f(*a)
                    finally:
                        _s.append(time.perf_counter() - start)

                trainer._rewardkit_forward_logps = timed  # type: ignore[method-assign]
                trainer.train()
                times = [h["step_time"] for h in trainer.state.log_history if "step_time" in h]
                step_times[name].extend(times[1:])
                if name == "logprob_pass":
                    assert trainer.rewardkit_logprob_source == "forward_pass"
                    assert len(spent) == opts.steps
                    pass_share.append(sum(spent[1:]) / sum(times[1:]))
    median = {k: statistics.median(v) for k, v in step_times.items()}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch_threads": 1,
        "steps_per_run": opts.steps,
        "rounds": opts.rounds,
        "median_step_ms": {k: v * 1e3 for k, v in median.items()},
        "step_time_ratio": median["logprob_pass"] / median["no_logprobs"],
        "logprob_pass_share_of_step": statistics.median(pass_share),
    }
    print(json.dumps(result, indent=2))
    if opts.json is not None:
        opts.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
