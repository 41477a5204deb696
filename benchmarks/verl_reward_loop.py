"""verl's reward loop with the ``rewardkit`` reward manager versus verl's default, same run.

Scores one GRPO-like batch through verl 0.9's own ``RewardLoopWorker.compute_score_batch`` (one
reward worker, in-process, as each Ray reward actor runs it):

* baseline: reward manager ``naive`` with verl's ``default_compute_score`` for
  ``data_source=lighteval/MATH`` (last-``\\boxed{}`` string equivalence), what a verl math run
  gets without a custom reward;
* rewardkit: reward manager ``rewardkit`` with a ``math`` verifier (math-verify in the engine's
  worker processes, hard deadline, verdict cache).

The batch: ``--prompts`` prompts x ``--group`` samples, ~1.5k characters of reasoning each, final
answers mixed: correct, wrong, equivalent forms (``\\frac12`` vs ``1/2``, ``0.5``), unboxed. The
rewardkit manager is warmed up on a different batch first (workers started, math-verify imported),
so the numbers are steady-state; the cache holds nothing from the measured batch.

Also times the trainer-side shaping step (``BatchShaper.shape_rows``: decode extra info,
``ucb_exploration`` + ``batch_repetition`` + metrics) on the scored batch.

    python benchmarks/verl_reward_loop.py [--prompts 128 --group 8 --workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters" / "verl" / "tests"))

ANSWERS = [  # (gold, [answers a policy gives, correct first])
    ("\\frac{1}{2}", ["\\frac{1}{2}", "\\frac12", "0.5", "1/2", "\\frac{1}{3}", "2"]),
    ("72", ["72", "72.0", "73", "27", "\\$72"]),
    ("(1, 2)", ["(1,2)", "(1, 2)", "(2, 1)", "1"]),
    ("2\\sqrt{3}", ["2\\sqrt{3}", "2\\sqrt3", "\\sqrt{12}", "3\\sqrt{2}"]),
]


def make_batch(tokenizer: Any, prompts: int, group: int, seed: int) -> tuple[Any, list[str]]:
    from verl_testlib import make_dataproto

    rng = random.Random(seed)
    filler = " ".join(
        rng.choice(["so", "we", "get", "then", "x", "=", "+", "2"]) for _ in range(260)
    )
    ps, rs, golds, uids = [], [], [], []
    for p in range(prompts):
        gold, answers = ANSWERS[p % len(ANSWERS)]
        chat = [{"role": "user", "content": f"Problem {seed}-{p}: compute it."}]
        for s in range(group):
            answer = rng.choice(answers)
            tail = f"The answer is {answer}." if s % 7 == 6 else f"\\boxed{{{answer}}}"
            ps.append(chat)
            rs.append(f"Step {s}: {filler[: 1400 + 13 * s]} ... {tail}")
            golds.append(gold)
            uids.append(f"{seed}-{p}")
    data = make_dataproto(
        tokenizer, ps, rs, ground_truths=golds, uids=uids, data_source="lighteval/MATH"
    )
    return data, golds


def run(worker: Any, data: Any) -> tuple[list[dict[str, Any]], float]:
    t = time.perf_counter()
    # verl's naive manager binds the event loop it was built on; run on that loop.
    out = worker.loop.run_until_complete(worker.compute_score_batch(data))
    return out, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import verl  # noqa: F401  (registers rewardkit through the verl.plugins entry point)
    from rewardkit_verl._settings import settings_from_kwargs
    from rewardkit_verl._shaping import BatchShaper
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.utils import hf_tokenizer
    from verl_testlib import build_char_tokenizer, verl_config

    tmp = Path(tempfile.mkdtemp())
    build_char_tokenizer(tmp)
    tokenizer = hf_tokenizer(str(tmp))
    rk_config = {
        "rewards": [{"type": "math", "name": "acc"}],
        "shaping": [
            {"type": "ucb_exploration", "answer_from": "acc"},
            {"type": "batch_repetition", "answer_from": "acc"},
        ],
        "engine": {"workers": args.workers},
    }
    base_cfg = verl_config(rk_config, tokenizer_dir=tmp)
    base_cfg.reward.reward_manager.name = "naive"
    naive = RewardLoopWorker(base_cfg)
    rewardkit = RewardLoopWorker(verl_config(rk_config, tokenizer_dir=tmp))

    warm, _ = make_batch(tokenizer, max(8, args.prompts // 8), args.group, seed=1)
    run(rewardkit, warm)
    run(naive, warm)
    data, _golds = make_batch(tokenizer, args.prompts, args.group, seed=2)
    n = len(data)
    base_out, base_s = run(naive, data)
    rk_out, rk_s = run(rewardkit, data)

    shaper = BatchShaper(settings_from_kwargs({"rewardkit_config": rk_config}, where="bench"))
    from verl_testlib import rollouts_of_dataproto

    rollouts = rollouts_of_dataproto(tokenizer, data)
    keys = [f"{r.group}_{i}_0" for i, r in enumerate(rollouts)]
    infos = [o["reward_extra_info"] for o in rk_out]
    shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=0)  # warm-up
    t = time.perf_counter()
    shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=1)
    shape_s = time.perf_counter() - t

    base_ok = [o["reward_score"] > 0 for o in base_out]
    rk_ok = [o["reward_extra_info"]["acc_outcome"] == 0 for o in rk_out]
    differ = [i for i in range(n) if base_ok[i] != rk_ok[i]]
    texts = [r.completion_text[-40:] for r in rollouts]

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"batch: {args.prompts} prompts x {args.group} = {n} samples; engine.workers={args.workers}"
    )
    print(f"{'manager':<34}{'samples/s':>12}{'seconds':>10}{'correct':>9}")
    print(
        f"{'naive + default_compute_score':<34}{n / base_s:>12.0f}{base_s:>10.2f}{sum(base_ok):>9}"
    )
    print(f"{'rewardkit (math)':<34}{n / rk_s:>12.0f}{rk_s:>10.2f}{sum(rk_ok):>9}")
    print(f"ratio rewardkit / naive: {(n / rk_s) / (n / base_s):.2f}")
    print(f"shaping step (ucb + batch_repetition, {n} rows): {shape_s * 1e3:.1f} ms")
    only_naive = sum(base_ok[i] and not rk_ok[i] for i in differ)
    print(
        f"verdicts differ on {len(differ)} samples ({only_naive} where only naive says correct); "
        "by answer tail (naive -> rewardkit):"
    )
    seen: set[str] = set()
    for i in differ:
        tail = texts[i].split("...")[-1].strip()
        if tail not in seen:
            seen.add(tail)
            print(
                f"  gold {data.non_tensor_batch['reward_model'][i]['ground_truth']!r:>14}  "
                f"{tail!r:<32} {base_ok[i]} -> {rk_ok[i]}"
            )
    rewardkit.reward_manager.scorer.close()


if __name__ == "__main__":
    main()
