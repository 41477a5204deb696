"""Selection rules of ``rewardkit.masks.entropy_mask``: counts, ties, scopes, padding, errors,
and equality with TRL's own ``GRPOTrainer.get_high_entropy_mask``."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardkit import BatchError, ConfigError, RewardPipeline, parse_config
from rewardkit.masks import (
    EntropyTopRatioMask,
    entropy_mask,
    entropy_weights,
    kept_count,
    masked_loss,
)
from rewardkit.masks._entropy_mask import _quantiles

SELECTS = ("topk", "quantile")
SCOPES = ("batch", "sequence", "global")


def _random_batch(
    seed: int, b: int = 4, t: int = 9, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    entropies = (torch.rand(b, t, generator=g) * 3).to(dtype)
    lengths = torch.randint(0, t + 1, (b,), generator=g)
    valid = torch.arange(t)[None, :] < lengths[:, None]
    return entropies, valid


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(
    ("ratio", "n", "k"),
    [(0.2, 10, 2), (0.2, 11, 3), (0.1, 30, 3), (0.3, 7, 3), (0.01, 5, 1), (0.5, 1, 1),
     (0.7, 10, 7), (1.0, 13, 13), (0.2, 0, 0)],
)  # fmt: skip
def test_kept_count_is_max_1_ceil(ratio: float, n: int, k: int) -> None:
    assert kept_count(ratio, n) == k


@pytest.mark.parametrize(("ratio", "n"), [(0.2, 10), (0.2, 11), (0.1, 30), (0.3, 7), (0.01, 5)])
def test_topk_keeps_exactly_k_highest(ratio: float, n: int) -> None:
    entropies = torch.randperm(n).float()[None, :]  # distinct values
    valid = torch.ones_like(entropies, dtype=torch.bool)
    mask = entropy_mask(entropies, valid, ratio)
    k = kept_count(ratio, n)
    assert int(mask.sum()) == k
    assert sorted(entropies[mask].tolist()) == list(range(n - k, n))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 4), min_size=1, max_size=40),
    ratio=st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.5, 0.9]),
)
def test_topk_count_and_order_property(values: list[int], ratio: float) -> None:
    # Integer entropies: plenty of ties.
    entropies = torch.tensor(values, dtype=torch.float32)[None, :]
    valid = torch.ones_like(entropies, dtype=torch.bool)
    mask = entropy_mask(entropies, valid, ratio)
    assert int(mask.sum()) == kept_count(ratio, len(values))
    if bool((~mask).any()):
        assert entropies[mask].min() >= entropies[~mask].max()


def test_topk_ties_go_to_earlier_tokens_and_quantile_keeps_all_ties() -> None:
    entropies = torch.tensor([[0.1, 2.0, 1.0, 1.0], [1.0, 1.0, 0.2, 3.0]])
    valid = torch.ones_like(entropies, dtype=torch.bool)
    # 8 tokens, ratio 0.5 -> k = 4: 3.0, 2.0 and the first two of the four 1.0s (row-major).
    mask = entropy_mask(entropies, valid, 0.5)
    assert mask.tolist() == [[False, True, True, True], [False, False, False, True]]
    assert torch.equal(mask, entropy_mask(entropies, valid, 0.5))  # deterministic
    # quantile(0.5) of [0.1, 0.2, 1, 1, 1, 1, 2, 3] is 1.0: every tied 1.0 is kept.
    quantile = entropy_mask(entropies, valid, 0.5, select="quantile")
    assert quantile.tolist() == [[False, True, True, True], [True, True, False, True]]


@pytest.mark.parametrize("scope", SCOPES)
def test_all_equal_entropies(scope: str) -> None:
    entropies = torch.full((3, 10), 0.7)
    valid = torch.ones_like(entropies, dtype=torch.bool)
    topk = entropy_mask(entropies, valid, 0.2, "topk", scope)
    assert int(topk.sum()) == (3 * 2 if scope == "sequence" else 6)
    assert bool(entropy_mask(entropies, valid, 0.2, "quantile", scope).all())


# --------------------------------------------------------------------------- scopes, padding


def test_sequence_scope_ranks_each_row_on_its_own() -> None:
    entropies = torch.tensor(
        [[9.0, 8.0, 7.0, 6.0, 5.0], [0.1, 0.3, 0.2, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]]
    )
    valid = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    mask = entropy_mask(entropies, valid, 0.4, scope="sequence")
    # ceil(0.4*5) = 2 of row 0, ceil(0.4*3) = 2 of row 1, none of the empty row 2.
    assert mask.tolist() == [
        [True, True, False, False, False],
        [False, True, True, False, False],
        [False] * 5,
    ]
    # The batch scope would take row 0 only.
    assert entropy_mask(entropies, valid, 0.4, scope="batch")[1].sum() == 0


def test_sequence_quantile_matches_per_row_torch_quantile() -> None:
    for seed in range(20):
        entropies, valid = _random_batch(seed, b=5, t=12)
        mask = entropy_mask(entropies, valid, 0.3, "quantile", "sequence")
        for row in range(5):
            values = entropies[row][valid[row]]
            if values.numel() == 0:
                assert not mask[row].any()
                continue
            threshold = torch.quantile(values, 1 - 0.3)
            assert torch.equal(mask[row], (entropies[row] >= threshold) & valid[row])


@pytest.mark.parametrize("select", SELECTS)
@pytest.mark.parametrize("scope", SCOPES)
def test_padding_is_never_selected(select: str, scope: str) -> None:
    entropies, valid = _random_batch(3, b=6, t=10)
    entropies = entropies.masked_fill(~valid, 1e6)  # padding with the largest entropies
    entropies[0, -1] = math.nan if not valid[0, -1] else entropies[0, -1]
    for ratio in (0.05, 0.2, 0.9, 1.0):
        mask = entropy_mask(entropies, valid, ratio, select, scope)
        assert not (mask & ~valid).any()


@pytest.mark.parametrize("select", SELECTS)
@pytest.mark.parametrize("scope", SCOPES)
def test_ratio_one_is_identity_and_no_valid_tokens_is_empty(select: str, scope: str) -> None:
    entropies, valid = _random_batch(5)
    assert torch.equal(entropy_mask(entropies, valid, 1.0, select, scope), valid)
    empty = torch.zeros_like(valid)
    out = entropy_mask(entropies, empty, 0.2, select, scope)
    assert out.dtype == torch.bool and not out.any()
    assert not entropy_mask(torch.empty(0, 4), torch.empty(0, 4, dtype=torch.bool)).any()


def test_valid_mask_may_be_float_or_int_and_entropies_bf16() -> None:
    entropies, valid = _random_batch(11, dtype=torch.bfloat16)
    expected = entropy_mask(entropies, valid)
    assert torch.equal(entropy_mask(entropies, valid.float()), expected)
    assert torch.equal(entropy_mask(entropies, valid.long()), expected)


def test_gradients_are_not_touched() -> None:
    entropies = torch.rand(2, 5, requires_grad=True)
    mask = entropy_mask(entropies, torch.ones(2, 5))
    assert not mask.requires_grad and entropies.grad is None


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_masks_weights_and_stats_stay_on_the_input_device(device: str, dtype: torch.dtype) -> None:
    # The CPU path selects with numpy, other devices sort: both must give the CPU reference.
    entropies, valid = _random_batch(13, b=5, t=17, dtype=dtype)
    component = EntropyTopRatioMask(
        EntropyTopRatioMask.Config(ratio=0.3, normalizer="selected"), name="token_mask"
    )
    for select in SELECTS:
        for scope in SCOPES:
            expected = entropy_mask(entropies, valid, 0.3, select, scope)
            got = entropy_mask(entropies.to(device), valid.to(device), 0.3, select, scope)
            assert got.device.type == device and torch.equal(got.cpu(), expected)
    result = component.apply(
        entropies.to(device),
        valid.to(device),
        token_ids=torch.arange(5 * 17).view(5, 17).to(device),
        correct=torch.tensor([1.0, 0.0, 1.0, math.nan, 0.0], device=device),
    )
    assert result.mask.device.type == device and result.weights.device.type == device
    assert result.weights.dtype == torch.float32
    assert result.stats is not None and result.stats.num_kept == int(result.mask.sum())
    loss = masked_loss(torch.ones(5, 17, device=device, dtype=dtype), valid.to(device), result.mask)
    assert loss.device.type == device


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5, math.nan, math.inf])
def test_ratio_outside_unit_interval_is_an_error(ratio: float) -> None:
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        entropy_mask(torch.rand(2, 3), torch.ones(2, 3), ratio)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_entropy_at_a_valid_position_is_an_error(bad: float) -> None:
    entropies = torch.rand(2, 3)
    entropies[1, 1] = bad
    with pytest.raises(BatchError, match=r"NaN|infinite"):
        entropy_mask(entropies, torch.ones(2, 3))


def test_shape_and_option_errors() -> None:
    with pytest.raises(BatchError, match="same shape"):
        entropy_mask(torch.rand(2, 3), torch.ones(2, 4))
    with pytest.raises(BatchError, match="B x T"):
        entropy_mask(torch.rand(6), torch.ones(6))
    with pytest.raises(BatchError, match="floating"):
        entropy_mask(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3))
    with pytest.raises(BatchError, match="torch tensors"):
        entropy_mask([[0.1, 0.2]], [[1, 1]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="select"):
        entropy_mask(torch.rand(2, 3), torch.ones(2, 3), select="top")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scope"):
        entropy_mask(torch.rand(2, 3), torch.ones(2, 3), scope="rank")  # type: ignore[arg-type]
    assert issubclass(BatchError, ValueError)


# --------------------------------------------------------------------------- TRL equality


def _trl_mask(entropies: torch.Tensor, valid: torch.Tensor, top_quantile: float) -> torch.Tensor:
    """TRL's own method, unbound, on a stand-in ``self`` that has a real single-process
    ``Accelerator`` (all the method reads from ``self``)."""
    from accelerate import Accelerator
    from trl import GRPOTrainer

    host = SimpleNamespace(accelerator=Accelerator(cpu=True))
    # GRPOTrainer._compute_loss passes threshold = 1 - top_entropy_quantile.
    return GRPOTrainer.get_high_entropy_mask(host, entropies, valid, 1 - top_quantile)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_quantile_select_equals_trl_get_high_entropy_mask(dtype: torch.dtype) -> None:
    checked = 0
    for seed in range(40):
        b, t = 1 + seed % 7, 1 + (seed * 5) % 23
        entropies, valid = _random_batch(seed, b=b, t=t, dtype=dtype)
        if seed % 3 == 0:  # ties
            entropies = (entropies * 2).round() / 2
        for ratio in (0.2, 0.05, 0.5, 0.9):
            expected = _trl_mask(entropies, valid.long(), ratio)
            for scope in ("batch", "global"):
                got = entropy_mask(entropies, valid, ratio, "quantile", scope)
                assert torch.equal(got, expected), (seed, ratio, scope)
            checked += int(valid.any())
    assert checked > 100


def test_quantile_helper_is_bit_equal_to_torch_quantile() -> None:
    g = torch.Generator().manual_seed(0)
    for n in (1, 2, 3, 10, 97, 1000, 4099):
        values = torch.rand(n, generator=g)
        qs = (0.0, 0.05, 0.2, 0.5, 0.8, 1 - 0.2, 0.95, 1.0)
        for q, got in zip(qs, _quantiles(values, qs)):
            assert torch.equal(got, torch.quantile(values, q))


# --------------------------------------------------------------------------- weights, loss


def test_weights_all_and_selected_normalisers() -> None:
    entropies, valid = _random_batch(21, b=5, t=11)
    loss = torch.randn(5, 11)
    mask = entropy_mask(entropies, valid, 0.25)
    assert torch.equal(entropy_weights(entropies, valid, 0.25), mask.float())
    selected = entropy_weights(entropies, valid, 0.25, normalizer="selected")
    # Weighted loss over the *valid* count equals the mean over the kept tokens.
    via_weights = (loss * selected * valid).sum() / valid.sum()
    assert torch.allclose(via_weights, loss[mask].mean())
    assert torch.allclose(via_weights, masked_loss(loss, valid, mask, "selected"))
    assert torch.allclose(masked_loss(loss, valid, mask, "all"), (loss * mask).sum() / valid.sum())


def test_sequence_selected_weights_are_per_row() -> None:
    entropies, valid = _random_batch(8, b=6, t=10)
    weights = entropy_weights(entropies, valid, 0.3, scope="sequence", normalizer="selected")
    for row in range(6):
        n = int(valid[row].sum())
        if n:
            assert math.isclose(float(weights[row].sum()), n, rel_tol=1e-6)
        else:
            assert not weights[row].any()


def test_masked_loss_of_an_empty_selection_is_zero_with_gradient() -> None:
    loss = torch.randn(2, 3, requires_grad=True)
    none = torch.zeros(2, 3, dtype=torch.bool)
    for normalizer in ("selected", "all"):
        out = masked_loss(loss, none, none, normalizer)  # type: ignore[arg-type]
        assert out.item() == 0.0 and out.requires_grad
    with pytest.raises(ValueError, match="normalizer"):
        masked_loss(loss, none, none, "tokens")  # type: ignore[arg-type]


def test_masked_loss_of_bf16_losses_counts_tokens_exactly() -> None:
    # 3000 valid tokens, 1001 kept, each with loss 1: a bf16 sum would round 3000 to 3008 and
    # 1001 to 1000.
    valid = torch.ones(3, 1000, dtype=torch.bool)
    kept = torch.zeros(3, 1000, dtype=torch.bool)
    kept.view(-1)[:1001] = True
    loss = torch.ones(3, 1000, dtype=torch.bfloat16, requires_grad=True)
    out = masked_loss(loss, valid, kept, "all")
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(1001 / 3000, rel=1e-6)
    assert masked_loss(loss, valid, kept, "selected").item() == 1.0
    out.backward()
    assert loss.grad is not None and loss.grad.dtype == torch.bfloat16


# --------------------------------------------------------------------------- component, config


def test_config_section_builds_the_component() -> None:
    config = parse_config(
        {"token_mask": {"type": "entropy_top_ratio", "ratio": 0.3, "scope": "sequence"}}
    )
    with RewardPipeline(config) as pipeline:
        component = pipeline.token_mask
        assert isinstance(component, EntropyTopRatioMask)
        entropies, valid = _random_batch(2)
        assert torch.equal(
            component.mask(entropies, valid), entropy_mask(entropies, valid, 0.3, scope="sequence")
        )
        assert "ratio=0.3" in repr(component)


@pytest.mark.parametrize(
    "fields",
    [{"ratio": 0}, {"ratio": 1.2}, {"select": "top"}, {"scope": "rank"}, {"normalizer": "x"},
     {"top_tokens": -1}, {"unknown": 1}],
)  # fmt: skip
def test_config_rejects_bad_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_config({"token_mask": {"type": "entropy_top_ratio", **fields}})


def test_importing_the_masks_plugin_does_not_import_torch() -> None:
    code = "import sys, rewardkit.masks; rewardkit.get_registry(); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", "import rewardkit\n" + code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
