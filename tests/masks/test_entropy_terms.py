"""The entropy-preserving token functions against hand-computed tensors, and Clip-Cov / KL-Cov
against verl 0.9.1's real ``compute_policy_loss_clip_cov`` / ``compute_policy_loss_kl_cov``."""

from __future__ import annotations

import pytest
import torch

from rewardkit import BatchError
from rewardkit.masks import (
    clip_cov_per_token_loss,
    clip_cov_select,
    covariance,
    entropy_advantage,
    kl_cov_per_token_loss,
    kl_cov_select,
    ppo_clipped,
)

LOGP = torch.tensor([[-1.0, -2.0], [-3.0, 0.0]])
ADV = torch.tensor([1.0, -1.0])
ALL = torch.ones(2, 2, dtype=torch.bool)
# With every token valid: mean log p = -1.5, mean A = 0, so Cov = A · (log p + 1.5).
COV_ALL = torch.tensor([[0.5, -0.5], [1.5, -1.5]])


# --------------------------------------------------------------------------- entropy advantage


def test_entropy_advantage_hand_computed() -> None:
    a = torch.tensor([1.0, -2.0])
    h = torch.tensor([[0.5, 5.0], [1.0, 0.1]])
    out = entropy_advantage(a, h, alpha=0.4, kappa=2.0)
    # row 0: min(0.2, 0.5) = 0.2, min(2.0, 0.5) = 0.5; row 1: min(0.4, 1.0), min(0.04, 1.0)
    assert torch.allclose(out, torch.tensor([[1.2, 1.5], [-1.6, -1.96]]))
    valid = torch.tensor([[1, 1], [1, 0]])
    out = entropy_advantage(a, h, alpha=0.4, kappa=2.0, valid=valid)
    assert torch.allclose(out, torch.tensor([[1.2, 1.5], [-1.6, -2.0]]))


def test_entropy_advantage_replays_the_papers_code() -> None:
    """arXiv 2506.14758 §3.2 lists the method as one line in verl's ``update_policy``, after the
    advantages are computed: ``adv += torch.min(alpha * entropy.detach(), adv.abs()/kappa)``;
    §4: "We fix κ to 2 throughout all experiments, and set α to 0.4 for GRPO and 0.1 for PPO".
    Replayed on verl-shaped B x T advantages (0 on padding) with rewardkit's defaults."""
    g = torch.Generator().manual_seed(3)
    lens = [5, 2, 4, 1]
    mask = torch.zeros(4, 5)
    for i, n in enumerate(lens):
        mask[i, :n] = 1
    entropy = torch.rand(4, 5, generator=g) * 4
    # GRPO: one advantage per sequence, broadcast over its tokens, 0 on padding (as verl stores)
    grpo = torch.tensor([[1.2], [-0.7], [0.0], [-2.5]]) * mask
    adv = grpo.clone()
    adv += torch.min(0.4 * entropy.detach(), adv.abs() / 2)
    assert torch.allclose(entropy_advantage(grpo, entropy), adv)
    assert torch.allclose(entropy_advantage(grpo, entropy, valid=mask), adv)
    # PPO: per-token GAE advantages, the paper's alpha of 0.1
    gae = torch.randn(4, 5, generator=g) * mask
    adv = gae.clone()
    adv += torch.min(0.1 * entropy.detach(), adv.abs() / 2)
    assert torch.allclose(entropy_advantage(gae, entropy, alpha=0.1), adv)


def test_entropy_advantage_config_defaults_are_the_papers_grpo_values() -> None:
    from rewardkit import RewardPipeline

    (term,) = RewardPipeline({"token": [{"type": "entropy_advantage"}]}).token_terms
    assert (term.config.alpha, term.config.kappa) == (0.4, 2.0)
    assert "0.1 for PPO" in type(term.config).model_fields["alpha"].description
    assert "0.1 for PPO" in term.ppo_critic_warning()
    (term,) = RewardPipeline({"token": [{"type": "entropy_advantage", "alpha": 0.1}]}).token_terms
    assert term.ppo_critic_warning() is None


def test_entropy_advantage_defaults_keep_sign_and_zero() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 1, generator=g)
    a[0] = 0.0
    h = torch.rand(64, 9, generator=g) * 20  # entropies large enough to hit the clip
    out = entropy_advantage(a, h)
    assert torch.equal(torch.sign(out), torch.sign(a).expand_as(out))
    assert torch.all(out[0] == 0)
    assert torch.all((out - a).abs() <= a.abs() / 2.0 + 1e-6)  # κ = 2 default


