"""Throughput of ``ucb_exploration`` and ``batch_repetition``, and UCB memory for 1M pairs.

Both terms are bookkeeping; the goal is at least 100k rollouts/s. Batches are GRPO-like
(256 prompts x 16 rollouts), answers drawn from a skewed distribution over ~20 answers per
prompt, canonical answers given by a named reward (``answer_from``), prompts drawn from a pool
of 20k so history accumulates over steps. Times ``shape()`` over ``--steps`` batches after
one warm-up batch. Reference measured in the same run: a bare loop that reads each rollout's
answer and hashes its prompt (``Rollout.prompt_key``), what keying history naively costs;
``ucb_exploration`` hashes each distinct prompt object once per batch instead.

Memory: ``tracemalloc`` of ``AnswerCounts`` holding 1M (prompt, answer) pairs in three shapes
(1 answer for each of 1M prompts; 8 for each of 125k; 64 for each of 15,625), plus the size
of its JSON state and the time to save and load it through a state file.

    python benchmarks/shaping_throughput.py [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from rewardkit import Batch, RewardResult, Rollout, ShapingInput
from rewardkit.shaping import AnswerCounts, BatchRepetitionPenalty, UCBExplorationBonus


def make_batches(steps: int, prompts: int, group: int, seed: int = 0) -> list[ShapingInput]:
    rng = random.Random(seed)
    pool = [f"Problem {k}: compute the value of expression number {k}." for k in range(20_000)]
    out = []
    for _ in range(steps):
        rollouts, results = [], []
        for p in rng.sample(range(len(pool)), prompts):
            prompt = pool[p]
            for _ in range(group):
                a = str(int(rng.paretovariate(1.2)) % 20)
                rollouts.append(Rollout(prompt, f"... \\boxed{{{a}}}", group=p))
                results.append(
                    RewardResult.correct(answer=a) if a == "1" else RewardResult.incorrect(answer=a)
                )
        out.append(ShapingInput(Batch(rollouts), tuple([0.0] * len(rollouts)), {"m": results}))
    return out


def rate(fn, batches: list[ShapingInput]) -> float:
    fn(batches[0])  # warm-up
    t = time.perf_counter()
    n = 0
    for b in batches[1:]:
        fn(b)
        n += len(b.batch)
    return n / (time.perf_counter() - t)


def floor_loop(data: ShapingInput) -> list[float]:
    answers = data.results["m"]
    return [
        0.0 if answers[i].answer is None else float(len(r.prompt_key))
        for i, r in enumerate(data.batch)
    ]


def memory_of(prompts: int, answers: int) -> float:
    rng = random.Random(1)
    tracemalloc.start()
    counts = AnswerCounts(max_answers=64)
    for _ in range(prompts):
        p = rng.getrandbits(64)
        for _ in range(answers):
            counts.add(p, rng.getrandbits(64) or 1)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(counts) == prompts * answers
    return current / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--group", type=int, default=16)
    args = parser.parse_args()

    batches = make_batches(args.steps + 1, args.prompts, args.group)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"batches: {args.steps} x {len(batches[0].batch)} rollouts (+1 warm-up)\n")
    ucb = UCBExplorationBonus(UCBExplorationBonus.Config(answer_from="m"))
    rep = BatchRepetitionPenalty(BatchRepetitionPenalty.Config(answer_from="m"))
    rep_batch = BatchRepetitionPenalty(
        BatchRepetitionPenalty.Config(answer_from="m", scope="batch")
    )
    ucb_extract = UCBExplorationBonus(UCBExplorationBonus.Config())
    rows = [
        ("reference: hash every rollout's prompt", rate(floor_loop, batches)),
        ("ucb_exploration (constant_baseline)", rate(ucb.shape, batches)),
        ("ucb_exploration (answers extracted)", rate(ucb_extract.shape, batches)),
        ("batch_repetition (group)", rate(rep.shape, batches)),
        ("batch_repetition (batch)", rate(rep_batch.shape, batches)),
    ]
    for name, r in rows:
        print(f"{name:40s} {r:>12,.0f} rollouts/s")
    print(f"\nUCB history after the run: {ucb.counts!r}\n")

    for prompts, answers in ((1_000_000, 1), (125_000, 8), (15_625, 64)):
        print(
            f"AnswerCounts, 1M pairs as {prompts:>9,} prompts x {answers:>2}: {memory_of(prompts, answers):6.1f} MiB"
        )

    big = UCBExplorationBonus(UCBExplorationBonus.Config())
    rng = random.Random(2)
    for _ in range(125_000):
        p = rng.getrandbits(64)
        for _ in range(8):
            big.counts.add(p, rng.getrandbits(64) or 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ucb.state"
        t = time.perf_counter()
        big.save(path)
        t_save = time.perf_counter() - t
        t = time.perf_counter()
        again = UCBExplorationBonus(UCBExplorationBonus.Config())
        again.load(path)
        t_load = time.perf_counter() - t
        size = path.stat().st_size / 2**20
    assert again.counts == big.counts
    print(f"state file for 1M pairs: {size:.1f} MiB, save {t_save:.2f} s, load {t_load:.2f} s")


if __name__ == "__main__":
    main()
