"""``EntropyMaskMixin`` in real tiny ``GRPOTrainer`` runs (1 process, and 2 under torchrun)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from rewardkit.masks import EntropyTopRatioConfig, EntropyTopRatioMask

TESTS = Path(__file__).parent
# --import-mode=importlib puts no test folder on sys.path; trl_tiny has a unique name.
sys.path.append(str(TESTS))
from trl_tiny import build_tiny_model_and_tokenizer, tiny_grpo_args  # noqa: E402

PREFIX = "rewardkit/token_mask/"


def length_reward(completions: list[str], **_: object) -> list[float]:
    return [float(len(c)) for c in completions]


def _trainer(
    tmp_path: Path,
    model_and_tokenizer: tuple[Any, Any],
    prompts: Any,
    *,
    base: type | None = None,
    token_mask: EntropyTopRatioMask | None = None,
    **args: Any,
) -> Any:
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    cls = base or type("MaskedGRPOTrainer", (EntropyMaskMixin, GRPOTrainer), {})
    model, tokenizer = model_and_tokenizer
    return cls(
        model=model,
        processing_class=tokenizer,
        reward_funcs=length_reward,
        args=GRPOConfig(**tiny_grpo_args(tmp_path, **args)),
        train_dataset=prompts,
        token_mask=token_mask,
    )


def _mask(**fields: Any) -> EntropyTopRatioMask:
    return EntropyTopRatioMask(EntropyTopRatioConfig(**fields))


@pytest.mark.slow
def test_global_quantile_mask_equals_trl_native_and_logs_diagnostics(
    tmp_path: Path, tiny_model_and_tokenizer: Any, tiny_prompts: Any
) -> None:
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from trl import GRPOTrainer

    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    class Checked(EntropyMaskMixin, GRPOTrainer):
        def get_high_entropy_mask(self, entropies, mask, threshold):  # type: ignore[no-untyped-def]
            ours = super().get_high_entropy_mask(entropies, mask, threshold)
            native = GRPOTrainer.get_high_entropy_mask(self, entropies, mask, 1 - 0.2)
            seen.append((ours, native, mask))
            return ours

    trainer = _trainer(
        tmp_path,
        tiny_model_and_tokenizer,
        tiny_prompts,
        base=Checked,
        token_mask=_mask(ratio=0.2, select="quantile", scope="global"),
    )
    assert trainer.top_entropy_quantile < 1.0  # the mixin switched TRL's hook on
    trainer.train()
    assert len(seen) == 2
    for ours, native, mask in seen:
        assert ours.dtype == torch.bool and torch.equal(ours, native)
        assert not (ours & ~mask.bool()).any()
    steps = [h for h in trainer.state.log_history if "loss" in h]
    assert len(steps) == 2
    for logs in steps:
        # The mixin's mean entropy is TRL's own `entropy` metric, computed independently.
        assert math.isclose(logs[PREFIX + "entropy_mean"], logs["entropy"], rel_tol=1e-5)
        assert logs[PREFIX + "entropy_p50"] <= logs[PREFIX + "entropy_p80"]
        assert logs[PREFIX + "entropy_p80"] <= logs[PREFIX + "entropy_p95"]
        assert 0.0 < logs[PREFIX + "kept_share"] <= 0.5
        assert logs[PREFIX + "share_over_threshold"] >= logs[PREFIX + "kept_share"]
        forking = logs[PREFIX + "forking_tokens"]
        assert isinstance(forking, str) and ":" in forking
        assert PREFIX + "entropy_correct" not in logs  # no correctness supplied


@pytest.mark.slow
def test_selected_normaliser_scales_the_loss_by_valid_over_kept(
    tmp_path: Path, tiny_prompts: Any
) -> None:
    first_step = {}
    for normalizer in ("all", "selected"):
        trainer = _trainer(
            tmp_path / normalizer,
            build_tiny_model_and_tokenizer(seed=0),
            tiny_prompts,
            token_mask=_mask(ratio=0.3, normalizer=normalizer),
            max_steps=1,
        )
        trainer.train()
        first_step[normalizer] = next(h for h in trainer.state.log_history if "loss" in h)
    all_logs, selected_logs = first_step["all"], first_step["selected"]
    # Same seed, same generations, same mask: only the normaliser differs.
    assert all_logs[PREFIX + "kept_share"] == selected_logs[PREFIX + "kept_share"]
    assert abs(all_logs["loss"]) > 1e-6
    expected = all_logs["loss"] / all_logs[PREFIX + "kept_share"]
    assert math.isclose(selected_logs["loss"], expected, rel_tol=1e-4)


def _trl_aggregate(
    loss_type: str, per_token_loss: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """TRL 1.16 ``GRPOTrainer._compute_loss``'s aggregation for one micro-batch on one process
    with no gradient accumulation (``num_items_in_batch`` = the micro-batch's valid tokens)."""
    if loss_type == "grpo":
        return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    assert loss_type == "dapo"
    return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)


