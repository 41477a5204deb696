"""A tiny GRPOTrainer run with ``EntropyMaskMixin``; run by ``test_trl_entropy_mask.py``, alone
or under ``torchrun --nproc_per_node 2`` (gloo, CPU).

On every micro-batch the mixin's mask (quantile, global scope) is compared with TRL's own
``get_high_entropy_mask`` on the same entropies (both are collectives; every rank calls both),
and the statistics are checked to be the same on every rank. Prints one JSON line per rank and
exits non-zero on a mismatch.
"""

from __future__ import annotations

import json
import sys
import tempfile

import torch
from trl_tiny import build_tiny_model_and_tokenizer, tiny_grpo_args, tiny_prompt_texts

from rewardkit.masks import EntropyTopRatioConfig, EntropyTopRatioMask


def length_reward(completions: list[str], **_: object) -> list[float]:
    return [float(len(c)) for c in completions]


def main() -> int:
    import torch.distributed as dist
    from datasets import Dataset
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    checks = {"calls": 0, "mismatches": 0, "kept": 0, "valid": 0}
    stats_seen: list[list[float]] = []

    class CheckedTrainer(EntropyMaskMixin, GRPOTrainer):
        def get_high_entropy_mask(self, entropies, mask, threshold):
            ours = super().get_high_entropy_mask(entropies, mask, threshold)
            trl = GRPOTrainer.get_high_entropy_mask(self, entropies, mask, 1 - 0.2)
            checks["calls"] += 1
            checks["mismatches"] += int(not torch.equal(ours, trl))
            checks["kept"] += int(ours.sum())
            checks["valid"] += int(mask.sum())
            stats_seen.append(
                [v[-1] for k, v in sorted(self._metrics["train"].items()) if "rewardkit" in k]
            )
            return ours

    model, tokenizer = build_tiny_model_and_tokenizer()
    token_mask = EntropyTopRatioMask(
        EntropyTopRatioConfig(ratio=0.2, select="quantile", scope="global")
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = CheckedTrainer(
            model=model,
            processing_class=tokenizer,
            reward_funcs=length_reward,
            args=GRPOConfig(**tiny_grpo_args(out, max_steps=3)),
            train_dataset=Dataset.from_dict({"prompt": tiny_prompt_texts(16)}),
            token_mask=token_mask,
        )
        trainer.train()
        history = trainer.state.log_history
        world = trainer.accelerator.num_processes
        rank = trainer.accelerator.process_index
        # The logged statistics are batch-global: every rank must hold the same numbers.
        gathered = [None] * world
        if world > 1:
            dist.all_gather_object(gathered, stats_seen)
        else:
            gathered = [stats_seen]
        same_stats = all(g == gathered[0] for g in gathered)
        trainer.accelerator.end_training()
    forking = [h.get("rewardkit/token_mask/forking_tokens") for h in history if "loss" in h]
    print(
        "RESULT "
        + json.dumps(
            {
                "rank": rank,
                "world": world,
                **checks,
                "same_stats": same_stats,
                "forking_logged": all(isinstance(f, str) and f for f in forking),
            }
        ),
        flush=True,
    )
    ok = checks["calls"] > 0 and checks["mismatches"] == 0 and same_stats
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
