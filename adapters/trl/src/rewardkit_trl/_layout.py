"""Where a rank's completions sit in TRL's generation batch, and putting whole groups together.

TRL's ``RepeatSampler`` emits each prompt ``num_generations`` (G) times in a row and hands every
rank a consecutive chunk of the generation batch. Each rank calls the reward functions on its own
chunk only, so a group straddles ranks whenever the chunk size is not a multiple of G (2 ranks,
G = 2, 3 completions each: rank 0 sees prompts ``0 0 1``, rank 1 sees ``1 2 2``). Group terms must
see whole groups, so the scorer gathers every rank's rollouts in rank order - the order of TRL's
own ``gather`` of the rewards - scores the global batch and keeps its own slice.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rewardkit import BatchError, prompt_hash

__all__ = ["ProcessLayout", "ProcessLayoutError", "all_gather", "group_ids"]

T = TypeVar("T")


class ProcessLayoutError(BatchError):
    """The completions cannot be cut into whole groups of ``num_generations``."""


@dataclass(frozen=True, slots=True)
class ProcessLayout:
    """This process's rank among ``world_size`` ranks of the default process group."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def current(cls) -> ProcessLayout:
        """The layout of ``torch.distributed``'s default group; one process when it is not set up.

        Read from torch.distributed rather than ``accelerate.PartialState``: building a
        PartialState initialises a process group from the environment, which must not happen in
        a process that merely calls a reward function (a spawned worker inheriting ``RANK``).
        """
        try:
            import torch.distributed as dist
        except ImportError:  # pragma: no cover - torch is a dependency of TRL
            return cls()
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def all_gather(obj: T, layout: ProcessLayout) -> list[T]:
    """Every rank's ``obj``, in rank order; a collective, so every rank must call it.

    ``torch.distributed.all_gather_object`` is what ``accelerate.utils.gather_object`` runs
    under the hood for every backend TRL's own gather supports; calling it directly keeps the
    one-object-per-rank structure instead of accelerate's flattening.
    """
    if not layout.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * layout.world_size
    dist.all_gather_object(out, obj)
    return out


def group_ids(prompts: Sequence[Any], num_generations: int | None) -> list[Hashable]:
    """The group of each completion of a whole generation batch, in TRL's layout.

    With ``num_generations`` G, completion ``i`` is in group ``i // G`` - exactly the rows TRL
    normalises together (``rewards.view(-1, G)``), so two groups for the same prompt in one batch
    stay apart. Without G, consecutive runs of equal prompts form the groups.
    """
    n = len(prompts)
    if num_generations is not None:
        if n % num_generations:
            raise ProcessLayoutError(
                f"rewardkit got {n} completions in this generation batch, which is not a "
                f"multiple of num_generations={num_generations}, so they cannot be cut into "
                f"whole groups. Make the generation batch (per_device_train_batch_size x "
                f"steps_per_generation x number of processes; per_device_eval_batch_size x "
                f"processes in evaluation) a multiple of num_generations, and pass the same "
                f"num_generations to rewardkit as to GRPOConfig (num_generations_eval in "
                f"evaluation)."
            )
        return [i // num_generations for i in range(n)]
    ids: list[Hashable] = []
    previous: str | None = None
    current = -1
    for p in prompts:
        key = prompt_hash(p)
        if key != previous:
            current += 1
            previous = key
        ids.append(current)
    return ids
