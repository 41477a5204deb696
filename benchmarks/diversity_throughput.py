"""Embedding throughput of ``semantic_diversity`` against plain ``SentenceTransformer.encode``.

One run, same model (the packaged all-MiniLM-L6-v2), same batch: a GRPO-like batch of long
reasoning completions (default 64 prompts x 16 rollouts = 1024, each several hundred words, so
every text fills the model's 256-token window). Times

* baseline - ``SentenceTransformer(...).encode(texts, normalize_embeddings=True)``, float32;
* rewardkit - ``semantic_diversity``'s whole ``shape()`` (embedding judge, default config:
  fast path, float32 re-checks near the threshold, union-find partitions, Div), cold cache;
* rewardkit, ``precision: float32`` - the exact path alone, for reference;

alternating the three runs ``--rounds`` times and keeping each one's best, then checks that the
partitions and Div values equal those computed from the baseline's embeddings.

    python benchmarks/diversity_throughput.py [--prompts 64] [--group 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from rewardkit import Batch, Rollout, ShapingInput
from rewardkit.judges import (
    DEFAULT_EMBEDDING_THRESHOLD,
    EmbeddingJudge,
    TextEmbedder,
    default_model_path,
    diversity_from_labels,
    union_find_labels,
)
from rewardkit.shaping import SemanticDiversity

_ROOT = Path(__file__).resolve().parents[1]
_ASIDES = [
    "Let me double-check this step before moving on.",
    "Wait, I should verify the arithmetic here.",
    "Hmm, let me reconsider whether that is right.",
    "Actually, let's recompute to be safe.",
    "So far this seems consistent.",
    "Let me write this out more carefully.",
]


def _families():
    # The problem families and solution strategies of the shipped labelled pairs.
    sys.path.insert(0, str(_ROOT / "scripts"))
    import make_equivalence_pairs as mod

    return mod.FAMILIES, mod.render, mod._answer


def long_completion(steps, values, answer, render, rng: random.Random, words: int) -> str:
    """A chain-of-thought: the strategy rendered several times with checks in between."""
    parts = []
    while sum(len(p.split()) for p in parts) < words:
        parts.append(render(steps, values, answer, rng))
        parts.append(rng.choice(_ASIDES))
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        parts.append(f"Checking a side computation: {a} * {b} = {a * b}, and {a} + {b} = {a + b}.")
    return " ".join(parts)


def make_batch(prompts: int, group: int, seed: int = 0) -> Batch:
    families, render, answer_of = _families()
    rng = random.Random(seed)
    rollouts = []
    for p in range(prompts):
        family = families[p % len(families)]
        values = family.params(rng)
        answer = answer_of(values, family)
        problem = family.problem.format(**values)
        strategies = list(family.strategies.values())
        for _ in range(group):
            steps = rng.choice(strategies)
            text = long_completion(steps, values, answer, render, rng, rng.randint(300, 700))
            rollouts.append(Rollout(problem, text, group=f"p{p}"))
    return Batch(rollouts)


def reference_partitions(emb: np.ndarray, batch: Batch, threshold: float) -> tuple[list, list]:
    labels = [0] * len(batch)
    div = [0.0] * len(batch)
    for members in batch.groups.values():
        e = emb[list(members)]
        s = e @ e.T
        n = len(members)
        lab = union_find_labels(
            n, ((i, j) for i in range(n) for j in range(i + 1, n) if s[i, j] >= threshold)
        )
        for i, li, di in zip(members, lab, diversity_from_labels(lab)):
            labels[i], div[i] = li, di
    return labels, div


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    load_start = [round(x, 2) for x in os.getloadavg()]
    batch = make_batch(args.prompts, args.group)
    texts = [r.completion_text for r in batch]
    data = ShapingInput(batch, tuple([1.0] * len(batch)), {}, None)
    n = len(texts)
    threshold = DEFAULT_EMBEDDING_THRESHOLD

    plain = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    tokens = [len(ids) for ids in plain.tokenizer(texts[:64], truncation=False)["input_ids"]]
    plain.encode(["warm-up text"] * 8)

    cpu: dict[str, float] = {}

    def timed(name: str, fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(f"  {name:20s} {dt:7.1f} s wall, {dc:7.1f} s CPU", flush=True)
        if dt < best.get(name, float("inf")):
            best[name], cpu[name] = dt, dc
        return out

    def run_baseline() -> np.ndarray:
        return timed("baseline", lambda: plain.encode(texts, normalize_embeddings=True))

    def run_rewardkit(name: str, precision: str) -> tuple[list[float], SemanticDiversity]:
        term = SemanticDiversity(SemanticDiversity.Config(judge="embedding", precision=precision))
        # A fresh embedder per run: a cold cache, as on a batch never seen before.
        fresh = TextEmbedder(precision=precision)
        term.judge = EmbeddingJudge(
            fresh, threshold, margin=term.config.recheck_margin, clustering="union_find"
        )
        fresh.encode(["warm-up text"])  # load the model(s) outside the timing
        if not fresh.fast_is_exact:
            fresh.encode(["warm-up text"], exact=True)
        div = timed(name, lambda: term.shape(data))
        return div, term

    best: dict[str, float] = {}
    ref_emb = None
    fast_div = exact_div = None
    fast_term = None
    # Every round times all three, so each keeps its best of the same number of tries: on a
    # shared 2-core machine a single sample can be 20-40% slow.
    for _ in range(args.rounds):
        ref_emb = run_baseline()
        fast_div, fast_term = run_rewardkit("rewardkit", "auto")
        exact_div, _ = run_rewardkit("rewardkit_float32", "float32")

    assert ref_emb is not None and fast_term is not None and exact_div is not None
    ref_labels, ref_div = reference_partitions(ref_emb, batch, threshold)
    fast_labels = fast_term.judge.labels(texts, [None] * n, list(batch.groups.values()))
    stats = fast_term.judge.stats
    fast_emb = fast_term.judge.embedder.encode(texts)
    cos_err = 0.0
    for members in batch.groups.values():
        e1, e2 = ref_emb[list(members)], fast_emb[list(members)]
        cos_err = max(cos_err, float(np.max(np.abs(e1 @ e1.T - e2 @ e2.T))))
    classes = [len(set(ref_labels[i] for i in m)) for m in batch.groups.values()]

    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "load_average_start_end": [load_start, [round(x, 2) for x in os.getloadavg()]],
        "rollouts": n,
        "groups": len(batch.groups),
        "tokens_per_text_min_median": [min(tokens), int(np.median(tokens))],
        "fast_precision": fast_term.judge.embedder.fast_precision,
        "baseline_texts_per_s": n / best["baseline"],
        "rewardkit_texts_per_s": n / best["rewardkit"],
        "rewardkit_float32_texts_per_s": n / best["rewardkit_float32"],
        "speedup": best["baseline"] / best["rewardkit"],
        "speedup_float32_path": best["baseline"] / best["rewardkit_float32"],
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "cpu_speedup": cpu["baseline"] / cpu["rewardkit"],
        "partitions_equal": fast_labels == ref_labels,
        "div_equal": list(fast_div) == ref_div,
        "float32_path_div_equal": list(exact_div) == ref_div,
        "rechecked_pairs": stats.rechecked_pairs,
        "rechecked_texts": stats.rechecked_texts,
        "pairs": stats.pairs,
        "max_abs_cosine_error_fast_path": cos_err,
        "mean_classes_per_group": float(np.mean(classes)),
        "threshold": threshold,
    }
    for k, v in result.items():
        print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
