"""A third-party token mask (``entropy_threshold`` of the example plugin distribution,
registered through its entry point) through verl's mask paths, against verl's real functions
on CPU: the ``ppo_loss`` wrapper, driver-side advantage masking, the worker hook that builds the
mask from the config, and the trainer's one-mask-per-run check."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from rewardkit import ConfigError, RewardPipeline

pytest.importorskip("verl")
pytest.importorskip("rewardkit_example_plugin")

sys.path.append(str(Path(__file__).parent))
from rewardkit_verl._entropy_mask import EntropyMaskedPPOLoss, apply_entropy_mask_to_batch
from rewardkit_verl._loss_mask import LOSS_MASK_ENV, patch_from_environment
from test_verl_entropy_mask import _actor_config, _grpo_batch, _metric, _micro_batch, _padded
from verl.workers.utils import losses
from verl.workers.utils.padding import no_padding_2_padding

THRESHOLD = 1.0


def _plugin_mask(normalizer: str = "all") -> Any:
    """The plugin's mask as a config builds it: found through the entry point, not imported."""
    pipeline = RewardPipeline(
        {
            "rewards": [{"type": "keyword", "keywords": ["x"]}],
            "token_mask": {
                "type": "entropy_threshold",
                "threshold": THRESHOLD,
                "normalizer": normalizer,
            },
        }
    )
    mask = pipeline.token_mask
    assert type(mask).__module__ == "rewardkit_example_plugin._token_mask"
    return mask


@pytest.mark.parametrize("nested", [False, True], ids=["padded", "jagged"])
@pytest.mark.parametrize("normalizer", ["all", "selected"])
def test_plugin_mask_in_verls_ppo_loss(nested: bool, normalizer: str) -> None:
    data, output = _micro_batch(nested)
    loss, metrics = EntropyMaskedPPOLoss(_plugin_mask(normalizer))(_actor_config(), output, data)
    loss.backward()
    entropy = no_padding_2_padding(output["entropy"], data)
    valid = _padded(data, "response_mask").bool()
    kept = (entropy > THRESHOLD) & valid
    assert 0 < int(kept.sum()) < int(valid.sum())  # the threshold splits this micro-batch
    grads = no_padding_2_padding(output["log_probs"].grad, data)
    assert torch.equal(grads != 0, kept)  # gradient exactly on the plugin's kept tokens
    advantages = _padded(data, "advantages")
    denominator = valid.sum() if normalizer == "all" else kept.sum()
    expected_pg = float(-(advantages * kept).sum() / denominator)
    assert math.isclose(_metric(metrics, "actor/pg_loss"), expected_pg, rel_tol=1e-5)
    # The statistics come from the contract, as for the built-in mask.
    assert math.isclose(
        _metric(metrics, "rewardkit/token_mask/kept_share"),
        int(kept.sum()) / int(valid.sum()),
        rel_tol=1e-9,
    )


def test_plugin_mask_selected_with_seq_mean_token_mean_is_each_responses_kept_mean() -> None:
    data, output = _micro_batch(False, seed=3)
    config = _actor_config(loss_agg_mode="seq-mean-token-mean")
    _, metrics = EntropyMaskedPPOLoss(_plugin_mask("selected"))(config, output, data)
    entropy = no_padding_2_padding(output["entropy"], data)
    valid = _padded(data, "response_mask").bool()
    kept = (entropy > THRESHOLD) & valid
    advantages = _padded(data, "advantages")
    rows = [
        -advantages[r][kept[r]].mean() if kept[r].any() else torch.tensor(0.0) for r in range(4)
    ]
    assert len({round(float(kept[r].sum() / valid[r].sum()), 6) for r in range(4)}) > 1
    expected_pg = float(torch.stack(rows).mean())
    assert math.isclose(_metric(metrics, "actor/pg_loss"), expected_pg, rel_tol=1e-5)


@pytest.mark.parametrize("normalizer", ["all", "selected"])
def test_plugin_mask_on_the_driver_masks_grpo_advantages(normalizer: str) -> None:
    data = _grpo_batch()
    before = data.batch["advantages"].clone()
    valid = data.batch["response_mask"].bool()
    kept = (data.batch["entropy"] > THRESHOLD) & valid
    assert 0 < int(kept.sum()) < int(valid.sum())
    stats = apply_entropy_mask_to_batch(data, _plugin_mask(normalizer))
    scale = 1.0 if normalizer == "all" else float(valid.sum() / kept.sum())
    assert torch.allclose(data.batch["advantages"], before * kept * scale)
    assert stats.num_kept == int(kept.sum())


def _config_file(tmp_path: Path, name: str, threshold: float) -> Path:
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(
            {
                "rewards": [{"type": "keyword", "keywords": ["x"]}],
                "token_mask": {"type": "entropy_threshold", "threshold": threshold},
            }
        )
    )
    return path


def test_worker_hook_wraps_ppo_loss_with_the_plugin_mask(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(LOSS_MASK_ENV, str(_config_file(tmp_path, "rk.yaml", 0.5)))
    original = losses.ppo_loss
    try:
        assert patch_from_environment(losses) is None
        wrapper = losses.ppo_loss
        assert isinstance(wrapper, EntropyMaskedPPOLoss)
        assert wrapper.token_mask.type == "entropy_threshold"
        assert wrapper.token_mask.config.threshold == 0.5
    finally:
        import verl.workers.utils.losses as module

        module.ppo_loss = original


def test_one_mask_per_run_the_workers_mask_must_be_the_trainers(tmp_path: Path) -> None:
    from omegaconf import OmegaConf
    from rewardkit_verl._trainer import check_token_mask_setup

    trainer_mask = RewardPipeline.from_config(
        _config_file(tmp_path, "trainer.yaml", 1.0)
    ).token_mask

    def verl_config(path: Path) -> Any:
        return OmegaConf.create(
            {
                "actor_rollout_ref": {"actor": {"calculate_entropy": True}},
                "algorithm": {},
                "ray_kwargs": {
                    "ray_init": {"runtime_env": {"env_vars": {LOSS_MASK_ENV: str(path)}}}
                },
            }
        )

    same = verl_config(_config_file(tmp_path, "same.yaml", 1.0))
    assert check_token_mask_setup(same, has_token_mask=True, token_mask=trainer_mask) is True
    other = verl_config(_config_file(tmp_path, "other.yaml", 2.0))
    with pytest.raises(ConfigError, match="one mask per run"):
        check_token_mask_setup(other, has_token_mask=True, token_mask=trainer_mask)
