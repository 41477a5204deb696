"""Two processes (torchrun, gloo, CPU) scoring one TRL generation batch with an embedding judge,
for ``test_trl_embed_gather.py``.

Usage: ``torchrun --nproc_per_node 2 trl_embed_gather_script.py OUT_DIR``. Each rank holds 3
completions (groups of 2, so group 1 straddles the ranks) and calls the scorer as TRL's reward
function would; it writes its columns and how many texts its encoder embedded to
``OUT_DIR/rank<r>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONFIG = {
    "rewards": [{"type": "keyword", "name": "digits", "keywords": ["1"]}],
    "shaping": [
        {"type": "semantic_diversity", "name": "div", "precision": "float32", "combine": "add"}
    ],
    "diagnostics": [{"type": "embedding_diversity", "precision": "float32"}],
}
TEXTS = [
    "We factor x^2 - 5x + 6 = (x - 2)(x - 3), so the roots are 2 and 3 and their sum is 5.",
    "Factoring, x^2 - 5x + 6 becomes (x-2)(x-3); the roots 2 and 3 add up to 5, answer 1.",
    "By Vieta's formulas the sum of the roots of x^2 + bx + c is -b, which here is 5.",
    "There are 36 equally likely outcomes for two dice and 6 of them are doubles.",
    "Two dice give 36 outcomes; the 6 doubles make the probability 1/6.",
    "Count the doubles: (1,1) through (6,6) are 6 of 36 ordered pairs, so 1/6.",
]
PROMPTS = ["sum of roots", "sum of roots", "vieta", "vieta", "dice", "dice"]


def main(out_dir: str) -> None:
    import torch.distributed as dist
    from rewardkit_trl import RewardKitScorer

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    scorer = RewardKitScorer(CONFIG, num_generations=2)
    mine = slice(3 * rank, 3 * rank + 3)
    prompts, completions = PROMPTS[mine], TEXTS[mine]
    columns = {name: scorer.column(name, prompts, completions, {}) for name in ("digits", "div")}
    embedder = scorer.pipeline.shaping[0].judge.embedder
    (Path(out_dir) / f"rank{rank}.json").write_text(
        json.dumps({"columns": columns, "embedded": embedder.embedded})
    )
    scorer.close()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
