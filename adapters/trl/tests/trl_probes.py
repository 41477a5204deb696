"""Test-only rewardkit components for the TRL adapter tests, registered in-process.

``probe_config(mapping)`` validates a config against the installed components plus these, so
tests can use terms whose values expose what the adapter handed them (``group_size_probe``
returns each rollout's group size: a group split across processes shows up as a smaller number).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field

import rewardkit
from rewardkit import (
    ComponentConfig,
    RewardComponent,
    RewardResult,
    Rollout,
    ScoringContext,
    ShapingInput,
    ShapingTerm,
)
from rewardkit._registry import ComponentRegistry


class GroupSizeProbe(ShapingTerm):
    """The size of each rollout's group (0.01 times it, to keep rewards small)."""

    type = "group_size_probe"

    def shape(self, data: ShapingInput) -> list[float]:
        out = [0.0] * len(data.batch)
        for members in data.batch.groups.values():
            for i in members:
                out[i] = 0.01 * len(members)
        return out


class ScaleProbeConfig(ComponentConfig):
    factor: float = Field(default=0.5, description="What the reward so far is multiplied by.")


class ScaleProbe(ShapingTerm):
    """Multiplies the reward so far by a constant factor."""

    type = "scale_probe"
    Config = ScaleProbeConfig
    default_combine = "multiply"

    def shape(self, data: ShapingInput) -> list[float]:
        return [self.config.factor] * len(data.batch)  # type: ignore[attr-defined]


class RaisingProbe(RewardComponent):
    """Always raises, like a buggy verifier."""

    type = "raising_probe"

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        raise ZeroDivisionError("probe exploded")


class ReferenceEchoProbe(RewardComponent):
    """1 when the completion text equals the reference; the answer is the reference."""

    type = "reference_echo_probe"
    provides_answers = True
    requires_reference: ClassVar[bool] = True

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        return [
            RewardResult.correct(answer=str(r.reference))
            if r.completion_text.strip() == str(r.reference)
            else RewardResult.incorrect(answer=str(r.reference))
            for r in rollouts
        ]


class DigitClassProbe(RewardComponent):
    """1 when the completion contains a digit; the canonical answer is 'digit' or 'words'.

    A coarse answer, so a tiny random model's groups often repeat one (answer-level terms then
    have something to count).
    """

    type = "digit_class_probe"
    provides_answers = True

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        out = []
        for r in rollouts:
            words = r.completion_text.split()
            if not words:
                out.append(RewardResult.no_answer("empty completion"))
            elif any(w.isdigit() for w in words):
                out.append(RewardResult.correct(answer="digit"))
            else:
                out.append(RewardResult.incorrect(answer="words"))
        return out


class SleepyJudgeConfig(ComponentConfig):
    delay_s: float = Field(default=0.2, ge=0, description="Seconds each batch waits.")


class SleepyJudgeProbe(RewardComponent):
    """An I/O-bound judge: waits ``delay_s`` (asyncio) per batch, then scores 1 per rollout."""

    type = "sleepy_judge_probe"
    Config = SleepyJudgeConfig
    io_bound: ClassVar[bool] = True

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        return asyncio.run(self.ascore(rollouts, context))

    async def ascore(
        self, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        await asyncio.sleep(self.config.delay_s)  # type: ignore[attr-defined]
        return [RewardResult.correct(answer="judged") for _ in rollouts]


class VisitCountProbe(ShapingTerm):
    """Counts (prompt, completion) pairs over training history; adds nothing to the reward."""

    type = "visit_count_probe"

    def __init__(self, config: Any = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.counts: dict[str, int] = {}

    def shape(self, data: ShapingInput) -> list[float]:
        for r in data.batch:
            key = f"{r.prompt_key}:{r.completion_text}"
            self.counts[key] = self.counts.get(key, 0) + 1
        return [0.0] * len(data.batch)

    def state_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.counts = dict(state["counts"])


PROBES = [
    VisitCountProbe,
    DigitClassProbe,
    GroupSizeProbe,
    ScaleProbe,
    RaisingProbe,
    ReferenceEchoProbe,
    SleepyJudgeProbe,
]


@rewardkit.hookimpl
def rewardkit_components() -> list[type[rewardkit.Component]]:
    return list(PROBES)


_REGISTRY: ComponentRegistry | None = None


def probe_registry() -> ComponentRegistry:
    global _REGISTRY
    if _REGISTRY is None:
        import sys

        _REGISTRY = ComponentRegistry(plugins=[sys.modules[__name__]])
    return _REGISTRY


def probe_config(data: Mapping[str, Any]) -> rewardkit.RewardKitConfig:
    """``data`` validated with the installed components plus the probes."""
    return rewardkit.parse_config(data, registry=probe_registry())
