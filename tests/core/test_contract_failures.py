"""A shaping term or diagnostic that breaks its contract: a clear error naming the component
(shaping: the step fails with ShapingError), or a warning and no metric (diagnostics)."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from pydantic import Field

import rewardkit
from rewardkit import (
    ComponentConfig,
    ComponentRegistry,
    DiagnosticMetric,
    RewardPipeline,
    Rollout,
    ShapingError,
    ShapingInput,
    ShapingTerm,
    parse_config,
)


class _BadConfig(ComponentConfig):
    mode: str = Field(default="ok", description="How to break the contract.")


class BadTerm(ShapingTerm):
    """Breaks the shaping contract in the way its config says."""

    type: ClassVar[str] = "test_bad_term"
    Config: ClassVar[type[ComponentConfig]] = _BadConfig

    def shape(self, data: ShapingInput) -> list[Any]:
        n = len(data.batch)
        mode = self.config.mode  # type: ignore[attr-defined]
        if mode == "raise":
            raise ZeroDivisionError("term bug")
        if mode == "short":
            return [0.0] * (n - 1)
        if mode == "nan":
            return [0.0] * (n - 1) + [math.nan]
        if mode == "text":
            return ["x"] * n
        return [0.5] * n


class BadDiagnostic(DiagnosticMetric):
    """Breaks the diagnostic contract in the way its config says."""

    type: ClassVar[str] = "test_bad_diagnostic"
    Config: ClassVar[type[ComponentConfig]] = _BadConfig

    def compute(self, scored: rewardkit.ScoredBatch) -> Any:
        mode = self.config.mode  # type: ignore[attr-defined]
        if mode == "raise":
            raise ZeroDivisionError("diagnostic bug")
        if mode == "text":
            return {"value": "not a number"}
        if mode == "list":
            return [1.0]
        return {"value": 1.0}


PLUGIN = SimpleNamespace(rewardkit_components=rewardkit.hookimpl(lambda: [BadTerm, BadDiagnostic]))


@pytest.fixture(scope="module")
def registry() -> ComponentRegistry:
    return ComponentRegistry(plugins=[PLUGIN])


def _pipeline(registry: ComponentRegistry, **sections: Any) -> RewardPipeline:
    data = {"rewards": [{"type": "exact"}], "engine": {"workers": 1}, **sections}
    return RewardPipeline(parse_config(data, registry=registry))


def _batch() -> list[Rollout]:
    answers = ("4", "5", "4")
    return [Rollout(prompt="p", completion=f"\\boxed{{{a}}}", reference="4") for a in answers]


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        ("raise", "raised ZeroDivisionError: term bug"),
        ("short", "returned 2 values for 3 rollouts"),
        ("nan", "returned a non-finite value (nan) for rollout 2"),
        ("text", "returned a value that is not a number"),
    ],
)
def test_a_broken_shaping_term_fails_the_step_naming_it(
    registry: ComponentRegistry, mode: str, what: str
) -> None:
    with (
        _pipeline(
            registry, shaping=[{"type": "test_bad_term", "name": "bonus", "mode": mode}]
        ) as p,
        pytest.raises(ShapingError) as info,
    ):
        p.score(_batch())
    assert str(info.value).startswith("shaping term 'bonus' (test_bad_term) ")
    assert what in str(info.value)
    assert isinstance(info.value, RuntimeError)  # callers catching RuntimeError still do


def test_a_working_shaping_term_still_adds(registry: ComponentRegistry) -> None:
    with _pipeline(registry, shaping=[{"type": "test_bad_term", "name": "bonus"}]) as p:
        scored = p.score(_batch())
    assert scored.rewards == [1.5, 0.5, 1.5]


@pytest.mark.parametrize("mode", ["raise", "text", "list"])
def test_a_broken_diagnostic_is_a_warning_and_no_metric(
    registry: ComponentRegistry, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    diagnostics = [
        {"type": "test_bad_diagnostic", "name": "broken", "mode": mode},
        {"type": "test_bad_diagnostic", "name": "fine"},
    ]
    with (
        _pipeline(registry, diagnostics=diagnostics) as p,
        caplog.at_level(logging.WARNING, logger="rewardkit._pipeline"),
    ):
        first = p.score(_batch())
        second = p.score(_batch())
    for scored in (first, second):
        assert scored.rewards == [1.0, 0.0, 1.0]
        assert scored.metrics["rewardkit/fine/value"] == 1.0
        assert not any(k.startswith("rewardkit/broken/") for k in scored.metrics)
    warnings = [r for r in caplog.records if "diagnostic 'broken'" in r.getMessage()]
    assert len(warnings) == 1  # reported once, not every step
