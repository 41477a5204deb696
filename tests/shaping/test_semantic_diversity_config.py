"""Config combinations of ``semantic_diversity`` that would be silently ignored are errors."""

from __future__ import annotations

import pytest

from rewardkit import ConfigError, RewardPipeline


def _config(**fields: object) -> dict[str, object]:
    term = {"type": "semantic_diversity", "judge": "answer", "combine": "add", **fields}
    return {"rewards": [{"type": "math"}], "shaping": [term]}


def test_group_min_shift_rejects_a_coefficient() -> None:
    with pytest.raises(ConfigError, match="coefficient"):
        RewardPipeline(_config(quality_shift="group_min", coefficient=0.5))
    RewardPipeline(_config(quality_shift="group_min")).close()
    RewardPipeline(_config(coefficient=0.5)).close()


@pytest.mark.parametrize("shift", ["group_min", "group_min_if_negative"])
def test_every_quality_shift_needs_add_and_no_coefficient(shift: str) -> None:
    with pytest.raises(ConfigError, match="combine: add"):
        RewardPipeline(_config(quality_shift=shift, combine="multiply"))
    with pytest.raises(ConfigError, match="coefficient"):
        RewardPipeline(_config(quality_shift=shift, coefficient=2.0))
