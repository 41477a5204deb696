"""pass_at_k_objective and unlikeliness on verl: shaped totals against verl's own GRPO advantage
code, log-probs read from verl's tensors, and the registered trainer on a real TransferQueue."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rewardkit_verl._logprobs import logprob_rows
from rewardkit_verl._scorer import close_scorers, scorer_for
from rewardkit_verl._settings import settings_from_kwargs
from rewardkit_verl._shaping import BatchShaper
from verl_testlib import generated_trainer_config, local_ray

from rewardkit import Rollout
from rewardkit.shaping import pass_at_k_advantages, unlikeliness_factors

PROMPT = [{"role": "user", "content": "Which letter?"}]
PASSK = {
    "rewards": [{"type": "math", "name": "acc"}],
    "shaping": [{"type": "pass_at_k_objective", "k": 2, "answer_from": "acc"}],
    "engine": {"workers": 1},
}
UNLIKELINESS = {
    "rewards": [{"type": "math", "name": "acc"}],
    "shaping": [{"type": "unlikeliness", "beta": 0.5}],
    "engine": {"workers": 1},
}


@pytest.fixture(autouse=True, scope="module")
def _stop_scorers() -> Any:
    yield
    close_scorers()


def _settings(config: dict[str, Any]) -> Any:
    return settings_from_kwargs({"rewardkit_config": config}, where="test")


def _rollout(answer: str, uid: str, logprobs: list[float] | None = None) -> Rollout:
    return Rollout(
        prompt=PROMPT,
        completion=f"I think the answer is \\boxed{{{answer}}}",
        group=uid,
        reference="a",
        completion_logprobs=logprobs,
    )


def _shape(config: dict[str, Any], rollouts: list[Rollout]) -> tuple[list[float], list[float]]:
    settings = _settings(config)
    scorer = scorer_for(settings)
    infos = [scorer.score(r) for r in rollouts]
    shaper = BatchShaper(settings)
    keys = [f"{r.group}_{i}_0" for i, r in enumerate(rollouts)]
    shaped = shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=1)
    base = [info["score"] for info in infos]
    return base, [b + d for b, d in zip(base, shaped.deltas)]


def _grpo_advantages(totals: list[float], uids: list[str], lengths: list[int], **kw: Any) -> Any:
    """verl's own GRPO outcome advantage on rewards placed on each response's last token."""
    import torch
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    width = max(lengths)
    rewards = torch.zeros(len(totals), width)
    mask = torch.zeros(len(totals), width)
    for i, (t, n) in enumerate(zip(totals, lengths)):
        rewards[i, n - 1] = t
        mask[i, :n] = 1
    adv, _ = compute_grpo_outcome_advantage(
        token_level_rewards=rewards, response_mask=mask, index=np.array(uids, dtype=object), **kw
    )
    return adv, mask


def test_passk_totals_are_verls_grpo_advantage_without_std() -> None:
    # Group u0: one correct of four (k=2: [1, -1/3, -1/3, -1/3]); u1: two of four (+-1/sqrt 5).
    answers = [("a", "u0"), ("b", "u0"), ("c", "u0"), ("b", "u0")]
    answers += [("a", "u1"), ("c", "u1"), ("a", "u1"), ("d", "u1")]
    rollouts = [_rollout(a, u) for a, u in answers]
    base, totals = _shape(PASSK, rollouts)
    assert base == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    target = pass_at_k_advantages([True, False, False, False], 2)
    target += pass_at_k_advantages([True, False, True, False], 2)
    r5 = 5**-0.5
    assert target == pytest.approx([1, -1 / 3, -1 / 3, -1 / 3, r5, -r5, r5, -r5])
    assert totals == pytest.approx(target)

    uids = [u for _, u in answers]
    lengths = [3, 5, 2, 4, 4, 1, 3, 2]
    adv, mask = _grpo_advantages(totals, uids, lengths, norm_adv_by_std_in_grpo=False)
    for i, t in enumerate(target):
        valid = adv[i][mask[i].bool()]
        assert valid.tolist() == pytest.approx([t] * lengths[i], abs=1e-6)
    # With verl's default std normalisation the advantage is a rescaled one instead.
    scaled, _ = _grpo_advantages(totals, uids, lengths)
    assert scaled[0, 0].item() != pytest.approx(1.0, abs=1e-3)


def test_unlikeliness_on_the_shaper() -> None:
    means = [-0.1, -0.5, -0.3, -0.9]
    rollouts = [_rollout("a", "u0", [m, m]) for m in means]
    rollouts.append(_rollout("b", "u1", [-0.2]))  # a wrong answer keeps 0 whatever its rank
    rollouts.append(_rollout("a", "u1", [-0.1]))
    base, totals = _shape(UNLIKELINESS, rollouts)
    assert base == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    assert totals == pytest.approx([0.625, 0.875, 0.75, 1.0, 0.0, 1 - 0.5 * 1 / 2])


def test_logprob_rows_from_padded_and_jagged_tensors() -> None:
    import torch
    from verl.workers.utils.padding import response_to_nested

    logps = torch.tensor([[-0.5, -1.0, -2.0], [-0.25, 0.0, 0.0], [-3.0, -1.0, 0.0]])
    # Row 2 is an agent-loop response whose middle token came from a tool (mask 0).
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 0, 1]])
    assert logprob_rows(logps, mask) == [[-0.5, -1.0, -2.0], [-0.25], [-3.0, 0.0]]
    jagged_mask = torch.nested.as_nested_tensor(
        [torch.tensor([1, 1, 1]), torch.tensor([1]), torch.tensor([1, 0, 1])], layout=torch.jagged
    )
    nested = response_to_nested(logps, jagged_mask)
    assert logprob_rows(nested, jagged_mask) == [[-0.5, -1.0, -2.0], [-0.25], [-3.0, 0.0]]


@pytest.fixture(scope="module")
def ray_session() -> Any:
    with local_ray() as ray:
        yield ray


@pytest.mark.slow
def test_trainer_reads_old_log_probs_from_transfer_queue(ray_session: Any, tokenizer: Any) -> None:
    import torch
    import transfer_queue as tq
    from omegaconf import OmegaConf
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    config = generated_trainer_config(UNLIKELINESS)
    config.algorithm.adv_estimator = "grpo"  # norm_adv_by_std_in_grpo: verl's default, True
    config.actor_rollout_ref.rollout.n = 4
    trainer = get_trainer_cls("rewardkit")(config)
    trainer.tokenizer = tokenizer
    trainer.global_steps = 1

    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    try:
        scorer = scorer_for(_settings(UNLIKELINESS))
        answers = ["a", "a", "b", "a"]
        token_means = [-0.1, -0.5, -0.3, -0.9]
        keys, rows, tags, base, lengths = [], [], [], [], []
        for s, (answer, m) in enumerate(zip(answers, token_means)):
            text = f"so {'x' * s}\\boxed{{{answer}}}"  # lengths differ: jagged rows
            info = scorer.score(Rollout(prompt=PROMPT, completion=text, reference="a"))
            ids = torch.tensor(tokenizer.encode(text))
            rm = torch.zeros(len(ids))
            rm[-1] = info["score"]
            # Token log-probs with mean m; the first token is a tool token (mask 0, log-prob
            # 0), which must not count.
            lp = torch.full((len(ids),), m)
            lp[0] = 0.0
            response_mask = torch.ones(len(ids), dtype=torch.int64)
            response_mask[0] = 0
            keys.append(f"uidA_{s}_0")
            base.append(info["score"])
            lengths.append(len(ids))
            rows.append(
                {
                    "uid": "uidA",
                    "prompts": torch.tensor(tokenizer.encode(PROMPT[0]["content"])),
                    "responses": ids,
                    "response_mask": response_mask,
                    "rm_scores": rm,
                    "old_log_probs": lp,
                    "entropy": torch.ones(len(ids)),
                    "extra_fields": {"reward_extra_info": info},
                    "raw_prompt": PROMPT,
                    "reward_model": {"ground_truth": "a"},
                    "data_source": "test",
                    "index": 0,
                }
            )
            tags.append({"status": "success"})
        tq.kv_batch_put(
            keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(rows), tags=tags
        )
        metrics: dict[str, float] = {}
        trainer._compute_advantage(KVBatchMeta(keys=keys, tags=tags, partition_id="train"), metrics)
        out = tq.kv_batch_get(
            keys=keys, partition_id="train", select_fields=["rm_scores", "advantages"]
        )
        scores = [t.sum().item() for t in out["rm_scores"].unbind()]
        assert base == [1.0, 1.0, 0.0, 1.0]
        expected = [b * f for b, f in zip(base, unlikeliness_factors(token_means, 0.5))]
        assert expected == pytest.approx([0.625, 0.875, 0.0, 1.0])
        assert scores == pytest.approx(expected, abs=1e-6)
        assert metrics["rewardkit/unlikeliness/mean"] == pytest.approx(3.25 / 4)
        # The reference then normalises per group: (r - mean) / (std + 1e-6), torch's unbiased
        # std; verl's GRPO with std normalisation is that same arithmetic.
        mean = sum(expected) / 4
        std = (sum((e - mean) ** 2 for e in expected) / 3) ** 0.5
        for i, adv in enumerate(out["advantages"].unbind()):
            valid = adv[rows[i]["response_mask"].bool()]
            want = (expected[i] - mean) / (std + 1e-6)
            assert valid.tolist() == pytest.approx([want] * (lengths[i] - 1), abs=1e-5)
    finally:
        tq.close()
