"""The entropy mask inside verl 0.9.1, against verl's real functions on CPU: ``ppo_loss`` (the
loss wrapper, padded and jagged layouts) and GRPO advantages on a ``DataProto`` (driver side)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from rewardkit.masks import EntropyTopRatioConfig, EntropyTopRatioMask, entropy_mask

pytest.importorskip("verl")

from rewardkit_verl._entropy_mask import (
    EntropyMaskedPPOLoss,
    EntropyNotComputedError,
    apply_entropy_mask_to_batch,
    mask_advantages_nested,
    patch_ppo_loss,
)
from tensordict import TensorDict
from verl import DataProto
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
from verl.utils import tensordict_utils as tu
from verl.workers.config import FSDPActorConfig
from verl.workers.utils import losses
from verl.workers.utils.padding import no_padding_2_padding, response_to_nested

PROMPT_LENS = [2, 4, 3, 1]
RESPONSE_LENS = [6, 2, 5, 4]
P, R = 4, 6


def _mask(**fields: Any) -> EntropyTopRatioMask:
    return EntropyTopRatioMask(EntropyTopRatioConfig(**fields))


def _actor_config(**overrides: Any) -> FSDPActorConfig:
    return FSDPActorConfig(
        strategy="fsdp",
        ppo_mini_batch_size=4,
        ppo_micro_batch_size_per_gpu=4,
        rollout_n=1,
        **overrides,
    )


def _micro_batch(nested: bool, seed: int = 0) -> tuple[TensorDict, dict[str, torch.Tensor]]:
    """A micro-batch as verl's engine hands it to ``ppo_loss``: left-padded prompts,
    right-padded responses (or jagged ones), and the model output over the unpadded tokens."""
    g = torch.Generator().manual_seed(seed)
    b = len(PROMPT_LENS)
    prompts = torch.zeros(b, P, dtype=torch.long)
    responses = torch.zeros(b, R, dtype=torch.long)
    attention = torch.zeros(b, P + R, dtype=torch.long)
    for i, (pl, rl) in enumerate(zip(PROMPT_LENS, RESPONSE_LENS)):
        attention[i, P - pl : P] = 1
        attention[i, P : P + rl] = 1
        prompts[i, P - pl :] = torch.randint(5, 30, (pl,), generator=g)
        responses[i, :rl] = torch.randint(5, 30, (rl,), generator=g)
    response_mask = attention[:, P:].clone()
    nnz = int(attention.sum())
    log_probs = (-torch.rand(nnz, generator=g)).requires_grad_()
    entropy = torch.rand(nnz, generator=g) * 2
    advantages = torch.randn(b, generator=g)[:, None].expand(b, R) + 0.1
    fields: dict[str, Any] = {
        "prompts": prompts,
        "responses": responses,
        "attention_mask": attention,
        "response_mask": response_mask,
        "advantages": advantages.contiguous(),
    }
    non_tensor = {
        "dp_size": 1,
        "batch_num_tokens": int(response_mask.sum()),
        "global_batch_size": b,
    }
    data = tu.get_tensordict(fields, non_tensor_dict=non_tensor)
    # On-policy: old log-probs are the current ones, so every ratio is 1 and -A is the pg loss.
    data["old_log_probs"] = no_padding_2_padding(log_probs.detach(), data)
    if nested:

        def jag(x: torch.Tensor) -> torch.Tensor:
            return torch.nested.as_nested_tensor(
                [x[i, :n] for i, n in enumerate(RESPONSE_LENS)], layout=torch.jagged
            )

        fields = {
            "prompts": torch.nested.as_nested_tensor(
                [prompts[i, P - n :] for i, n in enumerate(PROMPT_LENS)], layout=torch.jagged
            ),
            "responses": jag(responses),
            "response_mask": jag(response_mask),
            "advantages": jag(advantages.contiguous()),
            "old_log_probs": jag(data["old_log_probs"]),
        }
        data = tu.get_tensordict(fields, non_tensor_dict=non_tensor)
    return data, {"log_probs": log_probs, "entropy": entropy}


def _padded(data: TensorDict, key: str) -> torch.Tensor:
    return data.select(key).to_padded_tensor()[key]


def _metric(metrics: dict[str, Any], key: str) -> float:
    value = metrics[key]
    return float(value.aggregate() if hasattr(value, "aggregate") else value)


# --------------------------------------------------------------------------- A. loss wrapper


@pytest.mark.parametrize("nested", [False, True], ids=["padded", "jagged"])
@pytest.mark.parametrize("normalizer", ["all", "selected"])
def test_loss_wrapper_gates_the_policy_gradient_to_kept_tokens(
    nested: bool, normalizer: str
) -> None:
    data, output = _micro_batch(nested)
    token_mask = _mask(ratio=0.3, normalizer=normalizer)
    loss, metrics = EntropyMaskedPPOLoss(token_mask)(_actor_config(), output, data)
    loss.backward()

    entropy = no_padding_2_padding(output["entropy"], data)
    valid = _padded(data, "response_mask").bool()
    kept = entropy_mask(entropy, valid, 0.3)
    grads = no_padding_2_padding(output["log_probs"].grad, data)
    assert torch.equal(grads != 0, kept)  # gradient exactly on the kept tokens

    advantages = _padded(data, "advantages")
    denominator = valid.sum() if normalizer == "all" else kept.sum()
    expected_pg = float(-(advantages * kept).sum() / denominator)
    assert math.isclose(_metric(metrics, "actor/pg_loss"), expected_pg, rel_tol=1e-5)
    assert math.isclose(
        _metric(metrics, "rewardkit/token_mask/kept_share"),
        int(kept.sum()) / int(valid.sum()),
        rel_tol=1e-9,
    )
    # The caller's micro-batch is untouched (ppo_epochs > 1 reuses it).
    assert torch.equal(_padded(data, "advantages"), advantages)


@pytest.mark.parametrize("nested", [False, True], ids=["padded", "jagged"])
def test_selected_with_seq_mean_token_mean_is_each_responses_kept_mean(nested: bool) -> None:
    data, output = _micro_batch(nested, seed=3)
    config = _actor_config(loss_agg_mode="seq-mean-token-mean")
    _, metrics = EntropyMaskedPPOLoss(_mask(ratio=0.3, normalizer="selected"))(config, output, data)
    entropy = no_padding_2_padding(output["entropy"], data)
    valid = _padded(data, "response_mask").bool()
    kept = entropy_mask(entropy, valid, 0.3)  # over the micro-batch: keep rates differ by row
    assert len({round(float(kept[r].sum() / valid[r].sum()), 6) for r in range(4)}) > 1
    advantages = _padded(data, "advantages")
    # On-policy every ratio is 1, so each response's loss is -(mean A over its kept tokens);
    # verl then averages over the responses (all non-empty here).
    rows = [
        -advantages[r][kept[r]].mean() if kept[r].any() else torch.tensor(0.0) for r in range(4)
    ]
    expected_pg = float(torch.stack(rows).mean())
    assert math.isclose(_metric(metrics, "actor/pg_loss"), expected_pg, rel_tol=1e-5)


def test_loss_wrapper_leaves_entropy_and_kl_terms_unmasked() -> None:
    data, output = _micro_batch(nested=False)
    data["ref_log_prob"] = data["old_log_probs"] - 0.1
    config = _actor_config(use_kl_loss=True, entropy_coeff=0.01)
    _, plain = losses.ppo_loss(config, output, data)
    _, masked = EntropyMaskedPPOLoss(_mask(ratio=0.2))(config, output, data)
    for key in ("actor/entropy_loss", "kl_loss"):
        assert math.isclose(_metric(masked, key), _metric(plain, key), rel_tol=1e-6)
    assert not math.isclose(_metric(masked, "actor/pg_loss"), _metric(plain, "actor/pg_loss"))


def test_loss_wrapper_with_ratio_one_is_verls_loss() -> None:
    data, output = _micro_batch(nested=True)
    config = _actor_config()
    plain, _ = losses.ppo_loss(config, output, data)
    masked, _ = EntropyMaskedPPOLoss(_mask(ratio=1.0))(config, output, data)
    assert torch.allclose(plain, masked)


def test_loss_wrapper_without_entropy_says_how_to_turn_it_on() -> None:
    data, output = _micro_batch(nested=False)
    del output["entropy"]
    with pytest.raises(EntropyNotComputedError, match="calculate_entropy=True"):
        EntropyMaskedPPOLoss(_mask())(_actor_config(), output, data)


def test_patch_ppo_loss_swaps_and_restores_verls_function() -> None:
    original = losses.ppo_loss
    restore = patch_ppo_loss(_mask(ratio=0.5))
    try:
        assert isinstance(losses.ppo_loss, EntropyMaskedPPOLoss)
        assert losses.ppo_loss.base is original
        # A second wrapper built while patched still wraps verl's function, not the wrapper.
        assert EntropyMaskedPPOLoss(_mask()).base is original
    finally:
        restore()
    assert losses.ppo_loss is original


# --------------------------------------------------------------------------- B. advantages


class _Decode:
    def decode(self, ids: list[int]) -> str:
        return f"w{ids[0]}"


def _grpo_batch(with_entropy: bool = True) -> DataProto:
    g = torch.Generator().manual_seed(7)
    b, r = 8, 6
    lengths = torch.tensor([6, 3, 5, 6, 2, 6, 4, 1])
    response_mask = (torch.arange(r)[None, :] < lengths[:, None]).float()
    scores = torch.zeros(b, r)
    scores[torch.arange(b), lengths - 1] = torch.tensor([1.0, 0, 1, 0, 1, 1, 0, 0])
    uid = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    advantages, returns = compute_grpo_outcome_advantage(scores, response_mask, uid)
    tensors = {
        "responses": torch.randint(0, 9, (b, r), generator=g),
        "response_mask": response_mask,
        "advantages": advantages,
        "returns": returns,
    }
    if with_entropy:
        tensors["entropy"] = torch.rand(b, r, generator=g) * 3
    return DataProto.from_dict(tensors=tensors, non_tensors={"uid": uid})


@pytest.mark.parametrize("normalizer", ["all", "selected"])
def test_driver_side_masking_of_grpo_advantages(normalizer: str) -> None:
    data = _grpo_batch()
    before = data.batch["advantages"].clone()
    valid = data.batch["response_mask"].bool()
    kept = entropy_mask(data.batch["entropy"], valid, 0.2)
    stats = apply_entropy_mask_to_batch(data, _mask(ratio=0.2, normalizer=normalizer))
    after = data.batch["advantages"]
    scale = 1.0 if normalizer == "all" else float(valid.sum() / kept.sum())
    assert torch.allclose(after, before * kept * scale)
    assert stats.num_kept == int(kept.sum()) == math.ceil(0.2 * int(valid.sum()))
    words = stats.forking_tokens(_Decode(), top=3)
    assert words and sum(c for _, c in stats.kept_token_counts) == stats.num_kept
    assert all(text.startswith("w") for text, _ in words)


def test_driver_side_masking_without_entropy_points_at_bypass_mode() -> None:
    with pytest.raises(EntropyNotComputedError, match="bypass_mode"):
        apply_entropy_mask_to_batch(_grpo_batch(with_entropy=False), _mask())


def test_jagged_transfer_queue_fields_match_the_padded_result() -> None:
    data = _grpo_batch()
    padded = data.batch.clone()
    lengths = data.batch["response_mask"].sum(-1).long()
    nested_mask = torch.nested.as_nested_tensor(
        [data.batch["response_mask"][i, :n] for i, n in enumerate(lengths)], layout=torch.jagged
    )
    fields = TensorDict(
        {
            key: response_to_nested(data.batch[key], nested_mask)
            for key in ("advantages", "entropy", "responses")
        }
        | {"response_mask": nested_mask},
        batch_size=[len(lengths)],
    )
    token_mask = _mask(ratio=0.3, normalizer="selected")
    masked, stats = mask_advantages_nested(fields, token_mask)
    assert masked.is_nested
    apply_entropy_mask_to_batch(data, token_mask)
    as_padded = masked.to_padded_tensor(0.0)
    assert torch.allclose(as_padded, data.batch["advantages"][:, : as_padded.shape[1]])
    assert stats.num_tokens == int(padded["response_mask"].sum())
    with pytest.raises(EntropyNotComputedError):
        mask_advantages_nested(fields.exclude("entropy"), token_mask)


def test_driver_side_forking_tokens_follow_top_tokens(
    tokenizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from rewardkit_verl._trainer import log_forking_tokens

    from rewardkit.masks import format_forking_tokens

    stats = apply_entropy_mask_to_batch(_grpo_batch(), _mask(ratio=0.5))
    assert len(stats.kept_token_counts) > 2  # more distinct kept tokens than we ask for
    with caplog.at_level(logging.INFO, logger="rewardkit_verl"):
        line = log_forking_tokens(stats, _mask(ratio=0.5, top_tokens=2), tokenizer)
        off = log_forking_tokens(stats, _mask(ratio=0.5, top_tokens=0), tokenizer)
    expected = format_forking_tokens(stats.forking_tokens(tokenizer, top=2))
    assert line == f"rewardkit: forking tokens {expected}"
    assert off is None  # top_tokens: 0 turns the line off
    logged = [r.getMessage() for r in caplog.records if "forking tokens" in r.getMessage()]
    assert logged == [line]
