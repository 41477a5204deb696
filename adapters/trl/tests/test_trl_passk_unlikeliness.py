"""pass_at_k_objective and unlikeliness on real TRL trainers (tiny local model, CPU, offline):
2-step runs, the log-probs the trainer hands the scorer, and TRL's own advantage arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from rewardkit_trl import RewardKitGRPOTrainer, RewardKitRLOOTrainer, build_reward_funcs

from rewardkit import BatchError
from rewardkit.shaping import pass_at_k_advantages, unlikeliness_factors

sys.path.append(str(Path(__file__).parent))
from trl_probes import probe_config
from trl_tiny import tiny_grpo_args

pytestmark = pytest.mark.slow

G = 4
UNLIKELINESS = {
    "rewards": [{"type": "digit_class_probe", "name": "kind"}],
    "shaping": [{"type": "unlikeliness", "beta": 0.5}],
}
PASSK = {
    "rewards": [{"type": "digit_class_probe", "name": "kind"}],
    "shaping": [{"type": "pass_at_k_objective", "k": 2, "answer_from": "kind"}],
}


def _independent_logps(model: Any, tokenizer: Any, prompt: str, completion_ids: list[int]) -> Any:
    """Log-probs of the completion tokens from a plain forward pass (no TRL code)."""
    import torch

    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + list(completion_ids)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    p = len(prompt_ids)
    return [logp[p + j - 1, t].item() for j, t in enumerate(completion_ids)]


class Recorder:
    """An own reward function (weight 1, value 0) that sees what every reward function sees and
    checks rewardkit's column of the batch against a recomputation from those inputs."""

    __name__ = "recorder"

    def __init__(self, term: str) -> None:
        self.term = term
        self.trainer: Any = None
        self.calls: list[dict[str, Any]] = []

    def __call__(self, prompts: Any, completions: Any, completion_ids: Any, **kw: Any) -> Any:
        scorer = self.trainer.rewardkit_scorer
        column = scorer.column(
            self.term, prompts, completions, {"completion_ids": completion_ids, **kw}
        )
        self.calls.append(
            {
                "prompts": list(prompts),
                "completion_ids": [list(c) for c in completion_ids],
                "logprobs": kw.get("completion_logprobs"),
                "source": self.trainer.rewardkit_logprob_source,
                "kind": [r.score for r in scorer.last_results["kind"]],
                "correct": [r.outcome.value == "correct" for r in scorer.last_results["kind"]],
                "column": list(column),
                "independent": [
                    _independent_logps(self.trainer.model, self.trainer.processing_class, p, c)
                    for p, c in zip(prompts, completion_ids)
                ],
            }
        )
        return [0.0] * len(prompts)


def _grpo(model_and_tok: Any, data: Any, out: Path, config: Any, rec: Recorder, **kw: Any) -> Any:
    from trl import GRPOConfig

    model, tok = model_and_tok
    trainer = RewardKitGRPOTrainer(
        model,
        probe_config(config),
        reward_funcs=[rec],
        args=GRPOConfig(**tiny_grpo_args(out, **kw)),
        train_dataset=data,
        processing_class=tok,
    )
    rec.trainer = trainer
    return trainer


def _check_unlikeliness_calls(rec: Recorder, source: str, generations: int = 2) -> None:
    assert len(rec.calls) == generations
    for call in rec.calls:
        assert call["source"] == source
        rows = call["logprobs"]
        assert [len(r) for r in rows] == [len(c) for c in call["completion_ids"]]
        for row, indep in zip(rows, call["independent"]):
            assert row == pytest.approx(indep, abs=1e-4)
        means = [sum(r) / len(r) if r else 0.0 for r in rows]
        expected = []
        for g in range(0, len(rows), G):
            factors = unlikeliness_factors(means[g : g + G], 0.5)
            expected += [k * f - k for k, f in zip(call["kind"][g : g + G], factors)]
        # The multiplicative term's TRL column is total_after - total_before.
        assert call["column"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({}, "forward_pass"),  # aligned steps: TRL computes no old log-probs; rewardkit's own pass
        ({"num_iterations": 2}, "old_policy"),  # misaligned: TRL's old-policy pass is read
    ],
)
def test_unlikeliness_grpo_two_steps(
    tiny_model_and_tokenizer: Any,
    tiny_prompts: Any,
    tmp_path: Path,
    overrides: dict[str, Any],
    path: str,
) -> None:
    rec = Recorder("unlikeliness")
    trainer = _grpo(
        tiny_model_and_tokenizer, tiny_prompts, tmp_path, UNLIKELINESS, rec, **overrides
    )
    assert trainer.rewardkit_needs_logprobs
    assert trainer._rewardkit_trl_computes_old_logps() is (path == "old_policy")
    trainer.train()
    assert trainer.state.global_step == 2
    # num_iterations=2: one generation batch serves both steps.
    _check_unlikeliness_calls(rec, path, 1 if overrides else 2)
    keys = {k for entry in trainer.state.log_history for k in entry}
    assert "rewardkit/unlikeliness/mean" in keys


