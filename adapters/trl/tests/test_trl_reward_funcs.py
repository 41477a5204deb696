"""build_reward_funcs: TRL's call contract, columns that add up to rewardkit's total, one scoring
per batch, references, failures as outcomes, async I/O-bound rewards, pickling, presets.

The functions are called here exactly as ``GRPOTrainer._calculate_rewards`` calls them (keyword
arguments, the same ``prompts``/``completions`` lists for every function of a batch);
``test_trl_trainer.py`` runs them inside real trainers.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import pickle
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rewardkit_trl import (
    AsyncRewardKitRewardFunc,
    ProcessLayoutError,
    RewardKitRewardFunc,
    build_reward_funcs,
    build_total_reward_func,
)
from trl.trainer.utils import get_callable_name, is_async_callable

from rewardkit import Batch, BatchError, ConfigError, RewardPipeline

# --import-mode=importlib puts no test folder on sys.path; the sibling helper modules (trl_probes,
# trl_tiny) have unique names, so appending this folder shadows nothing.
sys.path.append(str(Path(__file__).parent))
from trl_probes import probe_config

G = 2
PROMPTS = ["say a b", "say a b", "say c", "say c"]
COMPLETIONS = ["a b", "a", "c c", ""]


class TRLLogs:
    """What TRL's ``log_metric`` / ``log_extra`` would receive."""

    def __init__(self) -> None:
        self.metrics: dict[str, list[float]] = defaultdict(list)
        self.extra: dict[str, list[Any]] = defaultdict(list)

    def log_metric(self, name: str, value: float) -> None:
        self.metrics[name].append(value)

    def log_extra(self, column: str, values: list[Any]) -> None:
        self.extra[column].extend(values)


def call_all(
    funcs: Sequence[Any],
    prompts: Sequence[Any] = PROMPTS,
    completions: Sequence[Any] = COMPLETIONS,
    logs: TRLLogs | None = None,
    **columns: Any,
) -> list[list[float]]:
    """One TRL reward step: every function, keyword arguments only, sync before async."""
    logs = logs or TRLLogs()
    prompts, completions = list(prompts), list(completions)
    kwargs = dict(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1] * (len(str(c)) + 1) for c in completions],
        trainer_state=None,
        log_metric=logs.log_metric,
        log_extra=logs.log_extra,
        **columns,
    )
    out: list[list[float] | None] = [None] * len(funcs)
    for i, f in enumerate(funcs):
        if not is_async_callable(f):
            out[i] = f(**kwargs)
    for i, f in enumerate(funcs):
        if is_async_callable(f):
            out[i] = asyncio.run(f(**kwargs))
    return out  # type: ignore[return-value]


