"""pass_at_k_gain and logprob_rank: hand-computed groups, through the pipeline."""

from __future__ import annotations

import pytest

from rewardkit import BatchError, RewardPipeline, Rollout
from rewardkit.diagnostics import correct_logprob_rank, pass_at_k_gain


def test_gain_hand_computed() -> None:
    # n=4, c=1, k=2: pass@2 = 1 - C(3,2)/C(4,2) = 1/2, pass@1 = 1/4, gain 1/4.
    assert pass_at_k_gain(4, 1, 2) == pytest.approx(0.25)
    # n=4, c=2, k=2: pass@2 = 1 - 1/6 = 5/6, pass@1 = 1/2, gain 1/3.
    assert pass_at_k_gain(4, 2, 2) == pytest.approx(1 / 3)
    assert pass_at_k_gain(4, 0, 4) == 0.0
    assert pass_at_k_gain(4, 4, 2) == 0.0


def test_correct_rank_hand_computed() -> None:
    # Means -0.1, -0.5, -0.3, -0.9: ranks 3, 1, 2, 0 of G-1 = 3. Correct: the 1st and 4th.
    assert correct_logprob_rank([-0.1, -0.5, -0.3, -0.9], [True, False, False, True]) == 0.5
    assert correct_logprob_rank([-0.1, -0.5, -0.3, -0.9], [True, False, False, False]) == 1.0
    assert correct_logprob_rank([-0.1, -0.5, -0.3, -0.9], [False, False, False, True]) == 0.0
    # Unmixed groups say nothing (all correct would always give 0.5).
    assert correct_logprob_rank([-0.1, -0.5], [True, True]) is None
    assert correct_logprob_rank([-0.1, -0.5], [False, False]) is None


def _rollout(answer: str, group: str, lp: float | None) -> Rollout:
    return Rollout(
        "q",
        f"\\boxed{{{answer}}}",
        group=group,
        reference="7",
        completion_logprobs=None if lp is None else [lp, lp],
    )


CONFIG = {
    "rewards": [{"type": "exact", "name": "correct"}],
    "diagnostics": [
        {"type": "pass_at_k_gain", "answer_from": "correct", "k": [2, 4]},
        {"type": "logprob_rank", "answer_from": "correct"},
    ],
    "engine": {"workers": 1},
}


def test_through_the_pipeline() -> None:
    rollouts = [
        _rollout(a, "g", lp) for a, lp in zip(["7", "3", "4", "7"], [-0.1, -0.5, -0.3, -0.9])
    ]
    rollouts += [_rollout("7", "h", lp) for lp in (-0.2, -0.4, -0.6, -0.8)]  # all correct
    with RewardPipeline(CONFIG) as p:
        m = p.score(rollouts).metrics
    # Group g: c=2 -> gain@2 = 1/3, gain@4 = 1 - 1/2 = 1/2; group h: all solved, 0.
    assert m["rewardkit/pass_at_k_gain/gain@2"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["rewardkit/pass_at_k_gain/gain@4"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["rewardkit/pass_at_k_gain/frac_gain@2"] == 0.5
    assert m["rewardkit/logprob_rank/correct_rank"] == 0.5
    assert m["rewardkit/logprob_rank/frac_mixed_groups"] == 0.5


def test_logprob_rank_without_logprobs_is_a_clear_error() -> None:
    with RewardPipeline(CONFIG) as p, pytest.raises(BatchError, match="logprob_rank"):
        p.score([_rollout("7", "g", None), _rollout("3", "g", None)])