@pytest.mark.slow
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dapo"])
def test_selected_normaliser_divides_by_the_kept_tokens_of_each_trl_loss_type(
    tmp_path: Path, tiny_model_and_tokenizer: Any, tiny_prompts: Any, loss_type: str
) -> None:
    trainer = _trainer(
        tmp_path,
        tiny_model_and_tokenizer,
        tiny_prompts,
        token_mask=_mask(ratio=0.3, normalizer="selected"),  # topk over the micro-batch
        loss_type=loss_type,
    )
    g = torch.Generator().manual_seed(0)
    entropies = torch.rand(6, 10, generator=g)
    lengths = torch.tensor([10, 7, 3, 1, 0, 9])
    mask = (torch.arange(10)[None, :] < lengths[:, None]).long()
    per_token_loss = torch.randn(6, 10, generator=g)
    weights = trainer.get_high_entropy_mask(entropies, mask, 0.7)
    kept = weights > 0
    assert not (kept & ~mask.bool()).any()
    got = _trl_aggregate(loss_type, per_token_loss * weights, mask.float())
    if loss_type == "grpo":
        # The kept-token mean of each response (0 for a response with none kept), then the
        # mean over responses, as TRL's grpo averages each response over its own tokens.
        rows = [per_token_loss[r][kept[r]].mean() if kept[r].any() else 0.0 for r in range(6)]
        expected = torch.tensor([float(v) for v in rows]).mean()
    else:
        expected = per_token_loss[kept].mean()
    assert torch.allclose(got, expected, atol=1e-6), (loss_type, got, expected)
    # A micro-batch of padding only: nothing kept, finite weights, no statistics logged.
    empty = trainer.get_high_entropy_mask(entropies, torch.zeros_like(mask), 0.7)
    assert torch.equal(empty, torch.zeros_like(empty)) and torch.isfinite(empty).all()


@pytest.mark.slow
def test_correctness_in_the_inputs_gives_correct_and_incorrect_entropy(
    tmp_path: Path, tiny_model_and_tokenizer: Any, tiny_prompts: Any
) -> None:
    from rewardkit_trl._entropy_mask import EntropyMaskMixin
    from trl import GRPOTrainer

    class WithCorrectness(EntropyMaskMixin, GRPOTrainer):
        # Stands in for the composing trainer, which derives this from rewardkit outcomes.
        def _generate_and_score_completions(self, inputs):  # type: ignore[no-untyped-def]
            out = super()._generate_and_score_completions(inputs)
            out[self.correct_key] = (torch.arange(len(out["advantages"])) % 2).float()
            return out

    trainer = _trainer(
        tmp_path,
        tiny_model_and_tokenizer,
        tiny_prompts,
        base=WithCorrectness,
        token_mask=_mask(ratio=0.2),
    )
    trainer.train()
    logs = next(h for h in trainer.state.log_history if "loss" in h)
    assert PREFIX + "entropy_correct" in logs and PREFIX + "entropy_incorrect" in logs
    low = min(logs[PREFIX + "entropy_correct"], logs[PREFIX + "entropy_incorrect"])
    high = max(logs[PREFIX + "entropy_correct"], logs[PREFIX + "entropy_incorrect"])
    assert low <= logs[PREFIX + "entropy_mean"] <= high


@pytest.mark.slow
def test_without_a_mask_trl_behaviour_is_untouched(
    tmp_path: Path, tiny_model_and_tokenizer: Any, tiny_prompts: Any
) -> None:
    trainer = _trainer(tmp_path, tiny_model_and_tokenizer, tiny_prompts, max_steps=1)
    assert trainer.top_entropy_quantile == 1.0
    trainer.train()
    logs = next(h for h in trainer.state.log_history if "loss" in h)
    assert not [k for k in logs if k.startswith(PREFIX)]


@pytest.mark.slow
def test_mask_and_native_quantile_together_is_an_error(
    tmp_path: Path, tiny_model_and_tokenizer: Any, tiny_prompts: Any
) -> None:
    with pytest.raises(ValueError, match="top_entropy_quantile"):
        _trainer(
            tmp_path,
            tiny_model_and_tokenizer,
            tiny_prompts,
            token_mask=_mask(),
            top_entropy_quantile=0.2,
        )
    with pytest.raises(TypeError, match="TokenMaskComponent"):
        _trainer(tmp_path, tiny_model_and_tokenizer, tiny_prompts, token_mask=0.2)  # type: ignore[arg-type]


def _run_worker_on_two_processes() -> list[dict[str, Any]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(TESTS / "trl_entropy_worker.py"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=TESTS)
    output = proc.stdout + proc.stderr
    # The ranks share one stdout pipe and print writes the text and its newline separately, so
    # two reports can land on one line: decode each JSON object after its marker.
    decoder = json.JSONDecoder()
    reports = [decoder.raw_decode(chunk)[0] for chunk in proc.stdout.split("RESULT ")[1:] if chunk]
    # Teardown of a finished torchrun run can exit non-zero (TRL notes, section 10; as in
    # test_trl_distributed.py): the reports both ranks printed decide, not the exit code.
    if sorted(r.get("rank") for r in reports) != [0, 1]:
        raise AssertionError(
            f"torchrun did not report from both ranks (exit {proc.returncode}):\n{output[-4000:]}"
        )
    return reports


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_mask_equals_trl_native_and_stats_agree_across_ranks() -> None:
    reports = _run_worker_on_two_processes()
    assert sorted(r["rank"] for r in reports) == [0, 1]
    for report in reports:
        assert report["world"] == 2
        assert report["calls"] == 3 and report["mismatches"] == 0
        assert report["same_stats"] and report["forking_logged"]
        assert 0 < report["kept"] < report["valid"]
