"""Diagnostics in the pipeline, every term from `rewardkit score`, and `rewardkit report`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from rewardkit import ConfigError, RewardPipeline, Rollout, parse_config
from rewardkit.cli import cli

CONFIG = """\
rewards:
  - type: math
shaping:  # DARLING first: it multiplies, so it needs the reward so far to be >= 0
  - name: darling
    type: semantic_diversity
    judge: answer
    answer_from: math
  - type: ucb_exploration
    answer_from: math
    coefficient: 1.0
  - type: batch_repetition
    answer_from: math
diagnostics:
  - type: answer_diversity
    answer_from: math
  - type: pass_at_k
    answer_from: math
    k: [1, 2, 8]
  - type: distinct_n
  - name: answer_partitions
    type: partitions
    judge: answer
    answer_from: math
"""


def rollouts_jsonl(path: Path) -> Path:
    # Step 0: prompt 0 answers 4,4,5,6 (solved); prompt 1 answers 7,7,8,None (unsolved, ref 9).
    answers = {0: ["4", "4", "5", "6"], 1: ["7", "7", "8", None]}
    rows = []
    for step in (0, 1):
        for p, ref in ((0, "4"), (1, "9")):
            for j, a in enumerate(answers[p]):
                text = f"step {step} try {j} " + ("I give up." if a is None else f"\\boxed{{{a}}}")
                rows.append({"prompt": f"Q{p}", "completion": text, "reference": ref, "step": step})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pipeline_metrics_hand_computed() -> None:
    import yaml

    cfg = yaml.safe_load(CONFIG)
    batch = [
        Rollout("Q0", f"\\boxed{{{a}}}", reference="4", group="g0") for a in ("4", "4", "5", "6")
    ] + [
        Rollout("Q1", t, reference="9", group="g1")
        for t in ("\\boxed{7}", "\\boxed{7}", "\\boxed{8}", "none")
    ]
    with RewardPipeline(cfg) as p:
        m = p.score(batch).metrics
    assert m["rewardkit/answer_diversity/distinct"] == pytest.approx(2.5)  # 3 and 2
    assert m["rewardkit/answer_diversity/distinct_solved"] == pytest.approx(3)
    assert m["rewardkit/answer_diversity/distinct_unsolved"] == pytest.approx(2)
    assert m["rewardkit/answer_diversity/frac_no_answer"] == pytest.approx(1 / 8)
    # Entropy (nats) of 4,4,5,6 is 1.5 ln 2; of 7,7,8 (no answer is not an answer) ln 3 - 2/3 ln 2.
    assert m["rewardkit/answer_diversity/entropy"] == pytest.approx(
        (1.5 * math.log(2) + math.log(3) - 2 / 3 * math.log(2)) / 2
    )
    # pass@1: (2/4 + 0)/2; pass@2: (1 - C(2,2)/C(4,2) = 5/6, 0)/2; k=8 > n: not reported.
    assert m["rewardkit/pass_at_k/pass@1"] == pytest.approx(0.25)
    assert m["rewardkit/pass_at_k/pass@2"] == pytest.approx(5 / 12)
    assert "rewardkit/pass_at_k/pass@8" not in m
    assert m["rewardkit/answer_partitions/mean"] == pytest.approx((3 + 3) / 2)  # None is its own
    assert 0 < m["rewardkit/distinct_n/distinct_1"] <= 1


def test_every_term_from_rewardkit_score_then_report(tmp_path) -> None:
    cfg = tmp_path / "rk.yaml"
    cfg.write_text(CONFIG)
    scored = tmp_path / "scored.jsonl"
    runner = CliRunner()
    res = runner.invoke(
        cli, ["score", str(cfg), str(rollouts_jsonl(tmp_path / "in.jsonl")), "-o", str(scored)]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in scored.read_text().splitlines()]
    assert len(rows) == 16
    comps = rows[0]["components"]
    assert set(comps) == {"math", "ucb_exploration", "batch_repetition", "darling"}
    # Step 0, prompt 0, answer 4 (twice): batch repetition -1/4, UCB counts 2 -> 1/sqrt(2),
    # but the group is not all correct, so UCB-Con gives 1/sqrt(2) - 0.5.
    assert comps["batch_repetition"] == pytest.approx(-0.25)
    assert comps["ucb_exploration"] == pytest.approx(2**-0.5 - 0.5)
    # Step 1 sees step 0's counts: answer 4 now has N = 4 -> 0.5 - 0.5 = 0.
    step1 = [r for r in rows if r["step"] == 1 and r["prompt"] == "Q0"]
    assert step1[0]["components"]["ucb_exploration"] == pytest.approx(0.0)

    out = tmp_path / "report"
    res = runner.invoke(cli, ["report", str(scored), "-o", str(out), "-k", "1,2"])
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text()
    assert "## Over steps" in md and "distinct_answers_unsolved" in md
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"]["0"]["distinct_answers_solved"] == pytest.approx(3)
    assert metrics["steps"]["0"]["distinct_answers_unsolved"] == pytest.approx(2)
    assert metrics["steps"]["1"]["pass@2"] == pytest.approx(5 / 12)
    # Answer-judge partitions: 4,4,5,6 -> 3; 7,7,8,None -> 3 (no answer is a class of its own).
    assert metrics["steps"]["0"]["partitions_answer"] == pytest.approx(3)
    assert "partitions_answer" in md
    for png in ("reward", "answer_diversity", "pass_at_k", "distinct_n", "partitions"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_report_reads_trl_completion_parquet_logs(tmp_path) -> None:
    # The layout TRL 1.16 writes: output_dir/completions/completions_<step>.parquet with
    # step, prompt, completion, one column per reward function, advantage.
    logs = tmp_path / "out" / "completions"
    logs.mkdir(parents=True)
    for step in (1, 2):
        prompt = [{"role": "user", "content": "What is 2+2?"}]
        answers = ["4", "4", "5", "6"] if step == 1 else ["4", "4", "4", "4"]
        pd.DataFrame(
            {
                "step": [step] * 4,
                "prompt": [prompt] * 4,
                "completion": [
                    [{"role": "assistant", "content": f"\\boxed{{{a}}}"}] for a in answers
                ],
                "accuracy_reward": [1.0 if a == "4" else 0.0 for a in answers],
                "advantage": [0.0] * 4,
            }
        ).to_parquet(logs / f"completions_{step:05d}.parquet")
    out = tmp_path / "report"
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "out"), "-o", str(out), "-k", "1,4"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"]["1"]["distinct_answers"] == 3
    assert metrics["steps"]["2"]["distinct_answers"] == 1  # the collapse the report should show
    assert metrics["steps"]["1"]["pass@1"] == pytest.approx(0.5)
    assert metrics["steps"]["2"]["pass@4"] == pytest.approx(1.0)
    assert (out / "answer_diversity.png").exists()


def test_report_without_a_step_column_writes_no_plots(tmp_path) -> None:
    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps({"prompt": "q", "completion": "\\boxed{1}"}) + "\n")
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, ["report", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert not list(out.glob("*.png"))
    assert "## Over steps" not in (out / "report.md").read_text()


def test_report_picks_the_reward_that_has_answers(tmp_path) -> None:
    rows = [
        {
            "prompt": "q",
            "step": 0,
            "completion": "...",
            "details": {
                "format": {"outcome": "correct", "answer": None, "reason": ""},
                "math": {"outcome": "incorrect", "answer": a, "reason": ""},
            },
        }
        for a in ("1", "2", "2")
    ]
    src = tmp_path / "s.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, ["report", str(src), "-o", str(out), "-k", "1"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"]["0"]["distinct_answers"] == 2
    assert metrics["steps"]["0"]["distinct_answers_unsolved"] == 2  # math says incorrect


@pytest.mark.parametrize(
    "diagnostic",
    [
        {"type": "pass_at_k", "k": [0, -3]},
        {"type": "pass_at_k", "k": []},
        {"type": "distinct_n", "n": [0]},
        {"type": "distinct_n", "n": [2, -1]},
    ],
)
def test_k_and_n_lists_must_be_positive(diagnostic: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_config({"rewards": [{"type": "math"}], "diagnostics": [diagnostic]})


FACTOR_1 = "We factor x^2 - 5x + 6 = (x - 2)(x - 3), so the roots are 2 and 3 and their sum is 5."
FACTOR_2 = "Factoring, x^2 - 5x + 6 becomes (x-2)(x-3); the roots 2 and 3 add up to 5."
VIETA = "By Vieta's formulas the sum of the roots of x^2 + bx + c is -b, which here is 5."
DICE = "There are 36 equally likely outcomes for two dice and 6 of them are doubles."


@pytest.mark.slow
def test_report_with_embeddings_adds_embedding_partitions(tmp_path) -> None:
    # Step 0: two factorings (one approach), Vieta, and an unrelated text -> 3 classes at the
    # default cosine threshold 0.8; answers 5, 5, 5 and none -> 2 answer classes.
    # Step 1: one text four times -> 1 class, diversity 0.
    boxed = [f"{t} \\boxed{{5}}" for t in (FACTOR_1, FACTOR_2, VIETA)]
    steps = {0: [*boxed, DICE], 1: [FACTOR_1] * 4}
    rows = [
        {"prompt": "Sum of the roots?", "completion": t, "step": step}
        for step, texts in steps.items()
        for t in texts
    ]
    src = tmp_path / "s.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, ["report", str(src), "-o", str(out), "-k", "1", "--embeddings"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"]["0"]["partitions_embedding"] == 3
    assert metrics["steps"]["0"]["partitions_answer"] == 2
    assert metrics["steps"]["1"]["partitions_embedding"] == 1
    assert 0 < metrics["steps"]["0"]["embedding_diversity"] < 1
    assert metrics["steps"]["1"]["embedding_diversity"] == pytest.approx(0, abs=1e-5)
    assert metrics["overall"]["partitions_embedding"] == pytest.approx(2)
    for png in ("embedding_diversity", "partitions"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
