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
