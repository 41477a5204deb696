"""One TRL reward-function call, read into the columns rewardkit needs.

TRL calls every reward function with keyword arguments only: ``prompts``, ``completions``,
``completion_ids``, every dataset column except ``prompt``, ``trainer_state``, ``log_metric`` and
``log_extra`` (see ``GRPOTrainer._calculate_rewards``). This module turns those into the prompt,
completion, reference and metadata columns of a rewardkit batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit import BatchError

__all__ = ["REFERENCE_COLUMNS", "TRL_CALL_KWARGS", "TRLCall"]

logger = logging.getLogger("rewardkit_trl")

#: Dataset columns tried, in this order, when no reference column is configured. Explicit names
#: come first: in datasets with both, ``answer`` is the bare answer and ``solution`` a worked one.
REFERENCE_COLUMNS: tuple[str, ...] = ("reference", "ground_truth", "answer", "solution")

#: Keyword arguments TRL passes that are not dataset columns.
TRL_CALL_KWARGS: frozenset[str] = frozenset(
    {
        "prompts",
        "completions",
        "completion_ids",
        "trainer_state",
        "log_metric",
        "log_extra",
        "environments",
        "completion_logprobs",
    }
)

_announced_columns: set[tuple[str, tuple[str, ...]]] = set()


@dataclass(frozen=True, slots=True)
class TRLCall:
    """The columns of one reward call, one value per completion, in TRL's order."""

    prompts: Sequence[Any]
    completions: Sequence[Any]
    references: Sequence[Any] | None
    reference_column: str | None
    metadata: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    step: int | None = None
    log_metric: Callable[[str, float], None] | None = None
    log_extra: Callable[[str, list[Any]], None] | None = None
    #: Per completion, its sampled tokens' log-probs; the rewardkit trainers pass them (as the
    #: ``completion_logprobs`` keyword) when a component of the config needs them.
    completion_logprobs: Sequence[Sequence[float] | None] | None = None

    def __len__(self) -> int:
        return len(self.completions)

    def __repr__(self) -> str:
        return (
            f"TRLCall({len(self.completions)} completions, reference_column="
            f"{self.reference_column!r}, step={self.step})"
        )

    @classmethod
    def from_kwargs(
        cls,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        reference_column: str | None,
    ) -> TRLCall:
        """Read TRL's keyword arguments. ``kwargs`` holds everything but prompts and completions."""
        n = len(completions)
        if len(prompts) != n:
            raise BatchError(f"TRL passed {len(prompts)} prompts for {n} completions")
        columns = {
            k: v
            for k, v in kwargs.items()
            if k not in TRL_CALL_KWARGS and isinstance(v, Sequence) and not isinstance(v, str)
        }
        column = _pick_reference_column(columns, reference_column)
        references = columns.get(column) if column is not None else None
        metadata = {k: v for k, v in columns.items() if len(v) == n}
        completion_ids = kwargs.get("completion_ids")
        if completion_ids is not None and len(completion_ids) == n:
            # Token-level components (length penalties) read the completion's token ids.
            metadata["completion_ids"] = completion_ids
        logprobs = kwargs.get("completion_logprobs")
        if logprobs is not None and len(logprobs) != n:
            raise BatchError(f"{len(logprobs)} completion_logprobs rows for {n} completions")
        state = kwargs.get("trainer_state")
        step = getattr(state, "global_step", None)
        return cls(
            prompts=prompts,
            completions=completions,
            references=references,
            reference_column=column,
            metadata=metadata,
            step=int(step) if step is not None else None,
            log_metric=kwargs.get("log_metric"),
            log_extra=kwargs.get("log_extra"),
            completion_logprobs=logprobs,
        )


def _pick_reference_column(
    columns: Mapping[str, Sequence[Any]], configured: str | None
) -> str | None:
    if configured is not None:
        if configured not in columns:
            known = ", ".join(sorted(columns)) or "(none)"
            raise BatchError(
                f"reference_column={configured!r} is not a column of this batch; the dataset "
                f"columns TRL passed are: {known}"
            )
        return configured
    found = [c for c in REFERENCE_COLUMNS if c in columns]
    if not found:
        return None
    key = (found[0], tuple(found))
    if len(found) > 1 and key not in _announced_columns:
        _announced_columns.add(key)
        logger.info(
            "rewardkit: using dataset column %r as the reference (also present: %s); pass "
            "reference_column=... to choose another",
            found[0],
            ", ".join(found[1:]),
        )
    return found[0]
