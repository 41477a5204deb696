"""A tiny ``GRPOTrainer`` run with the ``token:`` terms token_entropy and kl_cov; run by
``test_trl_entropy_terms.py`` under ``torchrun --nproc_per_node 2`` (gloo, CPU).

Every micro-batch's inputs to the token hook (entropies, mask, completion ids, log-probs,
advantages) and the metrics it appended are kept; at the end the ranks exchange them, and each
rank checks that both logged the same numbers and that they equal a single-process computation
on the two ranks' tensors concatenated. Some completions are rewritten to state ``\\boxed{42}``
(before the loss computes the entropies), so the answer-span statistics have something to see.
Prints one ``RESULT`` JSON line per rank; exits non-zero on a mismatch.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile

import torch
from trl_tiny import WORDS, build_tiny_model_and_tokenizer, tiny_grpo_args, tiny_prompt_texts

from rewardkit import RewardPipeline
from rewardkit.masks import (
    answer_span_entropy,
    answer_token_mask,
    entropy_mask,
    kl_cov_select,
    token_entropy_stats,
)

BOX = ("\\", "boxed", "{", "4", "2", "}")
KL_RATIO = 0.3


def length_reward(completions: list[str], **_: object) -> list[float]:
    return [float(len(c)) for c in completions]


def pad_cat(parts: list[torch.Tensor]) -> torch.Tensor:
    width = max(p.shape[1] for p in parts)
    return torch.cat([torch.nn.functional.pad(p, (0, width - p.shape[1])) for p in parts])


def reference(calls: list[dict[str, torch.Tensor]], tokenizer) -> dict[str, float]:
    """The token metrics of one micro-batch of every rank, computed in one process."""
    h = pad_cat([c["h"] for c in calls])
    valid = pad_cat([c["valid"] for c in calls]).bool()
    ids = pad_cat([c["ids"] for c in calls])
    stats = token_entropy_stats(h, valid, gather=False)
    top = entropy_mask(h, valid, 0.2)
    p = "rewardkit/token_entropy/"
    out = {
        p + "mean": stats.mean,
        p + "p50": stats.p50,
        p + "p80": stats.p80,
        p + "p95": stats.p95,
        p + "mass_top": float((h * top).sum() / (h * valid).sum()),
    }
    answer, found = answer_token_mask(ids, valid, tokenizer)
    out.update(
        {p + k: v for k, v in answer_span_entropy(h, valid, answer, found, gather=False).items()}
    )
    # KL-Cov selects within each rank's micro-batch (as verl: N is the micro-batch's tokens);
    # the logged share is over the tokens of all ranks.
    selected = sum(
        int(kl_cov_select(c["logps"], c["adv"], c["valid"], ratio=KL_RATIO).sum()) for c in calls
    )
    out["rewardkit/kl_cov/selected_share"] = selected / int(valid.sum())
    return out


def main() -> int:
    import torch.distributed as dist
    from datasets import Dataset
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    model, tokenizer = build_tiny_model_and_tokenizer((*WORDS, "\\", "boxed", "{", "}"), seed=0)
    box = torch.tensor(tokenizer.convert_tokens_to_ids(list(BOX)))
    terms = RewardPipeline(
        {"token": [{"type": "token_entropy"}, {"type": "kl_cov", "ratio": KL_RATIO}]}
    ).token_terms
    calls: list[dict[str, torch.Tensor]] = []
    logged: list[dict[str, float]] = []

    class Recorded(EntropyMaskMixin, GRPOTrainer):
        def _compute_loss(self, model, inputs):
            ids = inputs["completion_ids"].clone()
            mask = inputs["completion_mask"]
            rank = self.accelerator.process_index
            for b in range(ids.shape[0]):  # rank 0: rows 0, 2, ...; rank 1: rows 1, 3, ...
                if b % 2 == rank % 2 and int(mask[b].sum()) >= len(BOX) + 1:
                    ids[b, 1 : 1 + len(BOX)] = box
            return super()._compute_loss(model, {**inputs, "completion_ids": ids})

        def get_high_entropy_mask(self, entropies, mask, threshold):
            metrics = self._metrics["train"]
            before = {k: len(v) for k, v in metrics.items()}
            out = super().get_high_entropy_mask(entropies, mask, threshold)
            inputs = self._rewardkit_inputs
            calls.append(
                {
                    "h": entropies.detach().float().clone(),
                    "valid": mask.detach().clone(),
                    "ids": inputs["completion_ids"].clone(),
                    "logps": self._rewardkit_logps.detach().clone(),
                    "adv": inputs["advantages"].detach().clone(),
                }
            )
            logged.append(
                {
                    k: v[-1]
                    for k, v in metrics.items()
                    if k.startswith("rewardkit/") and len(v) > before.get(k, 0)
                }
            )
            return out

    with tempfile.TemporaryDirectory() as out:
        trainer = Recorded(
            model=model,
            processing_class=tokenizer,
            reward_funcs=length_reward,
            args=GRPOConfig(**tiny_grpo_args(out, max_steps=2)),
            train_dataset=Dataset.from_dict({"prompt": tiny_prompt_texts(16)}),
            token_terms=terms,
        )
        trainer.train()
        world = trainer.accelerator.num_processes
        rank = trainer.accelerator.process_index
        everything = [None] * world
        dist.all_gather_object(everything, (calls, logged))
        trainer.accelerator.end_training()
    problems = []
    n = len(everything[0][1])
    if n == 0 or any(len(e[1]) != n for e in everything):
        problems.append(f"micro-batch counts differ or are 0: {[len(e[1]) for e in everything]}")
    spans = 0
    for i in range(n if not problems else 0):
        mine = everything[rank][1][i]
        if any(e[1][i] != mine for e in everything):
            problems.append(f"call {i}: ranks logged different numbers")
        want = reference([e[0][i] for e in everything], tokenizer)
        spans += "rewardkit/token_entropy/answer_span_mean" in want
        for key, value in want.items():
            got = mine.get(key)
            if got is None or not math.isclose(got, value, rel_tol=1e-5, abs_tol=1e-7):
                problems.append(f"call {i}: {key} logged {got}, single process {value}")
        extra = {k for k in mine if k.startswith("rewardkit/token_entropy/")} - set(want)
        extra -= {
            "rewardkit/token_entropy/top_threshold",
            "rewardkit/token_entropy/answer_found_share",
        }
        if extra:
            problems.append(f"call {i}: unchecked metrics {sorted(extra)}")
    if not spans:
        problems.append("no micro-batch had an answer span")
    print("RESULT " + json.dumps({"rank": rank, "world": world, "calls": n, "spans": spans,
                                  "problems": problems[:10]}), flush=True)  # fmt: skip
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
