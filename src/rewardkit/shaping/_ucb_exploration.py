"""``ucb_exploration``: a historical count bonus on final answers (arXiv 2509.06941)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from rewardkit._components import ComponentConfig, ShapingInput, ShapingTerm
from rewardkit._errors import BatchError, StateError
from rewardkit._rollout import Rollout
from rewardkit._state import read_state_file, write_state_file
from rewardkit.judges import answer_from_field, answer_keys, correct_flags
from rewardkit.shaping._counts import (
    AnswerCounts,
    answer_id,
    check_prompt_id_column,
    prompt_id,
)

__all__ = ["UCBExplorationBonus", "ucb_bonus"]

STATE_KIND = "ucb_exploration"


def ucb_bonus(count: int) -> float:
    """``min(1, N^-1/2)``; an answer never seen (N = 0) gets the full bonus 1."""
    return 1.0 if count <= 1 else count**-0.5


class UCBExplorationBonus(ShapingTerm):
    """Bonus for rare final answers over training history: c x min(1, N(prompt, answer)^-1/2), minus a baseline.

    ``N`` counts how often the policy gave this answer to this prompt over all earlier batches
    (and, by default, the current one). Variants: ``raw`` (b), ``mean_baseline`` (b minus the
    leave-one-out mean of the group) and ``constant_baseline`` (b - b0; the paper's best).
    Rollouts without an answer get 0 and are not counted. Groups where every rollout is correct
    get 0 (on by default). State: ``state_dict``/``load_state_dict``, :meth:`save`/:meth:`load`
    (atomic, versioned files) and :meth:`merge_state` (several processes add up).
    """

    type: ClassVar[str] = "ucb_exploration"

    class Config(ComponentConfig):
        answer_from: str | None = answer_from_field(answers=True)
        variant: Literal["raw", "mean_baseline", "constant_baseline"] = Field(
            default="constant_baseline",
            description="raw: b; mean_baseline: b minus the mean of the other rollouts' b in the "
            "group (leave-one-out: rewardkit's reading of UCB-Mean); constant_baseline: "
            "b - baseline (UCB-Con, the paper's best).",
        )
        baseline: float = Field(
            default=0.5,
            ge=0,
            le=1,
            description="b0 of the constant_baseline variant; with 0.5 an answer seen more than 4 "
            "times gets a negative signal.",
        )
        coefficient: float = Field(
            default=0.1,
            ge=0,
            description="Scale c of the bonus. The paper's value is not recoverable from its "
            "sources; tune it against the task reward's scale.",
        )
        order: Literal["count_then_score", "score_then_count"] = Field(
            default="count_then_score",
            description="count_then_score: the current batch is counted before bonuses are "
            "computed (so N >= 1); score_then_count: bonuses use only earlier batches. The paper "
            "does not state the order; the default is rewardkit's choice.",
        )
        zero_all_correct_groups: bool = Field(
            default=True,
            description="Give 0 to every rollout of a group whose rollouts are all correct (their "
            "task advantage is 0 too). On by default: rewardkit's choice, after secondary "
            "summaries of the paper (there is no official code).",
        )
        only_incorrect: bool = Field(
            default=False, description="Give the bonus only to incorrect rollouts (0 otherwise)."
        )
        prompt_id_column: str | None = Field(
            default=None,
            description="Metadata column with a stable prompt id (a dataset index). Unset: a "
            "content hash of the prompt. Never a per-step id such as verl's 'uid'.",
        )
        max_answers_per_prompt: int = Field(
            default=64,
            ge=1,
            le=1_000_000,
            description="Distinct answers tracked per prompt; beyond it new answers share one "
            "overflow counter (see docs/exploration.md).",
        )
        state_file: str | None = Field(
            default=None,
            description="Optional file: loaded when the term is built if it exists, written "
            "atomically when the term is closed.",
        )

        _not_per_step = field_validator("prompt_id_column")(check_prompt_id_column)

    config: Config

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.counts = AnswerCounts(self.config.max_answers_per_prompt)
        if self.config.state_file and Path(self.config.state_file).exists():
            self.load(self.config.state_file)

    def __repr__(self) -> str:
        return f"UCBExplorationBonus(name={self.name!r}, counts={self.counts!r})"

    # ------------------------------------------------------------------ shaping

    def _prompt_ids(self, rollouts: Sequence[Rollout]) -> list[int]:
        column = self.config.prompt_id_column
        if column is None:
            # Rollouts of a group usually share one prompt object: hash each distinct one once.
            seen: dict[int, int] = {}
            out = []
            for r in rollouts:
                key = id(r.prompt)
                if key not in seen:
                    seen[key] = prompt_id(r.prompt_key)
                out.append(seen[key])
            return out
        out = []
        for i, r in enumerate(rollouts):
            if column not in r.metadata:
                raise BatchError(
                    f"rollout {i}: metadata column {column!r} (prompt_id_column of "
                    f"{self.name!r}) is missing"
                )
            out.append(prompt_id(r.metadata[column]))
        return out

    def shape(self, data: ShapingInput) -> list[float]:
        cfg = self.config
        batch = data.batch
        answers = answer_keys(batch, data.results, cfg.answer_from)
        prompts = self._prompt_ids(batch.rollouts)
        keys = [None if a is None else (p, answer_id(a)) for p, a in zip(prompts, answers)]
        if cfg.order == "count_then_score":
            for k in keys:
                if k is not None:
                    self.counts.add(*k)
        bonus = [None if k is None else ucb_bonus(self.counts.get(*k)) for k in keys]
        if cfg.order == "score_then_count":
            for k in keys:
                if k is not None:
                    self.counts.add(*k)

        correct = (
            correct_flags(len(batch), data.results, cfg.answer_from)
            if cfg.zero_all_correct_groups or cfg.only_incorrect
            else None
        )
        out = [0.0] * len(batch)
        for members in batch.groups.values():
            skip = correct is not None and cfg.zero_all_correct_groups
            if skip and all(correct[i] for i in members):  # type: ignore[index]
                continue
            values = self._variant([bonus[i] for i in members])
            for i, v in zip(members, values):
                if correct is not None and cfg.only_incorrect and correct[i]:
                    continue
                out[i] = cfg.coefficient * v
        return out

    def _variant(self, bonus: Sequence[float | None]) -> list[float]:
        variant = self.config.variant
        if variant == "raw":
            return [0.0 if b is None else b for b in bonus]
        if variant == "constant_baseline":
            b0 = self.config.baseline
            return [0.0 if b is None else b - b0 for b in bonus]
        # Leave-one-out over the rollouts that have an answer.
        answered = [b for b in bonus if b is not None]
        total, m = sum(answered), len(answered)
        if m < 2:
            return [0.0] * len(bonus)
        return [0.0 if b is None else b - (total - b) / (m - 1) for b in bonus]

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {"counts": self.counts.to_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or "counts" not in state:
            raise StateError(f"{self.name}: not a ucb_exploration state (no 'counts')")
        self.counts = AnswerCounts.from_state(
            state["counts"], max_answers=self.config.max_answers_per_prompt
        )

    def merge_state(self, state: Mapping[str, Any]) -> None:
        """Add the counts of another process's :meth:`state_dict` to this term's."""
        if not isinstance(state, Mapping) or "counts" not in state:
            raise StateError(f"{self.name}: not a ucb_exploration state (no 'counts')")
        self.counts.merge(AnswerCounts.from_state(state["counts"]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the counts atomically (temporary file, fsync, rename) with a format version."""
        write_state_file(path, kind=STATE_KIND, payload=self.state_dict())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace the counts with a file written by :meth:`save`; StateError if it is not one."""
        self.load_state_dict(read_state_file(path, kind=STATE_KIND))

    def close(self) -> None:
        if self.config.state_file:
            self.save(self.config.state_file)
