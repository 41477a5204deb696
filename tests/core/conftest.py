"""Test-local components, registered as an in-process plugin next to the installed ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import Field

import rewardkit
from rewardkit import (
    ComponentConfig,
    ComponentRegistry,
    DiagnosticMetric,
    RewardComponent,
    RewardResult,
    ScoringContext,
    ShapingInput,
    ShapingTerm,
    entry_reference_field,
)


class LengthConfig(ComponentConfig):
    per_char: float = Field(default=1.0, ge=0, description="Score per character.")


class CharCount(RewardComponent):
    """Number of characters times per_char; answer = the text itself."""

    type = "test_chars"
    Config = LengthConfig

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        cfg: LengthConfig = self.config  # type: ignore[assignment]
        return [
            RewardResult.correct(len(r.completion_text) * cfg.per_char, answer=r.completion_text)
            for r in rollouts
        ]


class EqualsReference(RewardComponent):
    """1 when the completion equals the reference."""

    type = "test_equals"
    requires_reference = True

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        out = []
        for r in rollouts:
            if r.reference is None:
                out.append(RewardResult.error("missing reference"))
            elif r.completion_text == r.reference:
                out.append(RewardResult.correct(answer=r.completion_text))
            else:
                out.append(RewardResult.incorrect(answer=r.completion_text))
        return out


class BrokenConfig(ComponentConfig):
    mode: str = Field(default="raise", description="raise, short (too few results) or junk.")


class BrokenReward(RewardComponent):
    """A plugin with a bug: raises, or returns too few results or non-results."""

    type = "test_broken"
    Config = BrokenConfig

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        mode = self.config.mode  # type: ignore[attr-defined]
        if mode == "raise":
            raise ZeroDivisionError("plugin bug")
        if mode == "short":
            return [RewardResult.correct()] * (len(rollouts) - 1)
        return [1.0] * len(rollouts)  # type: ignore[list-item]


class OffsetConfig(ComponentConfig):
    value: float = Field(description="Constant returned for every rollout.")
    answer_from: str | None = entry_reference_field(
        "rewards", description="Unused; exercises the reference check."
    )


class Offset(ShapingTerm):
    """A constant per rollout; counts calls in its state."""

    type = "test_offset"
    Config = OffsetConfig

    def __init__(self, config: OffsetConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.calls = 0
        self.seen_totals: list[list[float]] = []

    def shape(self, data: ShapingInput) -> list[float]:
        self.calls += 1
        self.seen_totals.append(list(data.totals))
        cfg: OffsetConfig = self.config  # type: ignore[assignment]
        return [cfg.value] * len(data.batch)

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.calls = int(state["calls"])


class GroupSize(DiagnosticMetric):
    """Mean group size."""

    type = "test_group_size"

    def compute(self, scored: rewardkit.ScoredBatch) -> dict[str, float]:
        sizes = [len(v) for v in scored.batch.groups.values()]
        return {"mean": sum(sizes) / len(sizes)}


TEST_PLUGIN = SimpleNamespace(
    rewardkit_components=rewardkit.hookimpl(
        lambda: [CharCount, EqualsReference, BrokenReward, Offset, GroupSize]
    )
)


@pytest.fixture(scope="session")
def registry() -> ComponentRegistry:
    return ComponentRegistry(plugins=[TEST_PLUGIN])
