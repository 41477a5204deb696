"""Supervised warm-up: teach the tiny model the task's answer formats, in a mixture.

After the warm-up the policy is right about as often as it is wrong and spreads its answers
over every format, which is the latent diversity the GRPO runs then keep or lose. A plain torch
loop: the data is a few thousand short sequences and a ``Trainer`` would cost more than it does.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rewardkit_demo._task import TargetTask

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = ["WarmupResult", "warm_up"]


@dataclass(frozen=True, slots=True)
class WarmupResult:
    """The loss at the first and the last step of the warm-up."""

    steps: int
    first_loss: float
    final_loss: float


def warm_up(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    task: TargetTask,
    *,
    steps: int,
    seed: int,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    on_step: Callable[[int, float], None] | None = None,
) -> WarmupResult:
    """Train ``model`` in place on prompt + right answer + EOS, loss on the answer tokens only."""
    import torch

    rng = random.Random(seed)
    vocab = tokenizer.get_vocab()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id

    def encode(words: str) -> list[int]:
        return [vocab[w] for w in words.split()]

    targets = task.warmup_targets
    prompts = {t: encode(task.prompt(t)) for t in targets}
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 20) * max(0.1, 1 - s / max(steps, 1))
    )
    model.train()
    first = last = float("nan")
    for step in range(steps):
        rows = []
        for _ in range(batch_size):
            target = rng.choice(targets)
            rows.append((prompts[target], [*encode(task.sample_solution(target, rng)), eos]))
        width = max(len(p) + len(c) for p, c in rows)
        input_ids = torch.full((batch_size, width), pad, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        for i, (p, c) in enumerate(rows):
            input_ids[i, : len(p) + len(c)] = torch.tensor(p + c)
            labels[i, len(p) : len(p) + len(c)] = torch.tensor(c)
        loss = model(input_ids=input_ids, attention_mask=input_ids != pad, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        last = float(loss.detach())
        if step == 0:
            first = last
        if on_step is not None:
            on_step(step + 1, last)
    model.eval()
    return WarmupResult(steps, first, last)
