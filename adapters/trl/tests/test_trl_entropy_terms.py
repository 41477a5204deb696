"""The ``token:`` terms (entropy_advantage, clip_cov, kl_cov, token_entropy) in real tiny
``RewardKitGRPOTrainer`` runs: 2 steps each (metrics logged, loss finite), and the gradient of
one real micro-batch with the term versus without it."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from rewardkit_trl import RewardKitGRPOTrainer

sys.path.append(str(Path(__file__).parent))
from trl_tiny import build_tiny_model_and_tokenizer, tiny_grpo_args

pytestmark = pytest.mark.slow


def length_reward(completions: list[str], **_: object) -> list[float]:
    return [float(len(c)) for c in completions]


def _config(term: dict[str, Any]) -> dict[str, Any]:
    return {
        "rewards": [{"type": "keyword", "name": "digits", "keywords": ["1", "2"]}],
        "token": [term],
    }


TERMS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "entropy_advantage": (
        {"type": "entropy_advantage"},
        ["rewardkit/entropy_advantage/bonus_mean"],
    ),
    "clip_cov": (
        {"type": "clip_cov", "ratio": 0.5, "cov_lower": -1000.0, "cov_upper": 1000.0},
        ["rewardkit/clip_cov/selected_share"],
    ),
    "kl_cov": (
        {"type": "kl_cov", "ratio": 0.5, "coef": 1.0},
        ["rewardkit/kl_cov/selected_share", "rewardkit/kl_cov/penalty_mean"],
    ),
    "token_entropy": (
        {"type": "token_entropy"},
        [
            "rewardkit/token_entropy/mean",
            "rewardkit/token_entropy/p50",
            "rewardkit/token_entropy/p95",
            "rewardkit/token_entropy/mass_top",
            "rewardkit/token_entropy/high_entropy_tokens",
        ],
    ),
}


def _trainer(tmp_path: Path, term: dict[str, Any], **args: Any) -> RewardKitGRPOTrainer:
    from trl import GRPOConfig

    torch.set_num_threads(1)
    model, tokenizer = build_tiny_model_and_tokenizer(seed=0)
    from datasets import Dataset
    from trl_tiny import tiny_prompt_texts

    return RewardKitGRPOTrainer(
        model,
        _config(term),
        reward_funcs=[length_reward],
        args=GRPOConfig(**tiny_grpo_args(tmp_path, **args)),
        train_dataset=Dataset.from_dict({"prompt": tiny_prompt_texts()}),
        processing_class=tokenizer,
    )


@pytest.mark.parametrize("name", list(TERMS))
def test_two_step_run_logs_the_term(name: str, tmp_path: Path) -> None:
    term, keys = TERMS[name]
    trainer = _trainer(tmp_path, term)
    assert trainer.token_mask is None  # no mask configured: the hook runs for the term alone
    trainer.train()
    steps = [h for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == 2
    for logs in steps:
        assert math.isfinite(logs["loss"])
        for key in keys:
            assert key in logs, (key, sorted(logs))
    if name == "token_entropy":
        for logs in steps:
            # The term's mean is TRL's own `entropy` metric, computed independently.
            assert math.isclose(logs["rewardkit/token_entropy/mean"], logs["entropy"], rel_tol=1e-5)
            assert logs["rewardkit/token_entropy/p50"] <= logs["rewardkit/token_entropy/p95"]
            # The top 20% of tokens by entropy hold at least 20% of the entropy mass.
            assert 0.2 <= logs["rewardkit/token_entropy/mass_top"] <= 1.0
            assert ":" in logs["rewardkit/token_entropy/high_entropy_tokens"]
    if name in ("clip_cov", "kl_cov"):
        share = steps[0][f"rewardkit/{name}/selected_share"]
        assert 0.0 < share <= 0.5


def _micro_batch(trainer: RewardKitGRPOTrainer) -> dict[str, Any]:
    """One real training micro-batch (generated, scored, advantages computed), with old
    log-probs 0.3 nats off the current ones so KL-Cov's |log π - log π_old| is not 0."""
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which is not running
    raw = next(iter(trainer.get_train_dataloader()))
    inputs = dict(trainer._prepare_inputs(raw))
    assert inputs["advantages"].abs().sum() > 0
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attn = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, attn, inputs["completion_ids"].size(1)
        )
    g = torch.Generator().manual_seed(0)
    inputs["old_per_token_logps"] = logps + 0.3 * torch.randn(logps.shape, generator=g)
    return inputs


def _grad(trainer: RewardKitGRPOTrainer, inputs: dict[str, Any]) -> torch.Tensor:
    trainer.model.zero_grad()
    loss = trainer._compute_loss(trainer.model, inputs)
    assert torch.isfinite(loss)
    loss.backward()
    return torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])


@pytest.mark.parametrize("name", list(TERMS))
def test_term_changes_the_gradient_versus_off(name: str, tmp_path: Path) -> None:
    term, _ = TERMS[name]
    trainer = _trainer(tmp_path, term)
    inputs = _micro_batch(trainer)
    advantages = inputs["advantages"].clone()
    torch.manual_seed(0)
    on = _grad(trainer, inputs)
    assert torch.equal(inputs["advantages"], advantages)  # the buffered batch is left alone
    # Off: as a trainer built without the term (no terms, TRL's entropy hook not switched on).
    trainer.token_terms = ()
    trainer.top_entropy_quantile = 1.0
    off = _grad(trainer, inputs)
    if name == "token_entropy":  # a diagnostic: the same gradient, bit for bit
        assert torch.equal(on, off)
    else:
        assert not torch.allclose(on, off), name


