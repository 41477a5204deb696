"""Real TRL trainers (tiny local model, CPU, offline) driven by rewardkit configs: metrics for
every component, the completions table, the token mask, state across checkpoints, RLOO."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from rewardkit_trl import STATE_FILENAME, RewardKitGRPOTrainer, RewardKitRLOOTrainer

from rewardkit import Batch, ConfigError, RewardPipeline

# --import-mode=importlib puts no test folder on sys.path; the sibling helper modules (trl_probes,
# trl_tiny) have unique names, so appending this folder shadows nothing.
sys.path.append(str(Path(__file__).parent))
from trl_probes import probe_config
from trl_tiny import tiny_grpo_args

pytestmark = pytest.mark.slow

#: Words the tiny model's vocabulary has, so keyword rewards are sometimes earned.
RUN_CONFIG: dict[str, Any] = {
    "rewards": [
        {"type": "keyword", "name": "digits", "keywords": ["1", "2"], "weight": 1.0},
        {"type": "digit_class_probe", "name": "kind", "weight": 0.5},
    ],
    "shaping": [
        {"type": "batch_repetition", "name": "repetition", "answer_from": "kind"},
        {"type": "ucb_exploration", "name": "ucb", "answer_from": "kind", "variant": "raw"},
        {"type": "scale_probe", "name": "scale", "factor": 0.9},
        {"type": "group_size_probe", "name": "group_size"},
    ],
    "token_mask": {"type": "entropy_top_ratio", "ratio": 0.5},
    "diagnostics": [{"type": "answer_diversity", "name": "diversity", "answer_from": "kind"}],
}
COMPONENTS = ["digits", "kind", "repetition", "ucb", "scale", "group_size"]


def logged_keys(trainer: Any) -> set[str]:
    return {k for entry in trainer.state.log_history for k in entry}


def grpo_trainer(
    model_and_tokenizer: tuple[Any, Any], dataset: Any, out: Path, config: Any, **overrides: Any
) -> RewardKitGRPOTrainer:
    from trl import GRPOConfig

    model, tokenizer = model_and_tokenizer
    return RewardKitGRPOTrainer(
        model,
        config,
        args=GRPOConfig(**tiny_grpo_args(out, **overrides)),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def test_grpo_run_logs_every_component_and_the_mask(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    import pandas as pd

    trainer = grpo_trainer(
        tiny_model_and_tokenizer,
        tiny_prompts,
        tmp_path,
        probe_config(RUN_CONFIG),
        log_completions=True,
        num_completions_to_print=1,
    )
    assert trainer.reward_func_names == COMPONENTS
    assert trainer.reward_weights.tolist() == [1.0, 0.5, 1.0, 1.0, 1.0, 1.0]
    trainer.train()
    assert trainer.state.global_step == 2
    keys = logged_keys(trainer)
    for name in trainer.reward_func_names:
        assert f"rewards/{name}/mean" in keys, name
        assert f"rewardkit/{name}/mean" in keys, name
    assert {"rewardkit/digits/frac_correct", "rewardkit/reward/mean"} <= keys
    # The diagnostic runs on every generation batch, with TRL's groups of G = 4.
    diversity = [e for e in trainer.state.log_history if "rewardkit/diversity/distinct" in e]
    assert len(diversity) == 2
    for entry in diversity:
        assert 1.0 <= entry["rewardkit/diversity/distinct"] <= 4.0
        assert 0.0 <= entry["rewardkit/diversity/frac_solved_groups"] <= 1.0
        # The history split is logged too; a prompt solved in this batch is ever solved.
        ever = entry["rewardkit/diversity/frac_ever_solved_groups"]
        assert entry["rewardkit/diversity/frac_solved_groups"] <= ever <= 1.0
        split = {
            "rewardkit/diversity/distinct_ever_solved",
            "rewardkit/diversity/distinct_never_solved",
        }
        assert split & set(entry)
    assert any(k.startswith("rewardkit/token_mask/") for k in keys), sorted(keys)
    # Groups are whole: every rollout's group has num_generations members.
    sizes = [
        e["rewardkit/group_size/mean"]
        for e in trainer.state.log_history
        if "rewardkit/group_size/mean" in e
    ]
    assert sizes == [pytest.approx(0.04)] * 2
    # The rewards TRL summed are rewardkit's totals (scale multiplies, so its column is a delta).
    for entry in trainer.state.log_history:
        if "reward" in entry:
            assert entry["reward"] == pytest.approx(entry["rewardkit/reward/mean"], abs=1e-5)
    tables = sorted((tmp_path / "completions").glob("*.parquet"))
    table = pd.read_parquet(tables[-1])
    assert {
        "rewardkit/kind/outcome",
        "rewardkit/kind/answer",
        "rewardkit/kind/reason",
        "rewardkit/scale/factor",
    } <= set(table.columns)
    assert set(table["rewardkit/kind/outcome"]) <= {"correct", "incorrect", "no_answer"}
    assert set(table["rewardkit/kind/answer"].dropna()) <= {"digit", "words"}


def test_checkpoint_keeps_ucb_counts_and_resume_restores_them(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    from trl_tiny import build_tiny_model_and_tokenizer

    config = probe_config({k: v for k, v in RUN_CONFIG.items() if k != "token_mask"})
    first = grpo_trainer(
        tiny_model_and_tokenizer,
        tiny_prompts,
        tmp_path,
        config,
        save_strategy="steps",
        save_steps=2,
    )
    first.train()
    saved = first.rewardkit_pipeline.state_dict()
    empty = RewardPipeline(config).state_dict()
    # UCB counts and answer_diversity's solved prompts (its history split).
    assert list(saved) == ["ucb", "diversity"] and saved != empty
    checkpoint = tmp_path / "checkpoint-2"
    doc = json.loads((checkpoint / STATE_FILENAME).read_text())
    assert doc["payload"] == saved

    # A new trainer (fresh weights, empty counts) loads exactly the saved counts...
    fresh = grpo_trainer(build_tiny_model_and_tokenizer(seed=1), tiny_prompts, tmp_path, config)
    assert fresh.rewardkit_pipeline.state_dict() == empty
    assert fresh.load_rewardkit_state(checkpoint)
    assert fresh.rewardkit_pipeline.state_dict() == saved

    # ...and train(resume_from_checkpoint=...) restores them and counts on: after one more step
    # they equal the saved counts plus that step's generation batch.
    resumed = grpo_trainer(
        build_tiny_model_and_tokenizer(seed=1), tiny_prompts, tmp_path, config, max_steps=3
    )
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 3
    prompts, completions = list(resumed._logs["prompt"]), list(resumed._logs["completion"])
    assert len(completions) == 4
    expected = RewardPipeline(config)
    expected.load_state_dict(saved)
    expected.score(Batch.from_columns(prompts, completions, groups=[0, 0, 0, 0]))
    assert resumed.rewardkit_pipeline.state_dict() == expected.state_dict() != saved


def test_evaluation_uses_its_own_group_size_and_leaves_ucb_counts_alone(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    config = probe_config({k: v for k, v in RUN_CONFIG.items() if k != "token_mask"})
    trainer = grpo_trainer(
        tiny_model_and_tokenizer,
        tiny_prompts,
        tmp_path,
        config,
        max_steps=1,
        per_device_eval_batch_size=4,
        num_generations_eval=2,
    )
    trainer.eval_dataset = tiny_prompts.select(range(4))
    trainer.train()
    before = trainer.rewardkit_pipeline.state_dict()
    metrics = trainer.evaluate()
    assert trainer.rewardkit_pipeline.state_dict() == before
    assert metrics["eval_rewardkit/group_size/mean"] == pytest.approx(0.02)  # groups of G_eval = 2
    assert "eval_rewardkit/ucb/mean" in metrics and "eval_rewards/ucb/mean" in metrics


def test_own_reward_funcs_and_weights_come_after_rewardkit(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    from trl import GRPOConfig

    def length_bonus(completions: list[str], **kwargs: Any) -> list[float]:
        return [0.1 * len(c.split()) for c in completions]

    model, tokenizer = tiny_model_and_tokenizer
    args = GRPOConfig(**tiny_grpo_args(tmp_path, max_steps=1, reward_weights=[0.25]))
    trainer = RewardKitGRPOTrainer(
        model,
        probe_config({"rewards": RUN_CONFIG["rewards"]}),
        reward_funcs=[length_bonus],
        args=args,
        train_dataset=tiny_prompts,
        processing_class=tokenizer,
    )
    assert trainer.reward_func_names == ["digits", "kind", "length_bonus"]
    assert trainer.reward_weights.tolist() == [1.0, 0.5, 0.25]
    assert args.reward_weights == [0.25]  # the caller's args are left as they were
    trainer.train()
    assert "rewards/length_bonus/mean" in logged_keys(trainer)


def test_rloo_run(tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path) -> None:
    from trl import RLOOConfig

    model, tokenizer = tiny_model_and_tokenizer
    # beta=0: RLOO's default KL would load a reference model by name, which a local model lacks.
    settings = tiny_grpo_args(tmp_path, beta=0.0)
    trainer = RewardKitRLOOTrainer(
        model,
        probe_config({k: v for k, v in RUN_CONFIG.items() if k != "token_mask"}),
        args=RLOOConfig(**settings),
        train_dataset=tiny_prompts,
        processing_class=tokenizer,
    )
    trainer.train()
    keys = logged_keys(trainer)
    assert trainer.state.global_step == 2
    for name in COMPONENTS:
        assert f"rewards/{name}/mean" in keys and f"rewardkit/{name}/mean" in keys

    with pytest.raises(ConfigError, match="token_mask"):
        RewardKitRLOOTrainer(
            model,
            probe_config(RUN_CONFIG),
            args=RLOOConfig(**settings),
            train_dataset=tiny_prompts,
            processing_class=tokenizer,
        )


def test_async_io_bound_reward_runs_in_a_real_trainer(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    from trl.trainer.utils import is_async_callable

    config = probe_config(
        {
            "rewards": [
                {"type": "keyword", "name": "digits", "keywords": ["1", "2"]},
                {"type": "sleepy_judge_probe", "name": "judge", "delay_s": 0.01, "weight": 0.5},
            ]
        }
    )
    trainer = grpo_trainer(tiny_model_and_tokenizer, tiny_prompts, tmp_path, config)
    # TRL ran the judge through its async path (the GRPOTrainer-AsyncLoop thread).
    assert [is_async_callable(f) for f in trainer.reward_funcs] == [False, True]
    trainer.train()
    assert trainer.state.global_step == 2
    judged = [e for e in trainer.state.log_history if "rewards/judge/mean" in e]
    assert [e["rewards/judge/mean"] for e in judged] == [1.0, 1.0]
    assert [e["rewardkit/judge/frac_correct"] for e in judged] == [1.0, 1.0]
    for entry in judged:
        assert entry["reward"] == pytest.approx(entry["rewards/digits/mean"] + 0.5, abs=1e-5)


@pytest.mark.parametrize("failed_as", ["zero", "none"])
def test_failed_rollouts_as_zero_or_none_in_a_real_trainer(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path, failed_as: str
) -> None:
    from trl import GRPOConfig

    model, tokenizer = tiny_model_and_tokenizer
    trainer = RewardKitGRPOTrainer(
        model,
        probe_config({"rewards": [{"type": "raising_probe", "name": "buggy"}]}),
        failed_as=failed_as,
        args=GRPOConfig(**tiny_grpo_args(tmp_path)),
        train_dataset=tiny_prompts,
        processing_class=tokenizer,
    )
    trainer.train()  # every rollout errors: the step still runs
    entries = [e for e in trainer.state.log_history if "rewards/buggy/mean" in e]
    assert len(entries) == 2
    for entry in entries:
        assert entry["rewardkit/buggy/frac_error"] == 1.0
        if failed_as == "zero":
            assert entry["rewards/buggy/mean"] == 0.0 and entry["reward"] == 0.0
        else:
            # TRL: every function returned None for every row, so no row has a reward; TRL logs
            # None for a metric without a finite value.
            assert entry["rewards/buggy/mean"] is None and entry["reward"] is None


def test_resume_with_a_renamed_stateful_term_is_a_state_error(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path, caplog: Any
) -> None:
    """Through the resume hook Trainer calls (``_load_optimizer_and_scheduler``): UCB state
    saved as 'explore' does not silently load nothing into a term now named 'ucb_exploration'."""
    from rewardkit import StateError

    def config(name: str | None, **top: Any) -> Any:
        ucb: dict[str, Any] = {"type": "ucb_exploration", "answer_from": "kind"}
        if name:
            ucb["name"] = name
        return probe_config(
            {"rewards": [{"type": "digit_class_probe", "name": "kind"}], "shaping": [ucb], **top}
        )

    saving = grpo_trainer(tiny_model_and_tokenizer, tiny_prompts, tmp_path, config("explore"))
    checkpoint = tmp_path / "checkpoint-1"
    saving.rewardkit_pipeline.score(Batch.from_columns(["q", "q"], ["1", "a"], groups=[0, 0]))
    assert saving.save_rewardkit_state(checkpoint) == checkpoint / STATE_FILENAME
    saved = saving.rewardkit_pipeline.state_dict()

    renamed = grpo_trainer(tiny_model_and_tokenizer, tiny_prompts, tmp_path, config(None))
    with pytest.raises(StateError, match=r"'ucb_exploration'.*\(missing\).*'explore'"):
        renamed._load_optimizer_and_scheduler(str(checkpoint))
    with pytest.raises(StateError, match="unexpected"):
        renamed.load_rewardkit_state(checkpoint)
    # A checkpoint without any rewardkit state is no silent reset either.
    with pytest.raises(StateError, match="no state file"):
        renamed.load_rewardkit_state(tmp_path)

    lenient = grpo_trainer(
        tiny_model_and_tokenizer,
        tiny_prompts,
        tmp_path,
        config("explore", allow_partial_state=True),
    )
    with caplog.at_level("WARNING"):
        assert lenient.load_rewardkit_state(tmp_path) is False
    assert any("'explore' (ucb_exploration) starts empty" in r.getMessage() for r in caplog.records)
    lenient._load_optimizer_and_scheduler(str(checkpoint))
    assert lenient.rewardkit_pipeline.state_dict() == saved
