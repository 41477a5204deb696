"""Sampling groups from a policy, with the per-token entropy of every sampled token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rewardkit_demo._measure import SampledGroups
from rewardkit_demo._task import TargetTask

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = ["sample_groups"]


def sample_groups(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    targets: Sequence[int],
    *,
    group_size: int,
    seed: int,
    max_new_tokens: int,
    temperature: float = 1.0,
) -> SampledGroups:
    """``group_size`` completions per target, sampled as TRL samples them (plain temperature
    sampling), with the entropy of the policy at each sampled position (nats)."""
    import torch

    was_training = model.training
    model.eval()
    enc = tokenizer([TargetTask.prompt(t) for t in targets], return_tensors="pt", padding=True)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=group_size,
                output_logits=True,
                return_dict_in_generate=True,
            )
    finally:
        torch.random.set_rng_state(generator_state)
        model.train(was_training)
    ids = out.sequences[:, enc["input_ids"].shape[1] :]
    logits = torch.stack(out.logits, dim=1).float() / temperature
    entropies = torch.distributions.Categorical(logits=logits).entropy()
    # Valid: every token up to and including the first EOS (what TRL's completion_mask keeps).
    is_eos = ids == tokenizer.eos_token_id
    valid = (is_eos.cumsum(dim=1) - is_eos.long()) == 0
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
    completions = [texts[i * group_size : (i + 1) * group_size] for i in range(len(targets))]
    return SampledGroups(list(targets), completions, entropies, valid, ids)
