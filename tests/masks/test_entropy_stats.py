"""Token-entropy diagnostics and the component's one-pass ``apply``."""

from __future__ import annotations

import math

import pytest
import torch

from rewardkit import BatchError
from rewardkit.masks import (
    EntropyTopRatioConfig,
    EntropyTopRatioMask,
    decode_token_counts,
    entropy_mask,
    format_forking_tokens,
    token_entropy_stats,
)


class WordTokenizer:
    """The one method the statistics use from a tokenizer: ``decode(list_of_ids)``."""

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    entropies = torch.tensor(
        [
            [0.0, 2.0, 0.1, 1.5, 0.0],
            [3.0, 0.0, 0.2, 9.0, 9.0],
            [0.0, 2.5, 0.0, 0.0, 0.0],
        ]
    )
    valid = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    token_ids = torch.tensor([[0, 1, 0, 2, 0], [1, 0, 0, 3, 3], [0, 1, 0, 0, 0]])
    return entropies, valid, token_ids


def test_basic_statistics_match_torch() -> None:
    entropies, valid, _ = _batch()
    stats = token_entropy_stats(entropies, valid)
    values = entropies[valid]
    assert stats.num_tokens == 12 and stats.num_kept == 0
    assert math.isclose(stats.mean, float(values.mean()), rel_tol=1e-6)
    for q, got in ((0.5, stats.p50), (0.8, stats.p80), (0.95, stats.p95)):
        assert got == float(torch.quantile(values, q))
    # Without a mask the threshold defaults to the 80th percentile.
    assert stats.threshold == stats.p80
    assert stats.share_over_threshold == float((values >= stats.p80).float().mean())
    assert stats.mean_correct is None and stats.mean_incorrect is None


def test_kept_tokens_threshold_share_and_forking_words() -> None:
    entropies, valid, token_ids = _batch()
    kept = entropy_mask(entropies, valid, 0.25)  # k = 3 of 12: 3.0, 2.5, 2.0
    stats = token_entropy_stats(entropies, valid, kept_mask=kept, token_ids=token_ids)
    assert stats.num_kept == 3 and math.isclose(stats.kept_share, 0.25)
    assert stats.threshold == 2.0
    assert stats.share_over_threshold == 0.25
    # Kept tokens: id 1 (2.0), id 1 (3.0), id 1 (2.5) -> "wait" three times.
    assert stats.kept_token_counts == ((1, 3),)
    tokenizer = WordTokenizer(["the", "wait", "so", "but"])
    assert stats.forking_tokens(tokenizer) == [("wait", 3)]
    assert format_forking_tokens(stats.forking_tokens(tokenizer)) == "'wait':3"
    # A fixed threshold overrides the mask's.
    fixed = token_entropy_stats(entropies, valid, kept_mask=kept, threshold=0.15)
    assert fixed.threshold == 0.15 and math.isclose(
        fixed.share_over_threshold, 5 / 12, rel_tol=1e-6
    )


def test_correct_versus_incorrect_means() -> None:
    entropies, valid, _ = _batch()
    stats = token_entropy_stats(entropies, valid, correct=[True, False, None])
    assert math.isclose(stats.mean_correct or 0, float(entropies[0].mean()), rel_tol=1e-6)
    assert math.isclose(stats.mean_incorrect or 0, float(entropies[1, :3].mean()), rel_tol=1e-6)
    as_tensor = token_entropy_stats(entropies, valid, correct=torch.tensor([1.0, 0.0, math.nan]))
    assert as_tensor.mean_correct == stats.mean_correct
    metrics = stats.metrics("rk/")
    assert {"rk/entropy_correct", "rk/entropy_incorrect", "rk/entropy_p95"} <= set(metrics)
    with pytest.raises(BatchError, match="3 rows"):
        token_entropy_stats(entropies, valid, correct=[True])


def test_empty_batch_statistics_are_nan_not_errors() -> None:
    stats = token_entropy_stats(torch.rand(2, 3), torch.zeros(2, 3))
    assert stats.num_tokens == 0 and math.isnan(stats.mean) and math.isnan(stats.kept_share)


def test_decode_keeps_undecodable_ids() -> None:
    tokenizer = WordTokenizer(["a"])
    assert decode_token_counts([(0, 2), (7, 1), (-1, 1)], tokenizer) == [
        ("a", 2),
        ("<7>", 1),
        ("<unknown>", 1),
    ]


@pytest.mark.parametrize("scope", ["batch", "sequence", "global"])
@pytest.mark.parametrize("select", ["topk", "quantile"])
def test_component_apply_agrees_with_the_functions(scope: str, select: str) -> None:
    g = torch.Generator().manual_seed(4)
    entropies = torch.rand(6, 13, generator=g)
    valid = torch.rand(6, 13, generator=g) > 0.3
    token_ids = torch.randint(0, 50, (6, 13), generator=g)
    for normalizer in ("all", "selected"):
        component = EntropyTopRatioMask(
            EntropyTopRatioConfig(ratio=0.3, select=select, scope=scope, normalizer=normalizer)
        )
        result = component.apply(entropies, valid, token_ids=token_ids, correct=[1, 0] * 3)
        assert torch.equal(result.mask, entropy_mask(entropies, valid, 0.3, select, scope))
        assert torch.equal(result.weights, component.weights(entropies, valid))
        expected = token_entropy_stats(
            entropies, valid, kept_mask=result.mask, token_ids=token_ids, correct=[1, 0] * 3
        )
        assert result.stats == expected
        if normalizer == "all":
            assert torch.equal(result.weights, result.mask.float())
        assert "kept=" in repr(result)
