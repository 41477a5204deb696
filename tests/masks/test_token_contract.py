"""The token-component contract: ``apply_tokens`` -> ``run_token_term`` -> ``policy_weights``,
the same for a built-in and any other component (hand-computed tensors)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from rewardkit import BatchError, ConfigError, TokenMaskComponent
from rewardkit.masks import (
    EntropyTopRatioConfig,
    EntropyTopRatioMask,
    TokenInputs,
    TokenOutput,
    by_stage,
    policy_weights,
    run_token_term,
)

H = torch.tensor([[0.1, 2.0, 3.0, 0.0], [1.5, 0.2, 0.0, 0.0]])
VALID = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)


class Above(TokenMaskComponent):
    """A mask-only component: entropy above 1."""

    type: ClassVar[str] = "above_one"

    def mask(self, entropies: Any, valid_mask: Any) -> Any:
        return entropies > 1.0  # also True on padding: the contract clears it


class Soft(TokenMaskComponent):
    type: ClassVar[str] = "soft"

    def weights(self, entropies: Any, valid_mask: Any) -> Any:
        return entropies / 4.0


class Selected(Above):
    type: ClassVar[str] = "above_one_selected"

    @property
    def normalizer(self) -> Any:
        return "selected"


class WrongShape(TokenMaskComponent):
    type: ClassVar[str] = "wrong_shape"

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        return TokenOutput(mask=torch.ones(3, dtype=torch.bool))


class NoApply(TokenMaskComponent):
    type: ClassVar[str] = "no_apply"
    token_stage: ClassVar[Any] = "advantage"


def test_a_mask_only_component_gets_weights_and_statistics() -> None:
    out = run_token_term(Above(), TokenInputs(H, VALID))
    kept = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(out.mask, kept)  # padding cleared
    assert torch.equal(out.weights, kept.float())
    assert not out.soft
    assert out.stats.num_tokens == 5 and out.stats.num_kept == 3
    assert policy_weights(out, VALID, as_bool=True) is out.mask


def test_selected_rescales_a_hard_mask_per_row_or_batch() -> None:
    out = run_token_term(Selected(), TokenInputs(H, VALID, stats=False))
    assert out.stats is None
    # The component's own scope (the micro-batch): 5 valid / 3 kept.
    assert torch.allclose(out.weights, out.mask.float() * 5 / 3)
    row = policy_weights(out, VALID, per="row")
    assert torch.allclose(row, torch.tensor([[0, 1.5, 1.5, 0], [2.0, 0, 0, 0]]))
    batch = policy_weights(out, VALID, per="batch")
    assert torch.allclose(batch, out.mask.float() * 5 / 3)


def test_soft_weights_are_used_as_given() -> None:
    out = run_token_term(Soft(), TokenInputs(H, VALID))
    assert out.soft
    assert torch.equal(out.mask, (H > 0) & VALID)
    assert torch.equal(policy_weights(out, VALID, per="row"), H / 4.0)


def test_the_built_in_mask_goes_through_the_same_contract() -> None:
    component = EntropyTopRatioMask(EntropyTopRatioConfig(ratio=0.4, normalizer="selected"))
    out = run_token_term(component, TokenInputs(H, VALID))
    direct = component.apply(H, VALID)
    assert torch.equal(out.mask, direct.mask) and torch.equal(out.weights, direct.weights)
    assert out.normalizer == "selected" and out.stats.num_kept == direct.stats.num_kept


def test_contract_failures_name_the_component() -> None:
    with pytest.raises(BatchError, match=r"'wrong_shape'.*shape \(3,\)"):
        run_token_term(WrongShape(), TokenInputs(H, VALID))
    with pytest.raises(NotImplementedError, match="no_apply"):
        run_token_term(NoApply(), TokenInputs(H, VALID))


def test_stages_order_and_unknown_stage() -> None:
    from rewardkit.masks import EntropyAdvantageTerm, TokenEntropyTerm

    ordered = by_stage([TokenEntropyTerm(), EntropyAdvantageTerm(), Above()])
    assert [t.token_stage for t in ordered] == ["mask", "advantage", "diagnostic"]

    class Odd(Above):
        type: ClassVar[str] = "odd"
        token_stage: ClassVar[Any] = "somewhere"

    with pytest.raises(ConfigError, match="somewhere"):
        by_stage([Odd()])


def test_entropy_advantage_through_the_contract_matches_the_function() -> None:
    from rewardkit.masks import EntropyAdvantageTerm, entropy_advantage

    adv = torch.tensor([1.0, -0.5])
    out = run_token_term(EntropyAdvantageTerm(), TokenInputs(H, VALID, advantages=adv))
    expected = entropy_advantage(adv, H, valid=VALID)
    assert torch.equal(out.advantages, expected)
    assert float(out.sums["bonus_mean"]) == pytest.approx(
        float(((expected - adv[:, None]) * VALID).sum())
    )
