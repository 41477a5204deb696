"""Run under ``torchrun --nproc_per_node N`` (gloo, CPU) by ``test_global_scope.py``.

Every rank builds every rank's data from fixed seeds, so it can check its own slice of the
distributed result against the single-process result on the concatenated batch. Exits non-zero
(with the failing case printed) on any mismatch.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from rewardkit.masks import (
    EntropyTopRatioConfig,
    EntropyTopRatioMask,
    entropy_mask,
    entropy_weights,
    token_entropy_stats,
)


def rank_batch(case: int, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 * case + rank)
    b, t = 2 + rank, 7 + 3 * rank  # unequal shapes and token counts across ranks
    entropies = torch.rand(b, t, generator=g)
    if case % 2 == 1:  # coarse values: ties across the rank boundary
        entropies = (entropies * 3).round() / 3
    lengths = torch.randint(0, t + 1, (b,), generator=g)
    valid = torch.arange(t)[None, :] < lengths[:, None]
    if case == 4 and rank == 0:
        valid[:] = False  # a rank with no valid tokens still takes part
    token_ids = torch.randint(0, 30, (b, t), generator=g)
    return entropies, valid, token_ids


def concatenated(case: int, world: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All ranks' rows, right-padded to one width (padding is invalid, so it changes nothing)."""
    parts = [rank_batch(case, r) for r in range(world)]
    width = max(p[0].shape[1] for p in parts)

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, width - x.shape[1]))

    return tuple(torch.cat([pad(p[i]) for p in parts]) for i in range(3))  # type: ignore[return-value]


def main() -> int:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    failures = []
    for case in range(6):
        entropies, valid, token_ids = rank_batch(case, rank)
        all_h, all_valid, all_ids = concatenated(case, world)
        rows = slice(sum(2 + r for r in range(rank)), sum(2 + r for r in range(rank + 1)))
        width = entropies.shape[1]
        for select in ("topk", "quantile"):
            for ratio in (0.2, 0.5, 1.0):
                got = entropy_mask(entropies, valid, ratio, select, "global")
                want = entropy_mask(all_h, all_valid, ratio, select, "batch")[rows, :width]
                if not torch.equal(got, want):
                    failures.append(("mask", case, select, ratio))
                weights = entropy_weights(
                    entropies, valid, ratio, select, "global", normalizer="selected"
                )
                want_w = entropy_weights(
                    all_h, all_valid, ratio, select, "batch", normalizer="selected"
                )[rows, :width]
                if not torch.allclose(weights, want_w):
                    failures.append(("weights", case, select, ratio))
            component = EntropyTopRatioMask(
                EntropyTopRatioConfig(ratio=0.2, select=select, scope="global")
            )
            correct = [i % 2 for i in range(entropies.shape[0])]
            result = component.apply(entropies, valid, token_ids=token_ids, correct=correct)
            want_mask = entropy_mask(all_h, all_valid, 0.2, select, "batch")
            all_correct = [i % 2 for r in range(world) for i in range(2 + r)]
            want_stats = token_entropy_stats(
                all_h,
                all_valid,
                kept_mask=want_mask,
                token_ids=all_ids,
                correct=all_correct,
                gather=False,  # already the union: no collective
            )
            if not torch.equal(result.mask, want_mask[rows, :width]):
                failures.append(("apply-mask", case, select))
            if result.stats != want_stats:
                failures.append(("apply-stats", case, select, result.stats, want_stats))
            # A batch-scope mask is local, but its statistics are still gathered.
            local = EntropyTopRatioMask(EntropyTopRatioConfig(ratio=0.2, select=select))
            local_result = local.apply(entropies, valid)
            if not torch.equal(local_result.mask, entropy_mask(entropies, valid, 0.2, select)):
                failures.append(("batch-local", case, select))
            assert local_result.stats is not None
            if local_result.stats.num_tokens != int(all_valid.sum()):
                failures.append(("batch-stats-gathered", case, select))
    dist.destroy_process_group()
    for failure in failures:
        print(f"rank {rank} FAILED {failure}", file=sys.stderr)
    print(f"rank {rank}: {'ok' if not failures else 'failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
