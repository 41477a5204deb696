"""A 2-process GRPO run under torchrun (gloo, CPU) for ``test_trl_distributed.py``.

Usage: ``torchrun --nproc_per_node 2 trl_torchrun_script.py CONFIG.json OUT_DIR``. With 3
completions per process and ``num_generations=2``, group 1 of every generation batch straddles
the two processes. A recording reward function (weight 0), called after rewardkit's, saves each
process's prompts, completions and rewardkit columns per batch to ``OUT_DIR/rank<r>.json``,
with the final state of the stateful terms.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from trl_probes import probe_config
from trl_tiny import build_tiny_model_and_tokenizer, tiny_grpo_args, tiny_prompt_texts


def main(config_path: str, out_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from datasets import Dataset
    from rewardkit_trl import RewardKitGRPOTrainer
    from trl import GRPOConfig

    torch.set_num_threads(1)
    out = Path(out_dir)
    config = probe_config(json.loads(Path(config_path).read_text()))
    records: list[dict[str, Any]] = []
    holder: dict[str, Any] = {}

    def record(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        trainer = holder["trainer"]
        # Called after rewardkit's functions on the same lists: their cached local columns.
        columns = {
            name: func(prompts=prompts, completions=completions, **kwargs)
            for name, func in zip(trainer.reward_func_names, trainer.reward_funcs)
            if name != "record"
        }
        records.append({"prompts": prompts, "completions": completions, "columns": columns})
        return [0.0] * len(prompts)

    model, tokenizer = build_tiny_model_and_tokenizer()
    args = GRPOConfig(
        **tiny_grpo_args(
            out / "trainer",
            per_device_train_batch_size=3,
            num_generations=2,
            max_steps=2,
            reward_weights=[0.0],
        )
    )
    trainer = RewardKitGRPOTrainer(
        model,
        config,
        reward_funcs=[record],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": tiny_prompt_texts(12)}),
        processing_class=tokenizer,
    )
    holder["trainer"] = trainer
    trainer.train()
    rank = dist.get_rank()
    (out / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "world_size": dist.get_world_size(),
                "records": records,
                "state": trainer.rewardkit_pipeline.state_dict(),
                "logged_keys": sorted({k for e in trainer.state.log_history for k in e}),
            }
        )
    )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