def weighted_sum(columns: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    return [sum(w * col[i] for col, w in zip(columns, weights)) for i in range(len(columns[0]))]


SHAPED = {
    "rewards": [
        {"type": "keyword", "name": "kw_ab", "keywords": ["a", "b"], "weight": 2.0},
        {"type": "keyword", "name": "kw_c", "keywords": ["c"], "weight": 0.5},
    ],
    "shaping": [
        {"type": "group_size_probe"},
        {"type": "scale_probe", "factor": 0.5},
        {"type": "group_size_probe", "name": "after_scale"},
    ],
}


def test_one_function_per_component_named_after_it() -> None:
    funcs, weights = build_reward_funcs(probe_config(SHAPED), num_generations=G)
    names = [get_callable_name(f) for f in funcs]
    assert names == ["kw_ab", "kw_c", "group_size_probe", "scale_probe", "after_scale"]
    assert weights == [2.0, 0.5, 1.0, 1.0, 1.0]
    assert all(isinstance(f, RewardKitRewardFunc) and not is_async_callable(f) for f in funcs)
    assert len({id(f.scorer) for f in funcs}) == 1


def test_weighted_columns_equal_the_pipeline_total_with_a_multiplicative_term() -> None:
    config = probe_config(SHAPED)
    funcs, weights = build_reward_funcs(config, num_generations=G)
    columns = call_all(funcs)
    expected = (
        RewardPipeline(config)
        .score(Batch.from_columns(PROMPTS, COMPLETIONS, groups=[i // G for i in range(4)]))
        .rewards
    )
    assert weighted_sum(columns, weights) == pytest.approx(expected)
    # By hand: 2*kw_ab + 0.5*kw_c, + 0.02 (group size 2), * 0.5, + 0.02.
    base = [2 * 1.0, 2 * 0.5, 0.5 * 1.0, 0.0]
    assert expected == pytest.approx([(b + 0.02) * 0.5 + 0.02 for b in base])
    # The multiplicative column is the change it made, total_after - total_before.
    assert columns[3] == pytest.approx([-(b + 0.02) * 0.5 for b in base])
    total = build_total_reward_func(config, num_generations=G)
    assert total(prompts=PROMPTS, completions=COMPLETIONS) == pytest.approx(expected)


def test_each_batch_is_scored_once_for_all_functions() -> None:
    config = probe_config(
        {
            "rewards": [{"type": "keyword", "keywords": ["a"]}],
            "shaping": [{"type": "visit_count_probe"}],
        }
    )
    funcs, _ = build_reward_funcs(config, num_generations=G)
    term = funcs[0].scorer.pipeline.shaping[0]
    call_all(funcs)
    assert sum(term.counts.values()) == len(COMPLETIONS)
    call_all(funcs)  # a new generation batch (new lists), even with the same text
    assert sum(term.counts.values()) == 2 * len(COMPLETIONS)


def test_evaluation_batches_leave_stateful_terms_unchanged() -> None:
    config = probe_config(
        {
            "rewards": [{"type": "keyword", "keywords": ["a"]}],
            "shaping": [{"type": "visit_count_probe"}],
        }
    )
    funcs, _ = build_reward_funcs(config, num_generations=G)
    scorer = funcs[0].scorer
    call_all(funcs)
    before = scorer.pipeline.state_dict()
    scorer.training = False
    call_all(funcs)
    assert scorer.pipeline.state_dict() == before


def test_conversational_prompts_and_completions_score_like_plain_text() -> None:
    config = probe_config(SHAPED)
    plain = call_all(build_reward_funcs(config, G)[0])
    chat_prompts = [[{"role": "user", "content": p}] for p in PROMPTS]
    chat_completions = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    chat = call_all(build_reward_funcs(config, G)[0], chat_prompts, chat_completions)
    assert chat == plain


def test_metrics_and_completions_table_columns() -> None:
    logs = TRLLogs()
    call_all(build_reward_funcs(probe_config(SHAPED), G)[0], logs=logs)
    for name in ("kw_ab", "kw_c", "group_size_probe", "scale_probe", "after_scale"):
        assert f"rewardkit/{name}/mean" in logs.metrics
    assert logs.metrics["rewardkit/kw_ab/frac_correct"] == [0.25]
    assert logs.metrics["rewardkit/reward/mean"]
    assert all(len(v) == 1 for v in logs.metrics.values())  # logged once per batch
    assert logs.extra["rewardkit/kw_ab/outcome"] == [
        "correct",
        "incorrect",
        "incorrect",
        "no_answer",
    ]
    assert logs.extra["rewardkit/kw_ab/reason"][3] == "empty completion"
    assert logs.extra["rewardkit/scale_probe/factor"] == [0.5] * 4
    assert {len(v) for v in logs.extra.values()} == {4}


def test_reference_column_is_detected_or_configured() -> None:
    config = probe_config({"rewards": [{"type": "reference_echo_probe", "name": "echo"}]})
    columns = {"solution": ["a b", "x", "x", "x"], "answer": ["x", "a", "x", ""]}
    logs = TRLLogs()
    # Both present: `answer` comes before `solution` in the detection order.
    assert call_all(build_reward_funcs(config, G)[0], logs=logs, **columns) == [[0, 1, 0, 1]]
    assert logs.extra["rewardkit/echo/answer"] == columns["answer"]
    funcs, _ = build_reward_funcs(config, G, reference_column="solution")
    assert call_all(funcs, **columns) == [[1, 0, 0, 0]]
    funcs, _ = build_reward_funcs(config, G, reference_column="gold")
    with pytest.raises(BatchError, match=r"reference_column=.gold.*answer, solution"):
        call_all(funcs, **columns)


def test_missing_reference_column_is_an_error_in_strict_mode_and_outcomes_otherwise() -> None:
    config = probe_config({"rewards": [{"type": "reference_echo_probe", "name": "echo"}]})
    with pytest.raises(BatchError, match="reference_column="):
        call_all(build_reward_funcs(config, G)[0], question=["q"] * 4)
    lenient = probe_config(
        {"strict": False, "rewards": [{"type": "reference_echo_probe", "name": "echo"}]}
    )
    logs = TRLLogs()
    assert call_all(build_reward_funcs(lenient, G)[0], logs=logs, question=["q"] * 4) == [
        [0, 0, 0, 0]
    ]
    assert logs.extra["rewardkit/echo/outcome"] == ["error"] * 4


@pytest.mark.parametrize("strict", [True, False])
def test_a_none_reference_row_is_an_error_outcome_not_a_crashed_step(strict: bool) -> None:
    # One bad dataset row must not crash the trainer's step, strict or not: the column exists,
    # so this is bad input, not a setup mistake.
    config = probe_config(
        {
            "strict": strict,
            "rewards": [
                {"type": "reference_echo_probe", "name": "echo"},
                {"type": "keyword", "keywords": ["a"]},  # needs no reference: scores every row
            ],
        }
    )
    logs = TRLLogs()
    echo, keyword = call_all(
        build_reward_funcs(config, G)[0], logs=logs, answer=["a b", None, "c c", None]
    )
    assert echo == [1.0, 0.0, 1.0, 0.0]
    assert keyword == [1.0, 1.0, 0.0, 0.0]
    assert logs.extra["rewardkit/echo/outcome"] == ["correct", "error", "correct", "error"]
    # The pipeline's one missing-reference policy, with its reason (same as verl and the CLI).
    assert logs.extra["rewardkit/echo/reason"][1] == "missing reference"
    assert logs.metrics["rewardkit/echo/frac_error"] == [0.5]


def test_a_raising_reward_becomes_error_outcomes_not_an_exception() -> None:
    config = probe_config(
        {
            "rewards": [
                {"type": "raising_probe", "name": "buggy"},
                {"type": "keyword", "keywords": ["a"]},
            ]
        }
    )
    logs = TRLLogs()
    buggy, keyword = call_all(build_reward_funcs(config, G)[0], logs=logs)
    assert buggy == [0.0] * 4
    assert keyword == [1.0, 1.0, 0.0, 0.0]
    assert logs.extra["rewardkit/buggy/outcome"] == ["error"] * 4
    assert "ZeroDivisionError: probe exploded" in logs.extra["rewardkit/buggy/reason"][0]
    assert logs.metrics["rewardkit/buggy/frac_error"] == [1.0]


FAILING = {
    "rewards": [
        {"type": "sleepy_judge_probe", "name": "judge", "delay_s": 0.0},
        {"type": "reference_echo_probe", "name": "echo", "weight": 2.0},
    ],
    "shaping": [{"type": "group_size_probe"}],
}


def test_failed_as_none_returns_none_for_timeout_and_error_outcomes() -> None:
    # Rows 1 and 3 have no reference: echo's outcome there is `error`; the judge scores all.
    refs = {"answer": ["a b", None, "c c", None]}
    zero_funcs, _ = build_reward_funcs(probe_config(FAILING), G)
    none_funcs, _ = build_reward_funcs(probe_config(FAILING), G, failed_as="none")
    zero = call_all(zero_funcs, **refs)
    none = call_all(none_funcs, **refs)
    assert zero[1] == [1.0, 0.0, 1.0, 0.0]
    assert none[1] == [1.0, None, 1.0, None]
    # The judge scored every row and so did the shaping term: no row is unscorable.
    assert none[0] == zero[0] and none[2] == zero[2]

    # When every reward of the config failed on a row, its shaping columns and the total are
    # None too, so TRL sees a row no function scored (reward NaN, out of the group baseline,
    # advantage 0) rather than one that scored 0.
    only_echo = {"rewards": FAILING["rewards"][1:], "shaping": FAILING["shaping"]}
    funcs, _ = build_reward_funcs(probe_config(only_echo), G, failed_as="none")
    assert call_all(funcs, **refs) == [[1.0, None, 1.0, None], [0.02, None, 0.02, None]]
    total = build_total_reward_func(probe_config(only_echo), G, failed_as="none")
    assert total(prompts=PROMPTS, completions=COMPLETIONS, **refs) == [2.02, None, 2.02, None]
    raising = probe_config({"rewards": [{"type": "raising_probe", "name": "buggy"}]})
    assert call_all(build_reward_funcs(raising, G, failed_as="none")[0]) == [[None] * 4]
    with pytest.raises(ValueError, match="failed_as"):
        build_reward_funcs(raising, G, failed_as="nan")  # type: ignore[arg-type]


def test_failed_as_none_columns_go_through_trls_reward_aggregation() -> None:
    # The exact arithmetic of GRPOTrainer._generate_and_score_completions (TRL 1.16): None ->
    # NaN, weighted nansum, rows where every function is NaN excluded from the group mean and
    # given advantage 0.
    import torch
    from trl.trainer.utils import nanstd

    config = probe_config({"rewards": [{"type": "reference_echo_probe", "name": "echo"}]})
    refs = {"answer": ["a b", None, "c c", "x"]}  # row 1 fails, row 3 is wrong
    advantages = {}
    for failed_as in ("zero", "none"):
        funcs, weights = build_reward_funcs(config, G, failed_as=failed_as)
        columns = call_all(funcs, **refs)
        per_func = torch.tensor([[torch.nan if v is None else v for v in col] for col in columns]).T
        unscorable = torch.isnan(per_func).all(dim=1)
        rewards = (per_func * torch.tensor(weights)).nansum(dim=1)
        rewards[unscorable] = torch.nan
        mean = torch.nanmean(rewards.view(-1, G), dim=1).repeat_interleave(G)
        std = nanstd(rewards.view(-1, G), dim=1).repeat_interleave(G)
        advantages[failed_as] = torch.nan_to_num((rewards - mean) / (std + 1e-4), nan=0.0)
    # zero: the failed row counts as a wrong answer and pushes its group mate up.
    assert advantages["zero"][:2].tolist() == pytest.approx([0.707, -0.707], abs=1e-2)
    # none: it carries no signal, and its group mate is compared with nobody.
    assert advantages["none"][:2].tolist() == [0.0, 0.0]
    assert advantages["zero"][2:].tolist() == advantages["none"][2:].tolist()


def test_a_batch_that_is_not_whole_groups_is_a_clear_error() -> None:
    funcs, _ = build_reward_funcs(probe_config(SHAPED), num_generations=3)
    with pytest.raises(ProcessLayoutError, match="multiple of num_generations=3"):
        call_all(funcs)


def test_without_num_generations_runs_of_equal_prompts_are_the_groups() -> None:
    config = probe_config(
        {
            "rewards": [{"type": "keyword", "keywords": ["a"]}],
            "shaping": [{"type": "group_size_probe"}],
        }
    )
    funcs, _ = build_reward_funcs(config, num_generations=None)
    prompts = ["p", "p", "p", "q"]
    assert call_all(funcs, prompts=prompts)[1] == pytest.approx([0.03, 0.03, 0.03, 0.01])


def test_io_bound_reward_gets_an_async_function_when_nothing_else_reads_it() -> None:
    config = probe_config(
        {
            "rewards": [
                {"type": "keyword", "keywords": ["a"]},
                {"type": "sleepy_judge_probe", "name": "judge", "delay_s": 0.01},
            ]
        }
    )
    funcs, _ = build_reward_funcs(config, G)
    keyword, judge = funcs
    assert isinstance(judge, AsyncRewardKitRewardFunc) and is_async_callable(judge)
    assert not is_async_callable(keyword)
    logs = TRLLogs()
    assert call_all(funcs, logs=logs) == [[1.0, 1.0, 0.0, 0.0], [1.0] * 4]
    assert logs.metrics["rewardkit/judge/frac_correct"] == [1.0]
    assert logs.extra["rewardkit/judge/answer"] == ["judged"] * 4
    # The shared scoring's total would miss the judge, so it is not logged as rewardkit's.
    assert "rewardkit/reward/mean" not in logs.metrics
    assert not any(is_async_callable(f) for f in build_reward_funcs(config, G, async_io=False)[0])


def test_io_bound_reward_read_by_shaping_runs_inside_the_shared_scoring() -> None:
    config = probe_config(
        {
            "rewards": [
                {"type": "keyword", "keywords": ["a"]},
                {"type": "sleepy_judge_probe", "name": "judge", "delay_s": 0.01},
            ],
            "shaping": [{"type": "scale_probe", "factor": 2.0}],
        }
    )
    funcs, weights = build_reward_funcs(config, G)
    assert not any(is_async_callable(f) for f in funcs)
    columns = call_all(funcs)
    assert weighted_sum(columns, weights) == pytest.approx([4.0, 4.0, 2.0, 2.0])


def test_functions_pickle_together_and_keep_sharing_one_scorer() -> None:
    config = {
        "rewards": [{"type": "keyword", "keywords": ["a", "b"], "weight": 3.0}],
        "engine": {"workers": 1},
    }
    funcs, _ = build_reward_funcs(config, G, reference_column=None)
    copies = pickle.loads(pickle.dumps(funcs))
    assert [get_callable_name(f) for f in copies] == ["keyword"]
    assert copies[0].scorer is not funcs[0].scorer
    assert call_all(copies) == call_all(funcs)


def test_preset_is_importable_by_dotted_path_as_trl_cli_does(
    tmp_path: Any, monkeypatch: Any
) -> None:
    # trl/scripts/grpo.py: module_path, func_name = name.rsplit(".", 1); getattr(import_module(...))
    dotted = "rewardkit_trl.presets.math_accuracy"
    module_path, attr = dotted.rsplit(".", 1)
    preset = getattr(importlib.import_module(module_path), attr)
    assert get_callable_name(preset) == "math_accuracy"
    assert pickle.loads(pickle.dumps(preset)).__name__ == "math_accuracy"

    from rewardkit_trl import presets

    monkeypatch.delenv(presets.CONFIG_ENV_VAR, raising=False)
    with pytest.raises(ConfigError, match="REWARDKIT_CONFIG"):
        presets.PresetRewardFunc("rewardkit")(prompts=PROMPTS, completions=COMPLETIONS)
    path = tmp_path / "rk.yaml"
    path.write_text("rewards:\n  - type: keyword\n    keywords: [a, b]\n    weight: 2\n")
    monkeypatch.setenv(presets.CONFIG_ENV_VAR, str(path))
    monkeypatch.setenv(presets.NUM_GENERATIONS_ENV_VAR, "2")
    fresh = pickle.loads(pickle.dumps(presets.config))  # unbuilt, reads the environment
    assert call_all([fresh]) == [[2.0, 1.0, 0.0, 0.0]]
    assert math.isclose(fresh.func.scorer.pipeline.weights["keyword"], 2.0)


def test_math_accuracy_preset_scores_against_the_reference_column() -> None:
    from rewardkit_trl.presets import PresetRewardFunc, math_accuracy

    preset = pickle.loads(pickle.dumps(math_accuracy))  # a fresh, unbuilt copy
    assert isinstance(preset, PresetRewardFunc)
    logs = TRLLogs()
    completions = [
        "so the result is \\boxed{\\frac12}",
        [{"role": "assistant", "content": "The answer is $0.5$."}],
        "\\boxed{3}",
        "I do not know",
    ]
    (values,) = call_all(
        [preset], ["q"] * 4, completions, logs=logs, answer=["1/2", "$\\frac{1}{2}$", "2", "2"]
    )
    assert values == [1.0, 1.0, 0.0, 0.0]
    assert logs.extra["rewardkit/math_accuracy/outcome"] == [
        "correct",
        "correct",
        "incorrect",
        "no_answer",
    ]
    assert logs.extra["rewardkit/math_accuracy/answer"][2] == "3"
    preset.func.scorer.close()


# The one missing-reference policy: the same table as tests/verifiers/test_missing_reference_policy
# (pipeline and `rewardkit score`) and the verl reward manager's test.
POLICY_CONFIG = {
    "rewards": [
        {"type": "exact", "name": "match"},  # needs a reference
        {"type": "keyword", "name": "says", "keywords": ["answer"], "weight": 0.5},  # does not
    ],
    "engine": {"workers": 1},
}
POLICY_ROWS = [
    ("q1", "The answer is \\boxed{4}", "4"),
    ("q1", "The answer is \\boxed{4}", None),
    ("q2", "It is \\boxed{7}", "5"),
    ("q2", "no idea", None),
]
POLICY_EXPECTED = {
    "match": ["correct", "error", "incorrect", "error"],
    "says": ["correct", "correct", "incorrect", "incorrect"],
}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("concurrent", [False, True])
def test_missing_references_give_the_pipelines_outcomes(strict: bool, concurrent: bool) -> None:
    from rewardkit import MISSING_REFERENCE_REASON, Rollout

    config: dict[str, Any] = {**POLICY_CONFIG, "strict": strict}
    if concurrent:  # an I/O-bound reward and a group term: every reward scored concurrently
        config["rewards"] = [
            *config["rewards"],
            {"type": "sleepy_judge_probe", "name": "judge", "delay_s": 0.0, "weight": 0.0},
        ]
        config["shaping"] = [{"type": "group_size_probe", "name": "size"}]
    logs = TRLLogs()
    funcs, _ = build_reward_funcs(probe_config(config), G)
    columns = call_all(
        funcs,
        prompts=[q for q, _, _ in POLICY_ROWS],
        completions=[c for _, c, _ in POLICY_ROWS],
        logs=logs,
        reference=[r for _, _, r in POLICY_ROWS],
    )
    outcomes = {k: logs.extra[f"rewardkit/{k}/outcome"] for k in POLICY_EXPECTED}
    assert outcomes == POLICY_EXPECTED
    assert logs.extra["rewardkit/match/reason"][1::2] == [MISSING_REFERENCE_REASON] * 2
    # The pipeline itself, with the policy TRL uses ("error": one bad row is bad input).
    with RewardPipeline(probe_config(config)) as p:
        scored = p.score(
            [Rollout(q, c, reference=r) for q, c, r in POLICY_ROWS], missing_reference="error"
        )
    assert {k: [r.outcome.value for r in scored.details[k]] for k in POLICY_EXPECTED} == outcomes
    assert columns[0] == scored.components["match"] and columns[1] == scored.components["says"]
