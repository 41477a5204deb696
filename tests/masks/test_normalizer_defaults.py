"""Every entry point that takes a loss normaliser defaults to the config's ``all``."""

from __future__ import annotations

import torch

from rewardkit.masks import EntropyTopRatioMask, entropy_mask, entropy_weights, masked_loss


def test_masked_loss_defaults_to_the_config_normalizer() -> None:
    g = torch.Generator().manual_seed(0)
    entropies = torch.rand(3, 8, generator=g)
    loss = torch.rand(3, 8, generator=g)
    valid = torch.ones(3, 8, dtype=torch.bool)
    valid[1, 5:] = False
    default = EntropyTopRatioMask.Config().normalizer
    mask = entropy_mask(entropies, valid, 0.25)
    assert torch.allclose(masked_loss(loss, valid, mask), masked_loss(loss, valid, mask, default))
    # ... and agrees with weighting by entropy_weights' default, then dividing by N_valid.
    weighted = (loss * entropy_weights(entropies, valid, 0.25)).sum() / valid.sum()
    assert torch.allclose(masked_loss(loss, valid, mask), weighted)