def test_entropy_advantage_entropy_is_detached() -> None:
    h = torch.tensor([[0.1, 0.2]], requires_grad=True)
    a = torch.tensor([[1.0, 1.0]], requires_grad=True)
    entropy_advantage(a, h).sum().backward()
    assert h.grad is None
    assert torch.equal(a.grad, torch.ones(1, 2))


@pytest.mark.parametrize(("alpha", "kappa"), [(-0.1, 2.0), (0.4, 1.0), (0.4, float("nan"))])
def test_entropy_advantage_rejects_bad_coefficients(alpha: float, kappa: float) -> None:
    with pytest.raises(ValueError):
        entropy_advantage(ADV, LOGP, alpha=alpha, kappa=kappa)


def test_shape_errors_are_batch_errors() -> None:
    with pytest.raises(BatchError):
        entropy_advantage(torch.ones(3), LOGP)
    with pytest.raises(BatchError):
        covariance(LOGP, ADV, torch.ones(3, 2))


# --------------------------------------------------------------------------- covariance


def test_covariance_hand_computed() -> None:
    assert torch.allclose(covariance(LOGP, ADV, ALL), COV_ALL)
    valid = torch.tensor([[1, 1], [1, 0]])
    # mean log p over valid = -2, mean A = 1/3
    expected = torch.tensor([[2 / 3, 0.0], [4 / 3, 0.0]])
    assert torch.allclose(covariance(LOGP, ADV, valid), expected)


def test_covariance_empty_batch_is_zero_not_nan() -> None:
    out = covariance(LOGP, ADV, torch.zeros(2, 2))
    assert torch.equal(out, torch.zeros(2, 2))


# --------------------------------------------------------------------------- selection


def test_kl_cov_select_hand_computed() -> None:
    assert torch.equal(
        kl_cov_select(LOGP, ADV, ALL, ratio=0.5), torch.tensor([[True, False], [True, False]])
    )
    # max(1, int(0.0002 · 4)) = 1 token: the largest Cov (1.5 at (1, 0))
    assert torch.equal(kl_cov_select(LOGP, ADV, ALL), torch.tensor([[False, False], [True, False]]))
    assert not kl_cov_select(LOGP, ADV, torch.zeros(2, 2)).any()


def test_clip_cov_select_hand_computed() -> None:
    # Only (0, 0) has 0 < Cov < 1; one token is drawn at least.
    sel = clip_cov_select(LOGP, ADV, ALL, ratio=0.0002, cov_lower=0.0, cov_upper=1.0)
    assert torch.equal(sel, torch.tensor([[True, False], [False, False]]))
    # Strict bounds: Cov = 0.5 is not inside (0.5, 1.0).
    assert not clip_cov_select(LOGP, ADV, ALL, cov_lower=0.5, cov_upper=1.0).any()
    # Excluded tokens are never drawn.
    exclude = torch.tensor([[True, False], [False, False]])
    assert not clip_cov_select(LOGP, ADV, ALL, cov_lower=0.0, cov_upper=1.0, exclude=exclude).any()
    # int(0.5 · 4) = 2 of the 3 candidates in (-1, 2).
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        sel = clip_cov_select(LOGP, ADV, ALL, ratio=0.5, cov_lower=-1.0, cov_upper=2.0, generator=g)
        assert int(sel.sum()) == 2
        assert not sel[1, 1]


def test_ppo_clipped_hand_computed() -> None:
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    # A > 0: clipped when r > 1.2; A < 0 would be clipped when r < 0.8.
    assert torch.equal(
        ppo_clipped(logp, old, torch.tensor([1.0]), torch.ones(1, 3)),
        torch.tensor([[True, False, False]]),
    )
    assert torch.equal(
        ppo_clipped(logp, old, torch.tensor([-1.0]), torch.ones(1, 3)),
        torch.tensor([[False, True, False]]),
    )


@pytest.mark.parametrize("bad", [0.0, 1.5, float("nan")])
def test_ratio_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError):
        kl_cov_select(LOGP, ADV, ALL, ratio=bad)
    with pytest.raises(ValueError):
        clip_cov_select(LOGP, ADV, ALL, ratio=bad)


