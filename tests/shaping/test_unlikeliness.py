"""unlikeliness: hand-computed groups, the reference's rank arithmetic, the pipeline."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardkit import Batch, BatchError, ConfigError, RewardPipeline, Rollout, ShapingInput
from rewardkit.shaping import Unlikeliness, logprob_ranks, unlikeliness_factors


def reference_scores(scores: list[float], mean_logps: list[float], beta: float) -> list[float]:
    """The rank penalty of ``RayLeanTrainer._compute_advantages`` (rewarding-unlikely-release),
    replayed before its group normalisation: ranks = argsort(argsort(mean log-prob)) over the
    whole group, divided by the group size (in float32, as there), scores * (1 - ranks *
    rank_penalty). torch's sort is asked to be stable: its default sort orders ties that way on
    CPU only for groups of at most 16 (torch 2.13), and rewardkit's ranks are the stable ones."""
    lp = torch.tensor(mean_logps, dtype=torch.float64)
    ranks = torch.argsort(torch.argsort(lp, stable=True), stable=True)
    ranks = ranks / len(mean_logps)
    return (torch.tensor(scores, dtype=torch.float64) * (1 - ranks * beta)).tolist()


def test_issue_example() -> None:
    # Ranks of [-0.1, -0.5, -0.3, -0.9] ascending: 3, 1, 2, 0; 1 - 0.5 * rank / 4.
    assert unlikeliness_factors([-0.1, -0.5, -0.3, -0.9], 0.5) == [0.625, 0.875, 0.75, 1.0]


def test_ties_keep_batch_order() -> None:
    assert logprob_ranks([-0.2, -0.2, -0.5, -0.2]) == [1, 2, 0, 3]
    # Same as the reference's argsort(argsort(.)) with a stable sort.
    ref = torch.argsort(torch.argsort(torch.tensor([-0.2, -0.2, -0.5, -0.2]), stable=True))
    assert logprob_ranks([-0.2, -0.2, -0.5, -0.2]) == ref.tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([-2.0, -1.0, -0.5, -0.25, -0.1])),
        min_size=1,
        max_size=40,  # past 16, where torch's default CPU sort stops keeping ties in order
    ),
    st.sampled_from([0.0, 0.25, 0.5, 1.0]),
)
def test_matches_the_reference_on_groups_with_ties(
    rows: list[tuple[float, float]], beta: float
) -> None:
    scores = [s for s, _ in rows]
    lps = [lp for _, lp in rows]
    ours = [s * f for s, f in zip(scores, unlikeliness_factors(lps, beta))]
    # rewardkit computes in float64, the reference's rank division in float32.
    assert ours == pytest.approx(reference_scores(scores, lps, beta), abs=1e-6)


def _rollout(group: str, lps: list[float], answer: str = "7") -> Rollout:
    return Rollout("q", f"\\boxed{{{answer}}}", group=group, reference="7", completion_logprobs=lps)


def test_ranks_use_every_rollout_of_the_group_not_only_correct_ones() -> None:
    # Group: correct (-0.1), incorrect (-0.9), correct (-0.5). The incorrect rollout is the least
    # likely (rank 0), so the correct ones rank 2 and 1 among all three, as in the reference.
    batch = Batch([_rollout("g", [-0.1]), _rollout("g", [-0.9], "3"), _rollout("g", [-0.5])])
    term = Unlikeliness(Unlikeliness.Config(beta=0.5))
    values = term.shape(ShapingInput(batch, (1.0, 0.0, 1.0), {}))
    assert values == pytest.approx([1 - 0.5 * 2 / 3, 1.0, 1 - 0.5 * 1 / 3])


def test_mean_is_over_tokens_and_groups_are_separate() -> None:
    batch = Batch(
        [
            _rollout("a", [-0.1, -0.3]),  # mean -0.2
            _rollout("a", [-1.0, 0.0, -0.2]),  # mean -0.4
            _rollout("b", [-5.0]),
            _rollout("b", []),  # no tokens: mean 0.0, as the reference's masked_mean
        ]
    )
    term = Unlikeliness(Unlikeliness.Config(beta=0.5))
    assert term.shape(ShapingInput(batch, (1.0,) * 4, {})) == pytest.approx([0.75, 1.0, 1.0, 0.75])


def test_issue_example_through_the_pipeline() -> None:
    cfg = {
        "rewards": [{"type": "exact", "name": "correct"}],
        "shaping": [{"type": "unlikeliness", "beta": 0.5}],
        "engine": {"workers": 1},
    }
    rollouts = [_rollout("g", [lp]) for lp in (-0.1, -0.5, -0.3, -0.9)]
    with RewardPipeline(cfg) as p:
        scored = p.score(rollouts)
    assert scored.rewards == pytest.approx([0.625, 0.875, 0.75, 1.0])
    assert p.config.shaping[0].combine == "multiply"


def test_missing_logprobs_is_a_clear_error() -> None:
    cfg = {"rewards": [{"type": "exact"}], "shaping": [{"type": "unlikeliness"}]}
    with RewardPipeline(cfg) as p, pytest.raises(BatchError) as info:
        p.score([_rollout("g", [-0.1]), Rollout("q", "\\boxed{7}", group="g", reference="7")])
    msg = str(info.value)
    assert "rollout 1 has none" in msg
    assert "--logprobs-key" in msg and "RewardKitGRPOTrainer" in msg and "trainer_mode" in msg


def test_combine_add_is_refused_and_beta_bounded() -> None:
    with pytest.raises(ConfigError, match="combine: multiply"):
        RewardPipeline({"shaping": [{"type": "unlikeliness", "combine": "add"}]})
    with pytest.raises(ConfigError, match="beta"):
        RewardPipeline({"shaping": [{"type": "unlikeliness", "beta": 1.5}]})


def test_rollout_logprobs_are_validated() -> None:
    r = Rollout("q", "c", completion_logprobs=[-1, -0.5])
    assert r.completion_logprobs == (-1.0, -0.5)
    assert r.mean_logprob == pytest.approx(-0.75)
    assert Rollout("q", "c").mean_logprob is None
    assert Rollout("q", "c", completion_logprobs=torch.tensor([-0.5, -1.5])).mean_logprob == -1.0
    for bad in ([-0.1, math.nan], [-math.inf], ["x"], "abc", 3.0, [True]):
        with pytest.raises(BatchError, match="completion_logprobs"):
            Rollout("q", "c", completion_logprobs=bad)  # type: ignore[arg-type]
    with pytest.raises(BatchError, match="length mismatch"):
        Batch.from_columns(["q", "q"], ["a", "b"], completion_logprobs=[[-0.1]])
    b = Batch.from_columns(["q", "q"], ["a", "b"], completion_logprobs=[[-0.1], None])
    assert b[0].completion_logprobs == (-0.1,) and b[1].completion_logprobs is None
