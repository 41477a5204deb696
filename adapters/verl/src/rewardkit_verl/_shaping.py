"""Group and batch shaping on the driver, where verl's trainer sees whole groups.

The reward workers scored each trajectory alone and left every reward's result in its
``reward_extra_info``; here the results are read back, the config's shaping terms and
diagnostics run over the whole batch (groups by verl's ``uid``; history such as UCB counts keys
on the prompt's content hash or a dataset id, never on the per-step ``uid``), and each
trajectory's reward moves by the difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit import Batch, BatchError, Outcome, RewardPipeline, Rollout, ScoredBatch
from rewardkit_verl._extra_info import ExtraInfoLayout
from rewardkit_verl._settings import AdapterSettings

__all__ = ["BatchShaper", "ShapedRows", "session_of"]


def session_of(key: str) -> tuple[str, int]:
    """``(session, output index)`` of a TransferQueue key ``{uid}_{session_id}_{index}``.

    A multi-output agent loop writes one key per output; the outputs of one session are one
    rollout for shaping (verl copies the final output's reward onto the others).
    """
    parts = key.rsplit("_", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return f"{parts[0]}_{parts[1]}", int(parts[2])
    return key, 0


@dataclass(frozen=True, slots=True)
class ShapedRows:
    """Per-row reward changes for a batch, and the scored batch of its sessions (None if empty)."""

    deltas: list[float]
    scored: ScoredBatch | None
    metrics: dict[str, float] = field(default_factory=dict)
    #: Per row: did the config's first reward judge it correct (None for padding rows), for the
    #: token-entropy diagnostics' correct/incorrect split.
    correct: list[bool | None] = field(default_factory=list)

    def __repr__(self) -> str:
        changed = sum(d != 0.0 for d in self.deltas)
        return f"ShapedRows({len(self.deltas)} rows, {changed} changed)"


class BatchShaper:
    """Applies a config's shaping terms and diagnostics to samples scored one by one.

    Holds the pipeline whose stateful terms (UCB counts) live for the whole run; their state is
    saved and restored with verl's checkpoints (:mod:`rewardkit_verl._checkpoint`).
    """

    def __init__(self, settings: AdapterSettings) -> None:
        self.settings = settings
        self.pipeline = RewardPipeline(settings.config)
        self.layout = ExtraInfoLayout.for_config(settings.config)

    def __repr__(self) -> str:
        return f"BatchShaper(shaping={[t.name for t in self.pipeline.shaping]})"

    def shape(
        self, rollouts: Sequence[Rollout], infos: Sequence[Mapping[str, Any]], *, step: int | None
    ) -> ScoredBatch:
        """Shaped totals (``.rewards``), components and metrics of rollouts with their extra info."""
        _, results = self.layout.decode_batch(infos)
        # The rewards already ran in the reward workers; only the weighted sum, the shaping terms
        # and the diagnostics remain, which is the pipeline's second half.
        return self.pipeline.combine(Batch(rollouts), results, step)

    def shape_rows(
        self,
        *,
        keys: Sequence[str],
        rollouts: Sequence[Rollout | None],
        infos: Sequence[Mapping[str, Any] | None],
        step: int | None,
    ) -> ShapedRows:
        """Deltas for TransferQueue rows; ``None`` rollouts (verl's padding rows) stay unchanged.

        Rows are grouped into sessions (:func:`session_of`); each session is shaped once, on its
        final output, and every output of it moves by the same amount.
        """
        n = len(keys)
        if not (len(rollouts) == len(infos) == n):
            raise BatchError(f"{n} keys but {len(rollouts)} rollouts and {len(infos)} infos")
        final: dict[str, tuple[int, int]] = {}  # session -> (output index, row)
        row_session: list[str | None] = [None] * n
        for row, (key, rollout) in enumerate(zip(keys, rollouts)):
            if rollout is None:
                continue
            session, index = session_of(key)
            row_session[row] = session
            if session not in final or index > final[session][0]:
                final[session] = (index, row)
        if not final:
            return ShapedRows([0.0] * n, None, {}, [None] * n)
        rows = [row for _, row in final.values()]
        session_infos = [infos[r] for r in rows]
        if any(info is None for info in session_infos):
            raise BatchError("a non-padding row has no reward_extra_info")
        scored = self.shape([rollouts[r] for r in rows], session_infos, step=step)  # type: ignore[misc]
        base, _ = self.layout.decode_batch(session_infos)  # type: ignore[arg-type]
        delta_of = {session: scored.rewards[i] - base[i] for i, session in enumerate(final)}
        deltas = [0.0 if s is None else delta_of[s] for s in row_session]
        first = next(iter(scored.details.values()), None)
        correct_of = {
            session: None if first is None else first[i].outcome is Outcome.CORRECT
            for i, session in enumerate(final)
        }
        correct = [None if s is None else correct_of[s] for s in row_session]
        return ShapedRows(deltas, scored, dict(scored.metrics), correct)

    def close(self) -> None:
        self.pipeline.close()
