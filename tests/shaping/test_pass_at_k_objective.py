"""pass_at_k_objective: hand-computed groups, the reference's arithmetic, PKPO, the pipeline."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import comb

from rewardkit import ConfigError, RewardPipeline, Rollout
from rewardkit._errors import BatchError
from rewardkit.shaping import PassAtKObjective, pass_at_k_advantages, pkpo_rewards

from .helpers import shaping_input


def reference_passk_adv(rewards: list[float], k: int) -> list[float]:
    """The arithmetic of ``calc_adv`` in RUCAIBox/Passk_Training code/passk_adv.py, replayed:
    scipy's float ``comb``, 1e-6 added to sigma, and its two ``np.where`` replacements (reward
    1 -> the positive advantage, then anything equal to 0 -> the negative one)."""
    val = np.array(rewards, dtype=float)
    c = len(np.where(val == 1)[0])
    n = len(val)
    rho = 1 - comb(n - c, k) / comb(n, k)
    sigma = np.sqrt(rho * (1 - rho))
    adv_p = (1 - rho) / (sigma + 1e-6)
    adv_n = (1 - rho - comb(n - c - 1, k - 1) / comb(n - 1, k - 1)) / (sigma + 1e-6)
    out = np.where(val == 1, adv_p, val)
    out = np.where(out == 0, adv_n, out)
    return [float(x) for x in out]


@pytest.mark.parametrize(
    ("correct", "k", "expected"),
    [
        # The issue's group: N=4, one correct, k=2: R = 1 - C(3,2)/C(4,2) = 1/2, sigma = 1/2,
        # A+ = (1/2)/(1/2) = 1, A- = (1/2 - C(2,1)/C(3,1))/(1/2) = (1/2 - 2/3)*2 = -1/3.
        ([True, False, False, False], 2, [1.0, -1 / 3, -1 / 3, -1 / 3]),
        # N=4, two correct, k=2: R = 1 - C(2,2)/C(4,2) = 5/6, sigma = sqrt(5/36) = sqrt(5)/6,
        # A+ = (1/6)/(sqrt(5)/6) = 1/sqrt(5); A- = (1/6 - C(1,1)/C(3,1))/(sqrt(5)/6) = -1/sqrt(5).
        ([False, True, True, False], 2, [-1 / 5**0.5, 1 / 5**0.5, 1 / 5**0.5, -1 / 5**0.5]),
        # k=1: R = c/N = 1/4, sigma = sqrt(3)/4 (the population std), A+ = (3/4)/sigma = sqrt(3),
        # A- = (3/4 - 1)/sigma = -1/sqrt(3). GRPO's sample std gives 3/2 and -1/2 instead.
        ([True, False, False, False], 1, [3**0.5, -(3**-0.5), -(3**-0.5), -(3**-0.5)]),
        # sigma = 0: nothing solved, everything solved, or (k=3, one wrong) R = 1.
        ([False, False, False, False], 2, [0.0] * 4),
        ([True, True, True, True], 2, [0.0] * 4),
        ([True, True, True, False], 2, [0.0] * 4),
    ],
)
def test_hand_computed_groups(correct: list[bool], k: int, expected: list[float]) -> None:
    assert pass_at_k_advantages(correct, k) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=16),
    st.integers(min_value=1, max_value=16),
)
def test_matches_the_reference_arithmetic_with_its_epsilon(correct: list[bool], k: int) -> None:
    k = min(k, len(correct))
    ours = pass_at_k_advantages(correct, k, epsilon=1e-6)
    ref = reference_passk_adv([1.0 if c else 0.0 for c in correct], k)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-9)
    # With epsilon 0 the advantages of a group sum to 0 (the reference's 1e-6 only rescales).
    assert math.fsum(pass_at_k_advantages(correct, k)) == pytest.approx(0.0, abs=1e-9)


def test_epsilon_is_the_only_difference_from_the_reference() -> None:
    correct = [True, False, False, False]
    exact = pass_at_k_advantages(correct, 2)
    ref = reference_passk_adv([1.0, 0.0, 0.0, 0.0], 2)
    # sigma = 1/2, so the reference's values are ours times 0.5/(0.5 + 1e-6).
    assert ref == pytest.approx([v * 0.5 / (0.5 + 1e-6) for v in exact], rel=1e-12)
    assert ref[0] != exact[0]


def _subset_pkpo(correct: list[bool], k: int) -> list[float]:
    """PKPO's per-sample reward from its definition: average over all size-k subsets of the
    subset's pass (max of the binary rewards) for the subsets containing the sample."""
    n = len(correct)
    total = [0.0] * n
    subsets = list(itertools.combinations(range(n), k))
    for s in subsets:
        passed = float(any(correct[i] for i in s))
        for i in s:
            total[i] += passed
    return [t / len(subsets) for t in total]