def test_unlikeliness_rloo_two_steps(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    from trl import RLOOConfig

    model, tok = tiny_model_and_tokenizer
    rec = Recorder("unlikeliness")
    trainer = RewardKitRLOOTrainer(
        model,
        probe_config(UNLIKELINESS),
        reward_funcs=[rec],
        # beta=0: RLOO's default KL would load a reference model by name.
        args=RLOOConfig(**tiny_grpo_args(tmp_path, beta=0.0)),
        train_dataset=tiny_prompts,
        processing_class=tok,
    )
    rec.trainer = trainer
    trainer.train()
    assert trainer.state.global_step == 2
    _check_unlikeliness_calls(rec, "old_policy")


def test_passk_grpo_two_steps_and_trl_advantage_is_the_passk_advantage(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    import torch

    rec = Recorder("pass_at_k_objective")
    trainer = _grpo(
        tiny_model_and_tokenizer, tiny_prompts, tmp_path, PASSK, rec, scale_rewards="none"
    )
    assert not trainer.rewardkit_needs_logprobs
    computed: list[Any] = []
    generate_and_score = trainer._generate_and_score_completions

    def recording(inputs: Any) -> Any:
        out = generate_and_score(inputs)
        computed.append(out["advantages"].tolist())
        return out

    trainer._generate_and_score_completions = recording
    trainer.train()
    assert trainer.state.global_step == 2
    assert len(computed) == len(rec.calls) == 2
    signals = 0
    for call, trl_advantages in zip(rec.calls, computed):
        assert call["logprobs"] is None  # nothing reads them: no extra pass, no column
        assert call["source"] is None
        target = []
        for g in range(0, len(call["kind"]), G):
            target += pass_at_k_advantages(call["correct"][g : g + G], 2)
        signals += sum(t != 0.0 for t in target)
        # TRL's reward: the weighted sum of the columns (kind, the term, the recorder's 0).
        rewards = torch.tensor(
            [k + c + 0.0 for k, c in zip(call["kind"], call["column"])], dtype=torch.float32
        )
        assert rewards.tolist() == pytest.approx(target, abs=1e-6)
        # GRPOTrainer's advantage arithmetic (TRL 1.16, scale_rewards="none"): the reward minus
        # its group mean, no division.
        mean_grouped = rewards.view(-1, G).mean(dim=1).repeat_interleave(G, dim=0)
        advantages = rewards - mean_grouped
        assert advantages.tolist() == pytest.approx(target, abs=1e-6)
        # And the advantages GRPOTrainer itself computed for the batch.
        assert trl_advantages == pytest.approx(target, abs=1e-6)
    assert signals > 0, "no group was solved by some but not all rollouts: nothing was checked"


def test_plain_reward_funcs_cannot_supply_logprobs(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    from trl import GRPOConfig, GRPOTrainer

    model, tok = tiny_model_and_tokenizer
    funcs, weights = build_reward_funcs(probe_config(UNLIKELINESS), num_generations=G)
    trainer = GRPOTrainer(
        model,
        reward_funcs=funcs,
        args=GRPOConfig(**tiny_grpo_args(tmp_path, reward_weights=weights)),
        train_dataset=tiny_prompts,
        processing_class=tok,
    )
    with pytest.raises(BatchError, match="RewardKitGRPOTrainer"):
        trainer.train()


def test_passk_through_plain_reward_funcs(
    tiny_model_and_tokenizer: Any, tiny_prompts: Any, tmp_path: Path
) -> None:
    from trl import GRPOConfig, GRPOTrainer

    model, tok = tiny_model_and_tokenizer
    funcs, weights = build_reward_funcs(probe_config(PASSK), num_generations=G)
    trainer = GRPOTrainer(
        model,
        reward_funcs=funcs,
        args=GRPOConfig(**tiny_grpo_args(tmp_path, reward_weights=weights, scale_rewards="none")),
        train_dataset=tiny_prompts,
        processing_class=tok,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    keys = {k for entry in trainer.state.log_history for k in entry}
    assert "rewards/pass_at_k_objective/mean" in keys
