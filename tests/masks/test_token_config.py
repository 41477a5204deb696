"""The ``token:`` list of token-level terms: validation, shorthand, order of application."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rewardkit import ConfigError, RewardPipeline
from rewardkit._config import parse_config
from rewardkit.cli import cli
from rewardkit.masks import (
    ClipCovTerm,
    EntropyAdvantageTerm,
    EntropyTopRatioMask,
    KlCovTerm,
    TokenEntropyTerm,
)


def _errors(cfg: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(cfg)
    return [(d.location, d.message) for d in info.value.details]


def test_terms_apply_by_stage_whatever_the_list_order() -> None:
    pipe = RewardPipeline(
        {
            "token": [
                {"type": "token_entropy"},
                {"type": "kl_cov", "ratio": 0.01},
                {"type": "entropy_advantage"},
                {"type": "entropy_top_ratio", "ratio": 0.3},
            ]
        }
    )
    assert [type(t) for t in pipe.token_terms] == [
        EntropyTopRatioMask,
        EntropyAdvantageTerm,
        KlCovTerm,
        TokenEntropyTerm,
    ]
    assert isinstance(pipe.token_mask, EntropyTopRatioMask)
    assert pipe.token_mask.config.ratio == 0.3


def test_token_mask_is_shorthand_for_one_item() -> None:
    short = RewardPipeline({"token_mask": {"type": "entropy_top_ratio", "ratio": 0.4}})
    long = RewardPipeline({"token": [{"type": "entropy_top_ratio", "ratio": 0.4}]})
    assert repr(short.token_mask) == repr(long.token_mask)
    assert len(short.token_terms) == len(long.token_terms) == 1
    # A non-mask term as shorthand: applied, but no mask.
    pipe = RewardPipeline({"token_mask": {"type": "clip_cov"}})
    assert pipe.token_mask is None
    assert isinstance(pipe.token_terms[0], ClipCovTerm)


def test_no_terms_by_default() -> None:
    pipe = RewardPipeline({})
    assert pipe.token_terms == [] and pipe.token_mask is None


def test_clip_cov_with_kl_cov_is_rejected_with_the_path() -> None:
    errors = _errors(
        {"token": [{"type": "clip_cov"}, {"type": "entropy_advantage"}, {"type": "kl_cov"}]}
    )
    assert errors[0][0] == "token[2].type"
    assert "cannot be combined with 'clip_cov' (token[0])" in errors[0][1]


def test_both_forms_duplicates_and_two_masks_are_rejected() -> None:
    errors = _errors({"token_mask": {"type": "entropy_top_ratio"}, "token": [{"type": "kl_cov"}]})
    assert errors[0][0] == "token_mask" and "not both" in errors[0][1]
    errors = _errors({"token": [{"type": "entropy_advantage"}, {"type": "entropy_advantage"}]})
    assert errors == [("token[1].type", "'entropy_advantage' is listed twice (also token[0])")]


def test_field_errors_name_the_entry() -> None:
    errors = _errors({"token": [{"type": "entropy_advantage", "kappa": 1.0}]})
    assert errors[0][0] == "token[0].kappa"
    errors = _errors({"token": [{"type": "clip_cov", "cov_lower": 6.0}]})
    assert errors[0][0] == "token[0].cov_upper"
    assert "cov_lower (6.0) must be below cov_upper" in errors[0][1]
    errors = _errors({"token": [{"type": "kl_cov", "ratoi": 0.1}]})
    assert errors[0][0] == "token[0].ratoi" and "did you mean 'ratio'" in errors[0][1]
    errors = _errors({"token": [{"type": "klcov"}]})
    assert errors[0][0] == "token[0].type" and "did you mean 'kl_cov'" in errors[0][1]


def test_validate_cli_reports_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("token:\n  - type: kl_cov\n  - type: clip_cov\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "token[1].type: 'clip_cov' cannot be combined with 'kl_cov'" in result.output
    good = tmp_path / "good.yaml"
    good.write_text(
        "token:\n  - type: entropy_advantage\n  - type: clip_cov\n  - type: token_entropy\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "valid (3 components)" in result.output


def test_schema_lists_the_token_terms() -> None:
    from rewardkit._config import config_json_schema

    text = str(config_json_schema())
    for name in ("entropy_advantage", "clip_cov", "kl_cov", "token_entropy"):
        assert name in text
