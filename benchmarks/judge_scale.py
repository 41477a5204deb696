"""Driver-side time of the semantic-diversity step at GRPO scale, per judge backend.

A GRPO-like batch (``--n`` completions in groups of ``--group``, each about ``--words`` words of
math-solution text built from the shipped labelled pairs, so groups hold near-paraphrases and
different approaches) goes through ``semantic_diversity``'s embedding judge with:

* ``local-1``: in process on one torch thread (verl's TaskRunner before issue 16: Ray starts it
  with OMP_NUM_THREADS=1);
* ``local-all``: in process on every CPU this process may use;
* ``ray-1`` / ``ray-2``: a pool of 1 or 2 Ray actors (``ray_num_cpus: 1`` each) on a local Ray
  cluster with as many CPUs as this machine;
* ``http``: ``python -m rewardkit.judges._embed_server`` on 127.0.0.1 (all CPUs), called with
  ``backend: http``.

For each: the wall time of ``term.diversity(batch)`` (models already loaded, caches empty; with
``--rounds R`` the fastest of R interleaved rounds, for a shared machine) and
the driver's CPU time in it (``time.process_time``: what the trainer's process itself spends;
for remote backends that is the driver's share). Partitions must be identical across backends
(the script exits 1 otherwise). Times at 8,192 completions are projected linearly from ``--n``
(embedding cost is linear in texts; pair scoring is per group), or measured with ``--n 8192``.

    .venv/bin/python benchmarks/judge_scale.py --n 1024
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from importlib import resources
from typing import Any

from rewardkit import Batch, RewardPipeline, RewardResult, Rollout, ShapingInput
from rewardkit.judges import load_pairs

BACKENDS = ("local-1", "local-all", "ray-1", "ray-2", "http")

FILLER = [
    "First we restate the problem and name the unknown quantity {a}.",
    "Substituting the given value {a} into the expression gives {b}.",
    "We check the arithmetic again: {a} plus {b} equals {c}.",
    "This step uses the fact that the product of {a} and {b} is {c}.",
    "Simplifying the fraction {a}/{b} does not change the final value.",
    "The constraint implies that {a} is less than {c}, so the case is valid.",
    "Now we compute the remaining term, which is {b} after cancelling.",
    "Therefore the intermediate result is {c}, as required by the setup.",
]


def make_batch(n: int, group: int, words: int, seed: int) -> ShapingInput:
    rng = random.Random(seed)
    pairs = load_pairs(str(resources.files("rewardkit") / "data" / "equivalence_pairs.jsonl"))
    rollouts = []
    for g in range(-(-n // group)):
        # 4 approaches per prompt: each completion is one of them, padded with reasoning steps.
        approaches = [t for p in rng.sample(pairs, 2) for t in (p.text_a, p.text_b)]
        for _ in range(group):
            if len(rollouts) == n:
                break
            approach = rng.choice(approaches)
            parts = [approach]
            while sum(len(p.split()) for p in parts) < words:
                # Mostly the approach itself (so it decides the embedding), some shared steps.
                a, b = rng.randint(2, 99), rng.randint(2, 99)
                step = rng.choice(FILLER).format(a=a, b=b, c=a + b)
                parts.append(approach if rng.random() < 0.6 else step)
            rollouts.append(Rollout(f"prompt {g}", " ".join(parts), group=f"g{g}"))
    results = {"m": [RewardResult.correct(answer="1")] * len(rollouts)}
    return ShapingInput(Batch(rollouts), tuple([1.0] * len(rollouts)), results)


def start_server(threads: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "rewardkit.judges._embed_server"),
            *("--port", "0", "--threads", str(threads), "--device", "cpu", "--cache-size", "0"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"embedding server did not start: {line!r}")
    return proc, line.split()[-1] + "/v1"


def judge_config(backend: str, cpus: int, url: str | None) -> dict[str, Any]:
    cfg: dict[str, Any] = {"type": "semantic_diversity", "precision": "float32", "device": "cpu"}
    if backend == "local-1":
        cfg["threads"] = 1
    elif backend == "local-all":
        cfg["threads"] = cpus
    elif backend.startswith("ray-"):
        cfg |= {"backend": "ray", "ray_replicas": int(backend[4:]), "ray_num_cpus": 1}
    else:
        cfg |= {"backend": "http", "http_url": url, "http_timeout_s": 600}
    return cfg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="completions (8192: verl scale)")
    parser.add_argument("--group", type=int, default=16, help="completions per prompt")
    parser.add_argument("--words", type=int, default=180, help="words per completion (~256 tok)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds over all backends; the fastest counts"
    )
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    cpus = len(os.sched_getaffinity(0))
    data = make_batch(args.n, args.group, args.words, args.seed)
    warm = make_batch(8, 8, args.words, args.seed + 1)
    print(f"# {args.n} completions, groups of {args.group}, ~{args.words} words, seed {args.seed}")
    print(f"# {cpus} CPUs; load average before: {os.getloadavg()}")

    server = url = None
    if "http" in backends:
        server, url = start_server(cpus)
    if any(b.startswith("ray-") for b in backends):
        import ray

        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    best: dict[str, tuple[float, float]] = {}
    same_as_first: dict[str, bool] = {}
    reference: list[float] | None = None
    try:
        for r in range(args.rounds):
            for backend in backends:
                cfg = {"rewards": [], "shaping": [judge_config(backend, cpus, url)]}
                with RewardPipeline.from_config(cfg) as pipe:
                    term = pipe.shaping[0]
                    term.diversity(warm)  # load models (and start actors) outside the timing
                    term.judge.embedder._caches.clear()  # cold driver-side cache every round
                    wall0, cpu0 = time.perf_counter(), time.process_time()
                    div = term.diversity(data)
                    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                if reference is None:
                    reference = div
                same_as_first[backend] = same_as_first.get(backend, True) and div == reference
                if backend not in best or wall < best[backend][0]:
                    best[backend] = (wall, cpu)
                print(
                    f"  round {r}: {backend:<10} wall {wall:8.2f} s  driver CPU {cpu:7.2f} s  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    rows = [(b, *best[b], same_as_first[b]) for b in backends]
    identical = all(same_as_first.values())
    scale = 8192 / args.n
    base = rows[0][1]
    print(f"# load average after: {os.getloadavg()}")
    print()
    print(
        "| backend | wall (s) | driver CPU (s) | completions/s | speed-up vs "
        f"{rows[0][0]} | projected wall at 8,192 (s) | projected driver CPU at 8,192 (s) | "
        "partitions = first |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for backend, wall, cpu, same in rows:
        print(
            f"| {backend} | {wall:.2f} | {cpu:.2f} | {args.n / wall:.1f} | {base / wall:.2f}x | "
            f"{wall * scale:.0f} | {cpu * scale:.2f} | {'yes' if same else 'NO'} |"
        )
    assert reference is not None
    merged = sum(d < 1.0 for d in reference)
    print(
        f"\nrollouts sharing a class with another: {merged} of {len(reference)}; "
        f"distinct Div values: {len(set(reference))}"
    )
    print(f"partitions identical across backends: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
