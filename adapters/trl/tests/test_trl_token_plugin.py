"""A third-party token mask (``entropy_threshold`` of the example plugin distribution,
registered through its entry point) in real 2-step ``RewardKitGRPOTrainer`` runs on the tiny
offline model: the same contract path as the built-in mask (weights in TRL's loss, rescaled per
response for ``normalizer: selected``; ``rewardkit/token_mask/*`` statistics)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from rewardkit_trl import RewardKitGRPOTrainer

pytest.importorskip("rewardkit_example_plugin")

sys.path.append(str(Path(__file__).parent))
from trl_tiny import build_tiny_model_and_tokenizer, tiny_grpo_args, tiny_prompt_texts

pytestmark = pytest.mark.slow

PREFIX = "rewardkit/token_mask/"
# The tiny model's token entropies lie within about 3.15-3.17 nats (ln of its vocabulary):
# this threshold keeps some tokens of each micro-batch and drops others (checked below).
THRESHOLD = 3.165


def length_reward(completions: list[str], **_: object) -> list[float]:
    return [float(len(c)) for c in completions]


@pytest.mark.parametrize("normalizer", ["all", "selected"])
def test_plugin_mask_two_step_grpo_run(normalizer: str, tmp_path: Path) -> None:
    from datasets import Dataset
    from trl import GRPOConfig

    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    class Checked(RewardKitGRPOTrainer):
        def get_high_entropy_mask(self, entropies, mask, threshold):  # type: ignore[no-untyped-def]
            out = super().get_high_entropy_mask(entropies, mask, threshold)
            seen.append((entropies.detach().clone(), mask.clone(), out.detach().clone()))
            return out

    torch.set_num_threads(1)
    model, tokenizer = build_tiny_model_and_tokenizer(seed=0)
    config = {
        "rewards": [{"type": "keyword", "keywords": ["1", "2"]}],
        "token_mask": {
            "type": "entropy_threshold",
            "threshold": THRESHOLD,
            "normalizer": normalizer,
        },
    }
    trainer = Checked(
        model,
        config,
        reward_funcs=[length_reward],
        args=GRPOConfig(**tiny_grpo_args(tmp_path, loss_type="grpo")),
        train_dataset=Dataset.from_dict({"prompt": tiny_prompt_texts()}),
        processing_class=tokenizer,
    )
    # Found through the example distribution's entry point, not imported by this test.
    assert type(trainer.token_mask).__module__ == "rewardkit_example_plugin._token_mask"
    trainer.train()

    assert len(seen) == 2
    for entropies, mask, out in seen:
        valid = mask.bool()
        kept = (entropies > THRESHOLD) & valid
        assert 0 < int(kept.sum()) < int(valid.sum())
        if normalizer == "all":
            # TRL's own semantics: a bool mask, dropped tokens stay in the denominator.
            assert out.dtype == torch.bool and torch.equal(out, kept)
        else:
            # loss_type grpo averages each response over its own tokens: each row's kept tokens
            # get that row's N_valid / N_kept, so the loss is each response's kept-token mean.
            n_valid = valid.sum(dim=1, keepdim=True).float()
            n_kept = kept.sum(dim=1, keepdim=True).float()
            scale = torch.where(n_kept > 0, n_valid / n_kept.clamp(min=1), torch.zeros_like(n_kept))
            assert torch.allclose(out.float(), kept.float() * scale)
    steps = [h for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == 2
    for logs, (entropies, mask, _) in zip(steps, seen):
        assert math.isfinite(logs["loss"])
        valid = mask.bool()
        kept = (entropies > THRESHOLD) & valid
        # The contract's statistics of the plugin's mask, one micro-batch per step here.
        assert math.isclose(
            logs[PREFIX + "kept_share"], int(kept.sum()) / int(valid.sum()), rel_tol=1e-6
        )
        assert math.isclose(logs[PREFIX + "entropy_mean"], logs["entropy"], rel_tol=1e-5)
        assert ":" in logs[PREFIX + "forking_tokens"]