@pytest.mark.parametrize(
    ("correct", "k"),
    [
        ([True, False, False, False], 2),
        ([True, True, False, False, False], 3),
        ([False, False, False], 2),
        ([True, True, True], 2),
        ([True, False, True, False, False, False], 1),
        ([False, True, False, False, False, False, False, True], 4),
    ],
)
def test_pkpo_rewards_equal_the_subset_average(correct: list[bool], k: int) -> None:
    assert pkpo_rewards(correct, k) == pytest.approx(_subset_pkpo(correct, k), abs=1e-12)


def test_pkpo_hand_computed() -> None:
    # n=4, c=1, k=2: correct k/n = 1/2; incorrect (k/n) * rho(3, 1, 1) = 1/2 * (1 - C(2,1)/C(3,1))
    # = 1/2 * 1/3 = 1/6.
    assert pkpo_rewards([True, False, False, False], 2) == pytest.approx([0.5, 1 / 6, 1 / 6, 1 / 6])


def test_analytic_is_pkpo_centred_and_scaled() -> None:
    # Chen et al.'s A_i = ((n/k) r_i - R) / sigma with r_i PKPO's reward: the same signal.
    correct = [True, False, True, False, False, False]
    n, k = len(correct), 3
    rbar = 1 - math.comb(4, 3) / math.comb(6, 3)
    sigma = math.sqrt(rbar * (1 - rbar))
    expected = [((n / k) * r - rbar) / sigma for r in pkpo_rewards(correct, k)]
    assert pass_at_k_advantages(correct, k) == pytest.approx(expected)


def test_group_smaller_than_k_is_a_batch_error() -> None:
    with pytest.raises(BatchError, match="k=5"):
        pass_at_k_advantages([True, False], 5)


def test_term_replaces_the_total_per_group() -> None:
    term = PassAtKObjective(PassAtKObjective.Config(k=2, answer_from="m"))
    data = shaping_input(
        [["1", "2", "3", "4"], ["5", "5", "6", "7"]],
        correct=[[True, False, False, False], [True, True, False, False]],
        totals=[1.0, 0.0, 0.0, 0.0, 1.5, 1.5, 0.2, 0.0],
    )
    values = term.shape(data)
    totals = [t + v for t, v in zip(data.totals, values)]
    r5 = 5**-0.5
    assert totals == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3, r5, r5, -r5, -r5])
    added = PassAtKObjective(PassAtKObjective.Config(k=2, answer_from="m", replace=False))
    assert added.shape(data) == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3, r5, r5, -r5, -r5])


def _rollouts(answers: list[str], group: str = "g") -> list[Rollout]:
    return [Rollout("q", f"\\boxed{{{a}}}", group=group, reference="7") for a in answers]


def test_issue_example_through_the_pipeline() -> None:
    cfg = {
        "rewards": [{"type": "exact", "name": "correct"}],
        "shaping": [{"type": "pass_at_k_objective", "k": 2, "answer_from": "correct"}],
        "engine": {"workers": 1},
    }
    with RewardPipeline(cfg) as p:
        scored = p.score(_rollouts(["7", "3", "4", "5"]) + _rollouts(["7", "7", "7", "1"], "h"))
    # Group h: N_neg = 1 < k, so R = 1, sigma = 0 and every rollout gets 0.
    assert scored.rewards == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0, 0.0])


def test_pkpo_estimator_through_the_pipeline() -> None:
    cfg = {
        "rewards": [{"type": "exact", "name": "correct"}],
        "shaping": [
            {"type": "pass_at_k_objective", "k": 2, "answer_from": "correct", "estimator": "pkpo"}
        ],
        "engine": {"workers": 1},
    }
    with RewardPipeline(cfg) as p:
        scored = p.score(_rollouts(["7", "3", "4", "5"]))
    assert scored.rewards == pytest.approx([0.5, 1 / 6, 1 / 6, 1 / 6])


def test_combine_multiply_is_refused() -> None:
    cfg = {
        "rewards": [{"type": "exact", "name": "correct"}],
        "shaping": [{"type": "pass_at_k_objective", "k": 2, "combine": "multiply"}],
    }
    with pytest.raises(ConfigError, match="combine: add"):
        RewardPipeline(cfg)


def test_k_is_required_and_positive() -> None:
    with pytest.raises(ConfigError, match="k"):
        RewardPipeline({"shaping": [{"type": "pass_at_k_objective"}]})
    with pytest.raises(ConfigError, match="k"):
        RewardPipeline({"shaping": [{"type": "pass_at_k_objective", "k": 0}]})


def test_k1_is_grpo_with_the_population_std() -> None:
    # The `k` field and docs say: k = 1 gives (r - mean)/population std, i.e. GRPO's advantage
    # (sample std, as TRL and verl compute it) times sqrt(N/(N-1)).
    correct = [True, False, True, False, False]
    r = np.array([1.0 if c else 0.0 for c in correct])
    n = len(r)
    assert pass_at_k_advantages(correct, 1) == pytest.approx(list((r - r.mean()) / r.std()))
    grpo = (r - r.mean()) / r.std(ddof=1)
    assert pass_at_k_advantages(correct, 1) == pytest.approx(list(grpo * math.sqrt(n / (n - 1))))
