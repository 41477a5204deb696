"""semantic_diversity replays DARLING's reference arithmetic on hand-built groups.

The ``ref_*`` functions below restate, in a few lines each, what facebookresearch/darling
computes: ``partition`` and ``partition_correct`` (verl/utils/reward_score/
partition_reward_vllm_serve.py), the ``add_bias`` branch of the multiplicative combination
(verl/trainer/ppo/ray_trainer.py, applied to sequence rewards) and ``maybe_test_equality``.
Each case checks rewardkit against them *and* against numbers worked out by hand, through
``RewardPipeline`` and through ``rewardkit score``, with the term's default options unless the
case is about an option.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rewardkit import RewardPipeline, Rollout
from rewardkit.cli import cli
from rewardkit.judges import ClassifierJudge, EmbeddingJudge, short_text_equivalent

# --------------------------------------------------------------------------- the reference


def _classes(labels: Sequence[Any]) -> list[list[int]]:
    out: dict[Any, list[int]] = {}
    for i, lab in enumerate(labels):
        out.setdefault(lab, []).append(i)
    return list(out.values())


def ref_partition(labels: Sequence[Any]) -> list[float]:
    """DARLING ``partition``: (n - |class|)/(n - 1) for every member, then max(., 0.1)."""
    n = len(labels)
    rewards = [0.0] * n
    for grp in _classes(labels):
        for i in grp:
            rewards[i] = (n - len(grp)) / (n - 1)
    return [max(r, 0.1) for r in rewards]


def ref_partition_correct(labels: Sequence[Any], correct: Sequence[bool]) -> list[float]:
    """DARLING ``partition_correct``: with <= 1 correct rollout the whole group gets 0.1; else a
    correct rollout gets (n_c - |its class among the correct|)/(n_c - 1), a wrong one 0.1."""
    n_c = sum(correct)
    if n_c <= 1:
        return [0.1] * len(labels)
    rewards = [0.1] * len(labels)
    for grp in _classes(
        [lab if ok else ("wrong", i) for i, (lab, ok) in enumerate(zip(labels, correct))]
    ):
        k = sum(correct[i] for i in grp)
        for i in grp:
            if correct[i]:
                rewards[i] = (n_c - k) / (n_c - 1)
    return [max(r, 0.1) for r in rewards]


def ref_add_bias_product(q: Sequence[float], div: Sequence[float]) -> list[float]:
    """``add_bias`` then the product: (q - min over the group of q) x Div."""
    low = min(q)
    return [(qi - low) * d for qi, d in zip(q, div)]


def ref_short_text(r0: str, r1: str) -> bool | None:
    """``maybe_test_equality``: strip, lowercase, split; decide only when both have <= 5 words."""
    u0, u1 = r0.strip().lower().split(), r1.strip().lower().split()
    longest = max(len(u0), len(u1))
    if longest <= 5:
        return len(set(u0) & set(u1)) * 2 >= longest
    return None


# --------------------------------------------------------------------------- hand-built groups

# Two numeric rewards on reference 100: `strict` (exact) and `loose` (|a - 100| <= 10). With
# weights 0.5 / 0.5, answer 100 has q = 1 and answers 101..110 have q = 0.5.
STRICT = {"name": "strict", "type": "numeric"}
LOOSE = {"name": "loose", "type": "numeric", "abs_tol": 10.0}


def _config(rewards: list[dict[str, Any]], **darling: Any) -> dict[str, Any]:
    term = {"type": "semantic_diversity", "judge": "answer", **darling}
    return {"rewards": rewards, "shaping": [term]}


def _rollouts(groups: Sequence[Sequence[str]]) -> list[Rollout]:
    return [
        Rollout(f"Q{g}", f"so the answer is \\boxed{{{a}}}", reference="100", group=f"g{g}")
        for g, answers in enumerate(groups)
        for a in answers
    ]


def _score(cfg: dict[str, Any], groups: Sequence[Sequence[str]]) -> list[float]:
    with RewardPipeline(cfg) as p:
        return p.score(_rollouts(groups)).rewards


def _score_cli(tmp_path: Path, cfg: dict[str, Any], groups: Sequence[Sequence[str]]) -> list[float]:
    """The same rollouts through `rewardkit score`, rewards in input order."""
    cfg_path = tmp_path / "rk.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    src = tmp_path / "in.jsonl"
    rows = [
        {"prompt": r.prompt, "completion": r.completion, "reference": r.reference, "pid": r.group}
        for r in _rollouts(groups)
    ]
    src.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(
        cli, ["score", str(cfg_path), str(src), "-o", str(out), "--group-key", "pid"]
    )
    assert res.exit_code == 0, res.output
    return [json.loads(line)["reward"] for line in out.read_text().splitlines()]


def _both(tmp_path: Path, cfg: dict[str, Any], groups: Sequence[Sequence[str]]) -> list[float]:
    via_pipeline = _score(cfg, groups)
    assert _score_cli(tmp_path, cfg, groups) == pytest.approx(via_pipeline)
    return via_pipeline


def test_issue_case_group_min_is_add_bias(tmp_path: Path) -> None:
    # q = [1, .5, .5, .5], four distinct answers (Div = 1 each): DARLING's add_bias subtracts the
    # group minimum 0.5 whatever its sign -> [0.5, 0, 0, 0].
    rewards = [{**STRICT, "weight": 0.5}, {**LOOSE, "weight": 0.5}]
    groups = [["100", "101", "102", "103"]]
    q, div = [1.0, 0.5, 0.5, 0.5], ref_partition(groups[0])
    assert div == [1.0] * 4
    cfg = _config(rewards, answer_from="strict", quality_shift="group_min", combine="add")
    got = _both(tmp_path, cfg, groups)
    assert got == pytest.approx(ref_add_bias_product(q, div))
    assert got == pytest.approx([0.5, 0.0, 0.0, 0.0])
    # rewardkit's variant shifts only by a negative minimum: nothing to shift here.
    cfg = _config(
        rewards, answer_from="strict", quality_shift="group_min_if_negative", combine="add"
    )
    assert _both(tmp_path, cfg, groups) == pytest.approx([1.0, 0.5, 0.5, 0.5])


def test_group_min_per_group_with_signed_rewards(tmp_path: Path) -> None:
    # strict - 0.5 x loose: 100 -> 0.5, 105 -> -0.5, 500 -> 0. Group 0: 100,100,105,500 (Div
    # 2/3, 2/3, 1, 1); group 1: 105,105,105 (Div floored to 0.1, every q = -0.5).
    rewards = [STRICT, {**LOOSE, "weight": -0.5}]
    groups = [["100", "100", "105", "500"], ["105", "105", "105"]]
    cfg = _config(rewards, answer_from="strict", quality_shift="group_min", combine="add")
    got = _both(tmp_path, cfg, groups)
    q0, q1 = [0.5, 0.5, -0.5, 0.0], [-0.5] * 3
    expected = ref_add_bias_product(q0, ref_partition(groups[0])) + ref_add_bias_product(
        q1, ref_partition(groups[1])
    )
    assert got == pytest.approx(expected)
    assert got == pytest.approx([2 / 3, 2 / 3, 0.0, 0.5, 0.0, 0.0, 0.0])
    # The variant: group 0 shifts by -0.5 as well; group 1 too. Differs where min q > 0 only,
    # so here the two agree.
    cfg["shaping"][0]["quality_shift"] = "group_min_if_negative"
    assert _both(tmp_path, cfg, groups) == pytest.approx(expected)


def test_partition_all_is_darling_partition_with_default_options(tmp_path: Path) -> None:
    # Default options (combine multiply, floor 0.1, partition all, union-find): r = q x Div.
    groups = [["100", "100", "100", "101", "102"], ["100", "100", "100", "100"], ["103", "100"]]
    cfg = _config([STRICT], answer_from="strict")
    got = _both(tmp_path, cfg, groups)
    q = [1.0 if a == "100" else 0.0 for g in groups for a in g]
    div = [d for g in groups for d in ref_partition(g)]
    assert got == pytest.approx([qi * d for qi, d in zip(q, div)])
    # By hand: (5-3)/4 = 0.5 for the three 100s; all-equal group floored at 0.1; pair: 1 each.
    assert got == pytest.approx([0.5, 0.5, 0.5, 0, 0, 0.1, 0.1, 0.1, 0.1, 0, 1])


@pytest.mark.parametrize(
    ("answers", "by_hand"),
    [
        # one correct rollout: DARLING gives every rollout of the group the floor
        (["100", "120", "130", "140"], [0.1, 0.0, 0.0, 0.0]),
        # none correct: the floor throughout (and q = 0)
        (["120", "130", "140", "150"], [0.0, 0.0, 0.0, 0.0]),
        # four correct (loose): classes {100}, {101, 101}, {105} among them; 500 is wrong
        (["100", "101", "101", "500", "105"], [1.0, 2 / 3, 2 / 3, 0.0, 1.0]),
        # two correct, same class: (2 - 2)/1 = 0, floored
        (["101", "101", "300"], [0.1, 0.1, 0.0]),
    ],
)
def test_partition_correct_is_darling_partition_correct(
    tmp_path: Path, answers: list[str], by_hand: list[float]
) -> None:
    cfg = _config([LOOSE], answer_from="loose", partition="correct")
    got = _both(tmp_path, cfg, [answers])
    correct = [abs(float(a) - 100) <= 10 for a in answers]
    q = [float(c) for c in correct]
    div = ref_partition_correct(answers, correct)
    assert got == pytest.approx([qi * d for qi, d in zip(q, div)])
    assert got == pytest.approx(by_hand)


def test_partition_correct_floor_reaches_a_lone_correct_rollout_with_add() -> None:
    # With combine: add the Div values show directly: DARLING's 0.1 for the lone correct one.
    cfg = _config([LOOSE], answer_from="loose", partition="correct", combine="add")
    with RewardPipeline(cfg) as p:
        comps = p.score(_rollouts([["100", "120", "130"]])).components["semantic_diversity"]
    assert comps == pytest.approx(
        ref_partition_correct(["100", "120", "130"], [True, False, False])
    )
    assert comps == pytest.approx([0.1, 0.1, 0.1])


def test_correct_lone_full_is_rewardkits_variant(tmp_path: Path) -> None:
    cfg = _config([LOOSE], answer_from="loose", partition="correct_lone_full")
    # A lone correct rollout gets Div 1 (DARLING: 0.1); with two or more it equals `correct`.
    assert _both(tmp_path, cfg, [["100", "120", "130", "140"]]) == pytest.approx([1.0, 0, 0, 0])
    assert _both(tmp_path, cfg, [["100", "101", "101", "500", "105"]]) == pytest.approx(
        [1.0, 2 / 3, 2 / 3, 0.0, 1.0]
    )


def test_fully_default_term_with_the_embedding_judge(tmp_path: Path) -> None:
    # `- type: semantic_diversity` and nothing else: MiniLM embeddings, cosine >= 0.8. The two
    # identical texts are one class (cosine 1); the others are far apart (cosines <= 0.51).
    texts = [
        "Add the two numbers: 40 + 60 = 100, so the answer is \\boxed{100}",
        "Add the two numbers: 40 + 60 = 100, so the answer is \\boxed{100}",
        "Ten rows of ten chairs each make a square hall; counting them gives \\boxed{100}",
        "A poem about the sea at night, waves and wind and salt; \\boxed{7}",
    ]
    cfg = {"rewards": [STRICT], "shaping": [{"type": "semantic_diversity"}]}
    rollouts = [Rollout("Q", t, reference="100", group="g") for t in texts]
    with RewardPipeline(cfg) as p:
        got = p.score(rollouts).rewards
    q, div = [1.0, 1.0, 1.0, 0.0], ref_partition(["x", "x", "y", "z"])
    assert got == pytest.approx([qi * d for qi, d in zip(q, div)])
    assert got == pytest.approx([2 / 3, 2 / 3, 1.0, 0.0])  # (4 - 2)/3 for the pair
    cfg_path, src, out = tmp_path / "rk.yaml", tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    cfg_path.write_text(yaml.safe_dump(cfg))
    rows = [{"prompt": "Q", "completion": t, "reference": "100"} for t in texts]
    src.write_text("".join(json.dumps(row) + "\n" for row in rows))
    res = CliRunner().invoke(cli, ["score", str(cfg_path), str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["reward"] for x in out.read_text().splitlines()] == pytest.approx(got)


def test_a_group_of_one_gets_div_one() -> None:
    # The reference divides by zero here (n - 1 = 0); rewardkit's choice is Div = 1.
    assert _score(_config([STRICT], answer_from="strict"), [["100"]]) == pytest.approx([1.0])


# --------------------------------------------------------------------------- judges


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Yes", "yes"),
        ("  The Answer IS 5 ", "the answer is 5"),
        ("x = 5", "x = 5 ."),
        ("the answer is 5", "it is 7"),
        ("a a a b", "a c"),  # repeats count in the length, not in the overlap
        ("", ""),
        ("", "yes"),
        ("one two three four five six", "one"),
        ("ONE two three four five", "one TWO THREE"),
    ],
)
def test_short_text_rule_matches_maybe_test_equality(a: str, b: str) -> None:
    assert short_text_equivalent(a, b) is ref_short_text(a, b)
    assert short_text_equivalent(b, a) is ref_short_text(b, a)


def test_short_text_rule_ignores_case() -> None:
    assert short_text_equivalent("Yes", "yes") is True
    assert short_text_equivalent("The answer is B", "the answer is b") is True


def test_classifier_judge_is_strictly_above_its_threshold() -> None:
    # DARLING: `prob_sim > THRESHOLD`; a probability exactly at the threshold is "different".
    s = np.array([[1.0, 0.5], [0.5, 1.0]])
    for cls, expected in ((ClassifierJudge, False), (EmbeddingJudge, True)):
        judge = SimpleNamespace(threshold=0.5, strict=cls.strict, _override=lambda t, i, j: None)
        assert cls._same(judge, ["a b c d e f", "g h i j k l"], [0, 1], s)(0, 1) is expected  # type: ignore[arg-type]
    s[0, 1] = s[1, 0] = np.nextafter(0.5, 1.0)
    judge = SimpleNamespace(threshold=0.5, strict=True, _override=lambda t, i, j: None)
    assert ClassifierJudge._same(judge, ["", ""], [0, 1], s)(0, 1) is True  # type: ignore[arg-type]


def ref_add_bias_token_level(q: Sequence[float], div: Sequence[float], width: int) -> list[float]:
    """What DARLING's trainer hands verl's GRPO with ``add_bias``: q sits at the last response
    token of a (B, width) tensor, ``-min q`` is added at *every* position and every position is
    multiplied by Div (ray_trainer.py, rrenaud/darling c07a323); verl's
    ``compute_grpo_outcome_advantage`` then sums the tensor over positions, unmasked."""
    tokens = np.zeros((len(q), width))
    tokens[:, -1] = q
    tokens = (tokens - min(q)) * np.asarray(div)[:, None]
    return tokens.sum(axis=-1).tolist()


def test_add_bias_at_every_token_is_q_minus_width_times_min() -> None:
    # docs/exploration.md: the reference trains on (q - T min) x Div, which equals rewardkit's
    # group_min (q - min) x Div only when the group minimum is 0.
    q, div, width = [1.0, 0.5, 0.5], [1.0, 0.5, 0.5], 3
    assert ref_add_bias_token_level(q, div, width) == pytest.approx(
        [(qi - width * min(q)) * d for qi, d in zip(q, div)]
    )
    assert ref_add_bias_token_level(q, div, width) == pytest.approx([-0.5, -0.5, -0.5])
    assert ref_add_bias_product(q, div) == pytest.approx([0.5, 0.0, 0.0])
    q0 = [1.0, 0.0, 0.0]
    assert ref_add_bias_token_level(q0, div, width) == pytest.approx(ref_add_bias_product(q0, div))
