"""rewardkit inside a real local Ray cluster: verl's ``RewardLoopWorker`` as a Ray actor scoring
with rewardkit's worker-process engine (deadline held, processes stopped when the actor closes
or dies), and the ``rewardkit`` trainer's shaping and entropy mask on a real TransferQueue
batch through verl's own ``_compute_advantage``.

One Ray session for the module: starting Ray and TransferQueue is most of the cost.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from rewardkit_verl._extra_info import OUTCOME_CODES
from rewardkit_verl._scorer import close_scorers, scorer_for
from rewardkit_verl._settings import settings_from_kwargs
from verl_testlib import (
    close_scorer,
    engine_worker_pids,
    generated_trainer_config,
    local_ray,
    make_dataproto,
    process_gone,
    verl_config,
)

from rewardkit import Rollout

pytestmark = pytest.mark.slow

TOWER = "\\boxed{9^{9^{9^{9}}}}"
MATH_CONFIG = {
    "rewards": [{"type": "math", "name": "acc", "timeout_s": 1.0}],
    "engine": {"workers": 1, "start_method": "spawn"},
}


@pytest.fixture(scope="module")
def ray_session() -> Any:
    with local_ray() as ray:
        yield ray
    close_scorers()


def _wait_gone(pids: list[int], timeout_s: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if not process_gone(p)]
        time.sleep(0.1)
    return alive


def test_reward_worker_actor_scores_with_deadlines_and_stops_its_engine(
    ray_session: Any, tokenizer: Any, tokenizer_dir: Path
) -> None:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    ray = ray_session
    chat = [{"role": "user", "content": "What is 2 + 2?"}]
    responses = ["So \\boxed{4}", "\\boxed{5}", TOWER, "", "Again: \\boxed{4}"]
    data = make_dataproto(
        tokenizer,
        prompts=[chat] * 5,
        responses=responses,
        ground_truths=["4"] * 5,
        uids=["u0"] * 5,
    )
    # verl's own actor class, the way RewardLoopManager starts it; its process imports verl,
    # which registers rewardkit through the entry point.
    actor = ray.remote(RewardLoopWorker).remote(
        verl_config(MATH_CONFIG, tokenizer_dir=tokenizer_dir)
    )
    outputs = ray.get(actor.compute_score_batch.remote(data), timeout=180)
    infos = [o["reward_extra_info"] for o in outputs]
    assert all(list(info) == list(infos[0]) for info in infos)
    assert [i["acc_outcome"] for i in infos] == [
        OUTCOME_CODES[o] for o in ("correct", "incorrect", "timeout", "no_answer", "correct")
    ]
    assert [o["reward_score"] for o in outputs] == [1.0, 0.0, 0.0, 0.0, 1.0]

    # The deadline holds inside the actor: a warm engine returns the tower within 1 s + slack.
    tower = make_dataproto(
        tokenizer,
        prompts=[chat],
        responses=[TOWER.replace("9}", "8}")],
        ground_truths=["4"],
        uids=["u1"],
    )
    start = time.monotonic()
    (out,) = ray.get(actor.compute_score_batch.remote(tower), timeout=60)
    took = time.monotonic() - start
    assert out["reward_extra_info"]["acc_outcome"] == OUTCOME_CODES["timeout"]
    assert took < 1.0 + 4.0, f"timeout sample took {took:.1f} s"

    # Closing stops the workers, and a closed scorer refuses to score (it never silently starts
    # new workers: EngineClosedError); killing the actor stops the workers of a live scorer.
    def fresh(answer: str) -> Any:  # symbolic and not cached yet: verified in a worker
        return make_dataproto(
            tokenizer, prompts=[chat], responses=[answer], ground_truths=["4"], uids=["u2"]
        )

    ray.get(actor.compute_score_batch.remote(fresh("\\boxed{2^{2}}")), timeout=120)
    pids = ray.get(actor.__ray_call__.remote(engine_worker_pids))
    assert pids
    ray.get(actor.__ray_call__.remote(close_scorer))
    assert _wait_gone(pids) == []
    with pytest.raises(ray.exceptions.RayTaskError, match="EngineClosedError"):
        ray.get(actor.compute_score_batch.remote(fresh("\\boxed{4^{1}}")), timeout=120)
    assert ray.get(actor.__ray_call__.remote(engine_worker_pids)) == []

    actor2 = ray.remote(RewardLoopWorker).remote(
        verl_config(MATH_CONFIG, tokenizer_dir=tokenizer_dir)
    )
    # not a closed form (the in-process fast path answers 4^{1}): verified in a worker
    ray.get(actor2.compute_score_batch.remote(fresh("\\boxed{\\log_2 16}")), timeout=120)
    new_pids = ray.get(actor2.__ray_call__.remote(engine_worker_pids))
    assert new_pids and not set(new_pids) & set(pids)
    ray.kill(actor2)
    assert _wait_gone(new_pids) == [], "engine workers outlived their Ray actor"


def _put_rows(tq: Any, keys: list[str], rows: list[dict[str, Any]], tags: list[dict]) -> None:
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    tq.kv_batch_put(
        keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(rows), tags=tags
    )


def test_trainer_shapes_and_masks_a_transfer_queue_batch(ray_session: Any, tokenizer: Any) -> None:
    import torch
    import transfer_queue as tq
    from omegaconf import OmegaConf
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1 import get_trainer_cls

    rk_config = {
        "rewards": [{"type": "math", "name": "acc"}],
        "shaping": [{"type": "batch_repetition", "answer_from": "acc", "coefficient": 1.0}],
        "token_mask": {"type": "entropy_top_ratio", "ratio": 0.5, "normalizer": "all"},
        "diagnostics": [{"type": "answer_diversity", "name": "diversity", "answer_from": "acc"}],
        "engine": {"workers": 1},
    }
    config = generated_trainer_config(rk_config)
    config.algorithm.adv_estimator = "grpo"
    config.actor_rollout_ref.rollout.n = 4
    trainer = get_trainer_cls("rewardkit")(config)
    trainer.tokenizer = tokenizer
    trainer.global_steps = 1

    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    try:
        groups = {"uidA": (["a", "a", "b", "c"], "a"), "uidB": (["d", "d", "d", "e"], "d")}
        scorer = scorer_for(settings_from_kwargs({"rewardkit_config": rk_config}, where="test"))
        keys, rows, tags, base = [], [], [], []
        generator = torch.Generator().manual_seed(0)
        for uid, (answers, ref) in groups.items():
            prompt = [{"role": "user", "content": f"question {uid}"}]
            for s, answer in enumerate(answers):
                text = f"so {'x' * s}\\boxed{{{answer}}}"  # lengths differ: jagged rows
                info = scorer.score(Rollout(prompt=prompt, completion=text, reference=ref))
                ids = torch.tensor(tokenizer.encode(text))
                rm = torch.zeros(len(ids))
                rm[-1] = info["score"]
                keys.append(f"{uid}_{s}_0")
                base.append(info["score"])
                rows.append(
                    {
                        "uid": uid,
                        "prompts": torch.tensor(tokenizer.encode(prompt[0]["content"])),
                        "responses": ids,
                        "response_mask": torch.ones(len(ids), dtype=torch.int64),
                        "rm_scores": rm,
                        "old_log_probs": torch.zeros(len(ids)),
                        "entropy": torch.rand(len(ids), generator=generator),
                        "extra_fields": {"reward_extra_info": info},
                        "raw_prompt": prompt,
                        "reward_model": {"ground_truth": ref},
                        "data_source": "test",
                        "index": len(keys),
                    }
                )
                tags.append({"status": "success"})
        # verl's padding row: a copy of the first with no valid tokens and zero reward.
        pad = dict(rows[0], uid="padX", response_mask=torch.zeros(3, dtype=torch.int64))
        pad.update(responses=torch.tensor([1, 1, 1]), rm_scores=torch.zeros(3))
        pad.update(old_log_probs=torch.zeros(3), entropy=torch.ones(3) * 9.0)
        keys.append("padX_0_0")
        rows.append(pad)
        tags.append({"status": "success", "is_padding": True})
        _put_rows(tq, keys, rows, tags)

        metrics: dict[str, float] = {}
        batch = KVBatchMeta(keys=keys, tags=tags, partition_id="train")
        trainer._compute_advantage(batch, metrics)

        out = tq.kv_batch_get(
            keys=keys, partition_id="train", select_fields=["rm_scores", "advantages", "entropy"]
        )
        scores = [t.sum().item() for t in out["rm_scores"].unbind()]
        # -(1/n) x others with the same answer: a,a,b,c and d,d,d,e in groups of n = 4.
        penalty = [-0.25, -0.25, 0, 0, -0.5, -0.5, -0.5, 0, 0]
        assert scores == pytest.approx([b + p for b, p in zip([*base, 0.0], penalty)])
        assert base[:4] == [1.0, 1.0, 0.0, 0.0] and base[4:] == [1.0, 1.0, 1.0, 0.0]
        assert metrics["rewardkit/batch_repetition/mean"] == pytest.approx(sum(penalty) / 8)
        assert metrics["rewardkit/acc/frac_correct"] == pytest.approx(5 / 8)
        # The diagnostic saw verl's groups (uid), without the padding row: 3 and 2 answers.
        assert metrics["rewardkit/diversity/distinct"] == pytest.approx(2.5)
        # Its history split reaches verl's metrics too: both prompts are solved, so ever solved.
        assert metrics["rewardkit/diversity/distinct_ever_solved"] == pytest.approx(2.5)
        assert metrics["rewardkit/diversity/frac_ever_solved_groups"] == 1.0
        assert "rewardkit/diversity/distinct_never_solved" not in metrics

        # verl's GRPO on the shaped scores, then the mask: kept tokens are the top half of the
        # batch's valid-token entropies (k = ceil(0.5 * N)); dropped tokens get 0.
        shaped = torch.tensor(scores[:8]).view(2, 4)
        grpo = (shaped - shaped.mean(1, keepdim=True)) / (shaped.std(1, keepdim=True) + 1e-6)
        entropies = [e for e in out["entropy"].unbind()][:8]
        flat = torch.cat(entropies)
        k = -(-flat.numel() // 2)
        threshold = flat.topk(k).values.min()
        for i, (adv, ent) in enumerate(zip(out["advantages"].unbind()[:8], entropies)):
            kept = ent >= threshold
            assert torch.allclose(adv[kept], grpo.flatten()[i].expand(int(kept.sum())), atol=1e-5)
            assert torch.count_nonzero(adv[~kept]) == 0
        assert sum(int((e >= threshold).sum()) for e in entropies) == k
        assert metrics["rewardkit/token_mask/kept_share"] == pytest.approx(k / flat.numel())
        assert torch.count_nonzero(out["advantages"].unbind()[8]) == 0
    finally:
        tq.close()