# --------------------------------------------------------------------------- against verl

verl_algos = pytest.importorskip("verl.trainer.ppo.core_algos")


def _verl_config(**policy_loss: float):
    from verl.workers.config import FSDPActorConfig, PolicyLossConfig

    return FSDPActorConfig(
        strategy="fsdp",
        ppo_mini_batch_size=4,
        ppo_micro_batch_size_per_gpu=4,
        rollout_n=1,
        clip_ratio=0.2,
        policy_loss=PolicyLossConfig(**policy_loss),
    )


def _tensors(seed: int):
    g = torch.Generator().manual_seed(seed)
    b, t = 6, 9
    valid = torch.zeros(b, t)
    for i, n in enumerate([9, 4, 7, 1, 8, 6]):
        valid[i, :n] = 1
    old = -torch.rand(b, t, generator=g) * 3
    logp = (old + torch.randn(b, t, generator=g) * 0.3).requires_grad_()
    adv = (torch.randn(b, generator=g) * 1.5)[:, None].expand(b, t).contiguous()
    return logp, old, adv, valid


def _token_mean(loss: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return (loss * valid).sum() / valid.sum()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("ratio", "lb", "ub"), [(0.2, 0.1, 5.0), (0.0002, 1.0, 5.0)])
def test_clip_cov_equals_verl(seed: int, ratio: float, lb: float, ub: float) -> None:
    logp, old, adv, valid = _tensors(seed)
    cfg = _verl_config(loss_mode="clip_cov", clip_cov_ratio=ratio, clip_cov_lb=lb, clip_cov_ub=ub)
    torch.manual_seed(100 + seed)
    verl_loss, _ = verl_algos.compute_policy_loss_clip_cov(old, logp, adv, valid, config=cfg)
    (verl_grad,) = torch.autograd.grad(verl_loss, logp)

    torch.manual_seed(100 + seed)  # same global generator state: the same draw
    per_token, selected = clip_cov_per_token_loss(
        logp, old, adv, valid, ratio=ratio, cov_lower=lb, cov_upper=ub
    )
    ours = _token_mean(per_token, valid)
    (our_grad,) = torch.autograd.grad(ours, logp)
    assert torch.allclose(ours, verl_loss, atol=1e-6)
    assert torch.allclose(our_grad, verl_grad, atol=1e-7)
    # The selected tokens are exactly where verl's gradient vanished among unclipped tokens.
    unclipped = ~ppo_clipped(logp, old, adv, valid) & (valid > 0)
    assert torch.equal(selected, (verl_grad == 0) & unclipped)
    if ratio == 0.2:
        assert int(selected.sum()) > 0  # the test exercises a real draw


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("ratio", "coef"), [(0.2, 1.0), (0.0002, 0.1), (0.5, 0.3)])
def test_kl_cov_equals_verl(seed: int, ratio: float, coef: float) -> None:
    logp, old, adv, valid = _tensors(seed)
    cfg = _verl_config(loss_mode="kl_cov", kl_cov_ratio=ratio, ppo_kl_coef=coef)
    verl_loss, _ = verl_algos.compute_policy_loss_kl_cov(old, logp, adv, valid, config=cfg)
    (verl_grad,) = torch.autograd.grad(verl_loss, logp)
    per_token, selected = kl_cov_per_token_loss(logp, old, adv, valid, ratio=ratio, coef=coef)
    ours = _token_mean(per_token, valid)
    (our_grad,) = torch.autograd.grad(ours, logp)
    assert torch.allclose(ours, verl_loss, atol=1e-6)
    assert torch.allclose(our_grad, verl_grad, atol=1e-7)
    assert int(selected.sum()) == max(1, int(int(valid.sum()) * ratio))


def test_defaults_match_verl() -> None:
    import inspect

    from verl.workers.config import PolicyLossConfig

    cfg = PolicyLossConfig()
    params = inspect.signature(clip_cov_select).parameters
    assert params["ratio"].default == cfg.clip_cov_ratio
    assert params["cov_lower"].default == cfg.clip_cov_lb
    assert params["cov_upper"].default == cfg.clip_cov_ub
    assert inspect.signature(kl_cov_select).parameters["ratio"].default == cfg.kl_cov_ratio
    coef = inspect.signature(kl_cov_per_token_loss).parameters["coef"].default
    assert coef == cfg.ppo_kl_coef
