"""The ``token:`` terms on verl 0.9.1's side, on CPU tensors: clip_cov / kl_cov select verl's own
loss modes (whose loss equals rewardkit's on the same tensors), entropy_advantage and
token_entropy on the driver's TransferQueue fields (padded and jagged)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from rewardkit import ConfigError, RewardPipeline
from rewardkit.masks import (
    clip_cov_per_token_loss,
    entropy_advantage,
    kl_cov_per_token_loss,
)

pytest.importorskip("verl")

from omegaconf import open_dict
from rewardkit_verl._entropy_mask import (
    apply_verl_policy_loss,
    entropy_advantage_nested,
    token_entropy_metrics,
    token_terms_of,
    warn_ppo_critic_defaults,
)
from rewardkit_verl._trainer import RewardKitTrainerMixin
from verl.trainer.ppo.core_algos import AdvantageEstimator, get_policy_loss_fn
from verl.workers.config import FSDPActorConfig, PolicyLossConfig

sys.path.append(str(Path(__file__).parent))
from verl_testlib import generated_trainer_config

LENS = [6, 2, 5, 4]


def _config_with(term: dict[str, Any]) -> Any:
    return generated_trainer_config({"rewards": [{"type": "math"}], "token": [term]})


def _apply(term: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    config = _config_with(term)
    terms = RewardPipeline({"token": [term]}).token_terms
    return config, apply_verl_policy_loss(config, terms)


def _tensors(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, t = len(LENS), max(LENS)
    valid = torch.zeros(b, t)
    for i, n in enumerate(LENS):
        valid[i, :n] = 1
    old = -torch.rand(b, t, generator=g) * 3
    logp = (old + torch.randn(b, t, generator=g) * 0.3).requires_grad_()
    adv = (torch.randn(b, generator=g) * 1.5)[:, None].expand(b, t).contiguous()
    return logp, old, adv, valid


@pytest.mark.parametrize(
    "term",
    [
        {"type": "clip_cov", "ratio": 0.3, "cov_lower": 0.05, "cov_upper": 4.0},
        {"type": "kl_cov", "ratio": 0.3, "coef": 0.7},
    ],
    ids=["clip_cov", "kl_cov"],
)
def test_verl_config_selects_verls_loss_and_it_equals_rewardkits(term: dict[str, Any]) -> None:
    config, settings = _apply(term)
    assert settings is not None
    policy_loss = config.actor_rollout_ref.actor.policy_loss
    assert policy_loss.loss_mode == term["type"]
    # The config as verl's workers would read it: verl's real loss function for that mode.
    fields = {k: policy_loss[k] for k in settings}
    actor = FSDPActorConfig(
        strategy="fsdp",
        ppo_mini_batch_size=4,
        ppo_micro_batch_size_per_gpu=4,
        rollout_n=1,
        clip_ratio=0.2,
        policy_loss=PolicyLossConfig(**fields),
    )
    loss_fn = get_policy_loss_fn(policy_loss.loss_mode)
    for seed in range(3):
        logp, old, adv, valid = _tensors(seed)
        torch.manual_seed(seed)
        verl_loss, _ = loss_fn(old, logp, adv, valid, config=actor)
        torch.manual_seed(seed)
        if term["type"] == "clip_cov":
            per_token, _ = clip_cov_per_token_loss(
                logp, old, adv, valid, ratio=0.3, cov_lower=0.05, cov_upper=4.0
            )
        else:
            per_token, _ = kl_cov_per_token_loss(logp, old, adv, valid, ratio=0.3, coef=0.7)
        ours = (per_token * valid).sum() / valid.sum()
        assert torch.allclose(ours, verl_loss, atol=1e-6)


def test_a_competing_loss_mode_is_a_config_error() -> None:
    config = _config_with({"type": "kl_cov"})
    config.actor_rollout_ref.actor.policy_loss.loss_mode = "gspo"
    with pytest.raises(ConfigError, match="loss_mode is 'gspo'"):
        apply_verl_policy_loss(config, RewardPipeline({"token": [{"type": "kl_cov"}]}).token_terms)


def test_no_loss_term_leaves_verl_alone() -> None:
    config, settings = _apply({"type": "entropy_advantage"})
    assert settings is None
    assert config.actor_rollout_ref.actor.policy_loss.loss_mode == "vanilla"


@pytest.mark.parametrize(
    ("estimator", "term", "warned"),
    [
        ("gae", {"type": "entropy_advantage"}, True),
        ("gae", {"type": "entropy_advantage", "alpha": 0.1}, False),
        ("grpo", {"type": "entropy_advantage"}, False),
        ("gae", {"type": "token_entropy"}, False),
        (AdvantageEstimator.GAE, {"type": "entropy_advantage"}, True),
    ],
    ids=["gae-default-alpha", "gae-explicit-alpha", "grpo", "gae-other-term", "gae-enum"],
)
def test_ppo_with_a_critic_warns_about_the_grpo_alpha(
    estimator: Any, term: dict[str, Any], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config_with(term)
    config.algorithm.adv_estimator = estimator
    terms = RewardPipeline({"token": [term]}).token_terms
    with caplog.at_level(logging.WARNING):
        texts = warn_ppo_critic_defaults(config, terms)
    assert bool(texts) is warned
    assert ("alpha=0.1 for PPO" in caplog.text) is warned


class _VerlTrainerStandIn:
    """Where verl's V1 trainer sits after the mixin in the bases: its own ``__init__`` starts
    Ray workers, which a unit test cannot; this keeps the config the mixin passes on."""

    def __init__(self, config: Any) -> None:
        self.config = config


class _MixinOnly(RewardKitTrainerMixin, _VerlTrainerStandIn):
    pass


def test_the_trainer_sets_verls_loss_and_warns_before_verl_reads_the_config(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = _config_with({"type": "entropy_advantage"})
    with open_dict(config):
        config.reward.reward_kwargs.rewardkit_config = {
            "rewards": [{"type": "math"}],
            "token": [{"type": "entropy_advantage"}, {"type": "kl_cov", "ratio": 0.01}],
        }
    config.algorithm.adv_estimator = "gae"
    with caplog.at_level(logging.WARNING):
        trainer = _MixinOnly(config)
    try:
        assert trainer.config.actor_rollout_ref.actor.policy_loss.loss_mode == "kl_cov"
        assert trainer.config.actor_rollout_ref.actor.policy_loss.kl_cov_ratio == 0.01
        assert "alpha=0.1 for PPO" in caplog.text
    finally:
        trainer.rewardkit.close()


def test_token_terms_of_matches_the_pipeline_order() -> None:
    cfg = {"token": [{"type": "token_entropy"}, {"type": "kl_cov"}, {"type": "entropy_advantage"}]}
    ours = [t.type for t in token_terms_of(RewardPipeline(cfg).config)]
    assert ours == [t.type for t in RewardPipeline(cfg).token_terms]
    assert ours == ["entropy_advantage", "kl_cov", "token_entropy"]


def _fields(nested: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, t = len(LENS), max(LENS)
    mask = torch.zeros(b, t, dtype=torch.long)
    for i, n in enumerate(LENS):
        mask[i, :n] = 1
    fields = {
        "advantages": (torch.randn(b, generator=g)[:, None] * mask).float(),
        "response_mask": mask,
        "entropy": torch.rand(b, t, generator=g) * 3 * mask,
        "responses": torch.randint(3, 40, (b, t), generator=g) * mask,
    }
    if nested:
        fields = {
            k: torch.nested.as_nested_tensor(
                [v[i, :n] for i, n in enumerate(LENS)], layout=torch.jagged
            )
            for k, v in fields.items()
        }
    return fields


@pytest.mark.parametrize("nested", [False, True], ids=["padded", "jagged"])
def test_entropy_advantage_on_the_driver_fields(nested: bool) -> None:
    term = RewardPipeline({"token": [{"type": "entropy_advantage"}]}).token_terms[0]
    fields = _fields(nested)
    new, bonus = entropy_advantage_nested(fields, term)
    padded = _fields(False)
    expected = entropy_advantage(
        padded["advantages"], padded["entropy"], valid=padded["response_mask"]
    )
    got = new.to_padded_tensor(0.0) if nested else new
    assert torch.allclose(got, expected)
    valid = padded["response_mask"].bool()
    assert bonus == pytest.approx(
        float(((expected - padded["advantages"]) * valid).sum() / valid.sum())
    )
    assert bonus > 0


@pytest.mark.parametrize("nested", [False, True], ids=["padded", "jagged"])
def test_token_entropy_metrics_on_the_driver(nested: bool) -> None:
    term = RewardPipeline({"token": [{"type": "token_entropy", "top_tokens": 3}]}).token_terms[0]

    class Decoder:
        def decode(self, ids: list[int]) -> str:
            return f"w{ids[0]}"

    metrics, words = token_entropy_metrics(
        _fields(nested), term, correct=[True, False, None, True], tokenizer=Decoder()
    )
    padded = _fields(False)
    valid = padded["response_mask"].bool()
    h = padded["entropy"]
    assert metrics["rewardkit/token_entropy/mean"] == pytest.approx(float(h[valid].mean()))
    correct_rows = valid.clone()
    correct_rows[[1, 2]] = False
    assert metrics["rewardkit/token_entropy/mean_correct"] == pytest.approx(
        float(h[correct_rows].mean())
    )
    assert metrics["rewardkit/token_entropy/mean_incorrect"] == pytest.approx(
        float(h[1, : LENS[1]].mean())
    )
    # ceil(0.2 · 17) = 4 highest-entropy tokens: their share of the entropy mass.
    top4 = h[valid].sort(descending=True).values[:4]
    assert metrics["rewardkit/token_entropy/mass_top"] == pytest.approx(
        float(top4.sum() / h[valid].sum())
    )
    assert 0 < len(words) <= 3 and all(w.startswith("w") for w, _ in words)


@pytest.mark.parametrize("nested", [False, True], ids=["padded", "jagged"])
def test_token_entropy_answer_span_on_the_driver(nested: bool) -> None:
    """With verl's tokenizer on the driver, the answer's tokens (``\\boxed{42}`` -> ``4`` ``2``)
    against the rest of the responses that state one."""
    term = RewardPipeline({"token": [{"type": "token_entropy", "top_tokens": 0}]}).token_terms[0]
    pieces = {3: "\\boxed{", 4: "4", 5: "2", 6: "}"}

    class Tokenizer:
        def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
            return pieces.get(ids[0], "w")

    padded = _fields(False)
    responses = torch.full_like(padded["responses"], 10)
    responses[0, 1:5] = torch.tensor([3, 4, 5, 6])  # row 0 states \boxed{42} at positions 2, 3
    responses[2, 0:4] = torch.tensor([3, 4, 5, 6])  # row 2 at positions 1, 2
    padded["responses"] = responses * padded["response_mask"]
    fields = padded
    if nested:
        fields = {
            k: torch.nested.as_nested_tensor(
                [v[i, :n] for i, n in enumerate(LENS)], layout=torch.jagged
            )
            for k, v in padded.items()
        }
    metrics, _ = token_entropy_metrics(fields, term, tokenizer=Tokenizer())
    h, valid = padded["entropy"], padded["response_mask"].bool()
    answer = torch.zeros_like(valid)
    answer[0, 2:4] = answer[2, 1:3] = True
    rest = valid & ~answer
    rest[[1, 3]] = False
    prefix = "rewardkit/token_entropy/"
    assert metrics[prefix + "answer_found_share"] == pytest.approx(2 / len(LENS))
    assert metrics[prefix + "answer_span_mean"] == pytest.approx(float(h[answer].mean()))
    assert metrics[prefix + "rest_mean"] == pytest.approx(float(h[rest].mean()))
    # Without a tokenizer there is no text, so no span statistics.
    plain, _ = token_entropy_metrics(fields, term)
    assert not any("answer" in k or "rest" in k for k in plain)
