"""What the opt-in ``max_seq_length`` truncation does to DARLING's partitions, and its speed.

Same batch as ``diversity_throughput.py`` (long reasoning completions that fill the packaged
all-MiniLM-L6-v2's 256-token window), default 8 prompts x 16 rollouts. Reference: float32
embeddings of the full window. Each truncated setting: float32 embeddings of the first
``max_seq_length`` tokens. Partitions use union-find at the default cosine threshold 0.8, as the
embedding judge does. Reports, per setting, how many groups' partitions changed, the largest
|ΔDiv| of a rollout, the mean number of classes, and the encode time ratio (best of
``--rounds``, each on a cold cache).

    python benchmarks/truncation_partitions.py [--prompts 8] [--group 16] [--lengths 128,64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from diversity_throughput import make_batch, reference_partitions

from rewardkit.judges import DEFAULT_EMBEDDING_THRESHOLD, TextEmbedder


def _encode_best(texts: list[str], max_seq_length: int | None, rounds: int) -> tuple:
    best, out = float("inf"), None
    for _ in range(rounds):
        emb = TextEmbedder(precision="float32", max_seq_length=max_seq_length)
        emb.encode(["warm-up text"])  # load the model outside the timing
        t = time.perf_counter()
        out = emb.encode(texts)
        best = min(best, time.perf_counter() - t)
    return out, best, emb.window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--lengths", default="128,64")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    import torch

    batch = make_batch(args.prompts, args.group)
    texts = [r.completion_text for r in batch]
    groups = list(batch.groups.values())
    threshold = DEFAULT_EMBEDDING_THRESHOLD
    ref_emb, ref_s, window = _encode_best(texts, None, args.rounds)
    ref_labels, ref_div = reference_partitions(ref_emb, batch, threshold)

    def classes(labels: list[int]) -> float:
        return float(np.mean([len({labels[i] for i in m}) for m in groups]))

    result: dict[str, object] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "rollouts": len(texts),
        "groups": len(groups),
        "threshold": threshold,
        "reference_window_tokens": window,
        "reference_encode_s": round(ref_s, 3),
        "reference_mean_classes": classes(ref_labels),
        "truncated": {},
    }
    for length in (int(x) for x in args.lengths.split(",")):
        emb, secs, _ = _encode_best(texts, length, args.rounds)
        labels, div = reference_partitions(emb, batch, threshold)
        changed = sum(any(labels[i] != ref_labels[i] for i in members) for members in groups)
        cos_err = max(
            float(np.max(np.abs(ref_emb[m] @ ref_emb[m].T - emb[m] @ emb[m].T)))
            for m in (list(g) for g in groups)
        )
        result["truncated"][str(length)] = {  # type: ignore[index]
            "groups_with_changed_partitions": changed,
            "max_abs_div_change": max(abs(a - b) for a, b in zip(div, ref_div)),
            "max_abs_cosine_change": cos_err,
            "mean_classes": classes(labels),
            "encode_s": round(secs, 3),
            "speedup": ref_s / secs,
        }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
