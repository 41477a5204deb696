"""Every built-in component's cross-field rules: `rewardkit validate` and `RewardPipeline` reject
the same configs, each error at the field path of the field at fault.

The cases are enumerated from the components: each built-in whose class overrides
``check_entry`` or whose ``Config`` has a model validator must have a case here, and every field
declared with ``entry_reference_field`` gets a dangling-reference case automatically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rewardkit import Component, ConfigError, RewardPipeline, get_registry
from rewardkit._components import entry_reference_requirement, entry_references
from rewardkit._registry import BUILTIN_PLUGINS
from rewardkit.cli import cli

_SECTION = {"reward": "rewards", "shaping": "shaping", "diagnostic": "diagnostics"}

#: Fields a built-in needs to be valid at all (the rest have defaults).
MINIMAL: dict[str, dict[str, Any]] = {
    "length": {"max_tokens": 100, "buffer_tokens": 10},
    "pass_at_k_objective": {"k": 2},
}

#: (type, fields that break one rule, the expected error location). The same entry without the
#: breaking fields is valid, so each case tests exactly its rule.
RULES: list[tuple[str, dict[str, Any], str]] = [
    ("code", {"sandbox": "nosuch"}, "rewards[0].sandbox"),
    ("code", {"sandbox": "local", "sandbox_options": {"nosuch": 1}}, "rewards[0].sandbox_options"),
    ("length", {"max_tokens": 10, "buffer_tokens": 20}, "rewards[0].buffer_tokens"),
    (
        "semantic_diversity",
        {"quality_shift": "group_min", "combine": "multiply"},
        "shaping[0].combine",
    ),
    (
        "semantic_diversity",
        {"quality_shift": "group_min", "coefficient": 0.5},
        "shaping[0].coefficient",
    ),
    ("semantic_diversity", {"judge": "classifier"}, "shaping[0].classifier_path"),
    ("semantic_diversity", {"judge": "embedding", "backend": "http"}, "shaping[0].http_url"),
    ("partitions", {"judge": "classifier"}, "diagnostics[0].classifier_path"),
    ("partitions", {"judge": "embedding", "backend": "http"}, "diagnostics[0].http_url"),
    ("embedding_diversity", {"backend": "http"}, "diagnostics[0].http_url"),
    ("pass_at_k_objective", {"combine": "multiply"}, "shaping[0].combine"),
    ("unlikeliness", {"combine": "add"}, "shaping[0].combine"),
    ("clip_cov", {"cov_lower": 5.0, "cov_upper": 1.0}, "token[0].cov_upper"),
]


def _builtins() -> dict[str, type[Component]]:
    return {
        t: info.cls
        for t, info in get_registry().components.items()
        if info.plugin in BUILTIN_PLUGINS
    }


def _config(type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    cls = _builtins()[type_name]
    entry = {"type": type_name, **MINIMAL.get(type_name, {}), **fields}
    if cls.kind.value == "token_mask":
        return {"token": [entry]}
    config: dict[str, Any] = {_SECTION[cls.kind.value]: [entry]}
    if cls.kind.value != "reward":
        config["rewards"] = [{"type": "exact", "name": "correct"}]
    return config


def _validate(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    return result.exit_code, result.output


def _pipeline_errors(config: dict[str, Any]) -> list[str] | None:
    try:
        RewardPipeline(config).close()
    except ConfigError as exc:
        return [d.location for d in exc.details]
    return None


def test_every_builtin_with_cross_field_rules_has_a_case() -> None:
    with_rules = set()
    for type_name, cls in _builtins().items():
        own_check = cls.check_entry.__func__ is not Component.check_entry.__func__  # type: ignore[attr-defined]
        validators = cls.Config.__pydantic_decorators__.model_validators
        if own_check or validators:
            with_rules.add(type_name)
    assert with_rules, "no built-in declares a cross-field rule: the enumeration is broken"
    assert with_rules <= {t for t, _, _ in RULES}, with_rules - {t for t, _, _ in RULES}


@pytest.mark.parametrize("type_name", sorted(_builtins()))
def test_every_builtin_validates_from_its_minimal_entry(tmp_path: Path, type_name: str) -> None:
    config = _config(type_name, {})
    code, out = _validate(tmp_path, config)
    assert code == 0, out
    # ... and the pipeline builds it: validate accepting what RewardPipeline rejects is the
    # other half of the disagreement.
    assert _pipeline_errors(config) is None


@pytest.mark.parametrize(("type_name", "fields", "location"), RULES)
def test_validate_and_the_pipeline_reject_each_rule_at_its_field(
    tmp_path: Path, type_name: str, fields: dict[str, Any], location: str
) -> None:
    config = _config(type_name, fields)
    code, out = _validate(tmp_path, config)
    assert code == 2, out
    assert f"  {location}: " in out
    assert location in (_pipeline_errors(config) or [])


def _reference_cases() -> list[tuple[str, str]]:
    return [
        (t, field)
        for t, cls in sorted(_builtins().items())
        if cls.kind.value != "token_mask"
        for field in entry_references(cls.Config)
    ]


def test_answer_from_is_declared_not_guessed() -> None:
    assert ("semantic_diversity", "answer_from") in _reference_cases()
    assert ("pass_at_k", "answer_from") in _reference_cases()


@pytest.mark.parametrize(("type_name", "field"), _reference_cases())
def test_a_reference_to_no_entry_is_rejected_at_its_field(
    tmp_path: Path, type_name: str, field: str
) -> None:
    ok = _config(type_name, {field: "correct"})
    assert _validate(tmp_path, ok)[0] == 0
    bad = _config(type_name, {field: "corect"})
    code, out = _validate(tmp_path, bad)
    section = _SECTION[_builtins()[type_name].kind.value]
    location = f"{section}[0].{field}"
    assert code == 2
    assert f"  {location}: {field} 'corect' names no reward; did you mean 'correct'?" in out
    assert _pipeline_errors(bad) == [location]


def test_a_component_built_on_its_own_keeps_its_rules() -> None:
    cls = _builtins()["semantic_diversity"]
    with pytest.raises(ConfigError, match="coefficient"):
        cls(cls.Config(judge="answer", quality_shift="group_min", coefficient=0.5))
    cls(cls.Config(judge="answer", coefficient=0.5)).close()


def _answer_reference_cases() -> list[tuple[str, str]]:
    return [
        (t, field)
        for t, field in _reference_cases()
        if entry_reference_requirement(_builtins()[t].Config, field) == "provides_answers"
    ]


def test_the_answer_readers_declare_it() -> None:
    cases = _answer_reference_cases()
    assert {t for t, _ in cases} >= {"batch_repetition", "ucb_exploration", "answer_diversity"}
    # pass@k reads only outcomes: naming a reward without answers is fine there.
    assert ("pass_at_k", "answer_from") not in cases


def test_which_builtin_rewards_provide_answers() -> None:
    rewards = {t: cls for t, cls in _builtins().items() if cls.kind.value == "reward"}
    assert {t for t, cls in rewards.items() if cls.provides_answers} == {
        "math",
        "numeric",
        "exact",
        "choice",
    }


@pytest.mark.parametrize("answerless", ["format", "length"])
@pytest.mark.parametrize(("type_name", "field"), _answer_reference_cases())
def test_an_answer_reference_to_a_reward_without_answers_is_rejected(
    tmp_path: Path, type_name: str, field: str, answerless: str
) -> None:
    config = _config(type_name, {field: "shape"})
    config["rewards"].append({"type": answerless, "name": "shape", **MINIMAL.get(answerless, {})})
    code, out = _validate(tmp_path, config)
    section = _SECTION[_builtins()[type_name].kind.value]
    location = f"{section}[0].{field}"
    assert code == 2, out
    assert f"  {location}: {field} 'shape' names a reward of type {answerless!r}" in out
    assert "Rewards that do: correct." in out
    assert _pipeline_errors(config) == [location]
    # The same entry naming the reward with answers is valid.
    config[section][0][field] = "correct"
    assert _validate(tmp_path, config)[0] == 0
    assert _pipeline_errors(config) is None


def test_an_outcome_reference_may_name_a_reward_without_answers(tmp_path: Path) -> None:
    config = _config("pass_at_k", {"answer_from": "shape"})
    config["rewards"].append({"type": "format", "name": "shape"})
    assert _validate(tmp_path, config)[0] == 0
    assert _pipeline_errors(config) is None


@pytest.mark.parametrize("type_name", ["semantic_diversity", "partitions"])
def test_the_answer_judge_needs_a_reward_with_answers(tmp_path: Path, type_name: str) -> None:
    config = _config(type_name, {"judge": "answer", "answer_from": "shape"})
    config["rewards"].append({"type": "format", "name": "shape"})
    section = _SECTION[_builtins()[type_name].kind.value]
    location = f"{section}[0].answer_from"
    code, out = _validate(tmp_path, config)
    assert code == 2, out
    assert f"  {location}: judge 'answer' groups by answers" in out
    assert _pipeline_errors(config) == [location]
    # Another judge reads only outcomes from answer_from: naming `format` is fine there.
    config[section][0]["judge"] = "embedding"
    assert _validate(tmp_path, config)[0] == 0
    config[section][0].update(judge="answer", answer_from="correct")
    assert _validate(tmp_path, config)[0] == 0
    assert _pipeline_errors(config) is None