BOX_WORDS = ("\\", "boxed", "{", "}")


def test_token_entropy_answer_span_in_a_real_micro_batch(tmp_path: Path) -> None:
    """Completions that state ``\\boxed{42}``: the logged answer-span entropy is the mean entropy
    of the two tokens ``4`` ``2`` and rest_mean that of the other tokens of those rows."""
    from datasets import Dataset
    from trl import GRPOConfig
    from trl_tiny import WORDS, tiny_prompt_texts

    torch.set_num_threads(1)
    model, tokenizer = build_tiny_model_and_tokenizer((*WORDS, *BOX_WORDS), seed=0)
    trainer = RewardKitGRPOTrainer(
        model,
        _config({"type": "token_entropy"}),
        reward_funcs=[length_reward],
        args=GRPOConfig(**tiny_grpo_args(tmp_path)),
        train_dataset=Dataset.from_dict({"prompt": tiny_prompt_texts()}),
        processing_class=tokenizer,
    )
    inputs = _micro_batch(trainer)
    ids, mask = inputs["completion_ids"].clone(), inputs["completion_mask"]
    box = tokenizer.convert_tokens_to_ids(["\\", "boxed", "{", "4", "2", "}"])
    rows = [b for b in range(ids.shape[0]) if int(mask[b].sum()) >= len(box)]
    assert rows, "the tiny run generated no completion long enough"
    boxed = rows[::2]  # every other long row states the answer, the others do not
    for b in boxed:
        ids[b, 1 : 1 + len(box)] = torch.tensor(box)
    # No accidental answer elsewhere: no box, and no "answer is" cue.
    cues = torch.tensor([*box[:3], tokenizer.convert_tokens_to_ids("answer")])
    for b in range(ids.shape[0]):
        if b not in boxed:
            ids[b][torch.isin(ids[b], cues)] = box[3]
    inputs["completion_ids"] = ids
    trainer._metrics["train"].clear()
    trainer._compute_loss(trainer.model, inputs)
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    full = torch.cat([inputs["prompt_ids"], ids], dim=1)
    attn = torch.cat([inputs["prompt_mask"], mask], dim=1)
    with torch.no_grad():
        _, h, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, full, attn, ids.size(1), compute_entropy=True
        )
    valid = mask.bool()
    answer = torch.zeros_like(valid)
    for b in boxed:
        answer[b, 4:6] = True  # the tokens "4" "2" after "\\" "boxed" "{"
    answer &= valid
    rest = valid & ~answer
    rest[[b for b in range(ids.shape[0]) if b not in boxed]] = False
    prefix = "rewardkit/token_entropy/"
    rows_with_tokens = int(valid.any(dim=1).sum())
    assert logged[prefix + "answer_found_share"] == pytest.approx(len(boxed) / rows_with_tokens)
    assert logged[prefix + "answer_span_mean"] == pytest.approx(float(h[answer].mean()), rel=1e-5)
    assert logged[prefix + "rest_mean"] == pytest.approx(float(h[rest].mean()), rel=1e-5)
    assert logged[prefix + "answer_span_mean"] != pytest.approx(logged[prefix + "mean"])


def test_rloo_rejects_the_token_list_with_a_message_that_names_it(tmp_path: Path) -> None:
    from rewardkit_trl import RewardKitRLOOTrainer
    from trl import RLOOConfig

    from rewardkit import ConfigError

    model, tokenizer = build_tiny_model_and_tokenizer(seed=0)
    with pytest.raises(ConfigError, match="token: list"):
        RewardKitRLOOTrainer(
            model,
            _config({"type": "token_entropy"}),
            args=RLOOConfig(**tiny_grpo_args(tmp_path, beta=0.0)),
            processing_class=tokenizer,
        )


@pytest.mark.distributed
def test_two_processes_log_the_single_process_token_metrics() -> None:
    """torchrun, 2 ranks: token_entropy (quantiles, mass_top, answer span) and kl_cov's share
    are logged identically on both ranks and equal one process's numbers on the concatenated
    micro-batches (``trl_token_terms_worker.py`` checks each micro-batch)."""
    import json
    import os
    import subprocess

    here = Path(__file__).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(here / "trl_token_terms_worker.py"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=here)
    # The ranks share one stdout pipe: decode each JSON object after its marker.
    decoder = json.JSONDecoder()
    reports = [decoder.raw_decode(chunk)[0] for chunk in proc.stdout.split("RESULT ")[1:] if chunk]
    # Teardown of a finished torchrun run can exit non-zero (as in test_trl_distributed.py):
    # the reports both ranks printed decide.
    assert sorted(r.get("rank") for r in reports) == [0, 1], (proc.stdout + proc.stderr)[-4000:]
    for report in reports:
        assert report["world"] == 2 and report["calls"] > 0
        assert report["problems"] == [], report
        assert report["spans"] > 0
