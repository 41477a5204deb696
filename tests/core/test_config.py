from __future__ import annotations

import json
from pathlib import Path

import pytest

import rewardkit
from rewardkit import ComponentRegistry, ConfigError, config_json_schema, load_config, parse_config


def _err(data: dict, registry: ComponentRegistry) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(data, registry=registry)
    return info.value


def test_valid_config_defaults(registry: ComponentRegistry) -> None:
    cfg = parse_config(
        {"rewards": [{"type": "test_chars"}, {"name": "eq", "type": "test_equals", "weight": 0.5}]},
        registry=registry,
    )
    assert [e.name for e in cfg.rewards] == ["test_chars", "eq"]
    assert cfg.rewards[1].weight == 0.5
    assert cfg.engine.timeout_s <= 2.0


def test_misspelt_field_names_path_and_suggestion(registry: ComponentRegistry) -> None:
    e = _err({"rewards": [{"type": "test_equals"}, {"type": "test_chars", "per_chr": 2}]}, registry)
    [d] = e.details
    assert d.location == "rewards[1].per_chr"
    assert "did you mean 'per_char'" in d.message


def test_unknown_type_lists_known_and_closest(registry: ComponentRegistry) -> None:
    e = _err({"rewards": [{"type": "test_char"}]}, registry)
    [d] = e.details
    assert d.location == "rewards[0].type"
    assert "did you mean 'test_chars'" in d.message
    assert "test_equals" in d.message


def test_type_of_another_kind_says_where_it_belongs(registry: ComponentRegistry) -> None:
    e = _err({"rewards": [{"type": "test_offset", "value": 1}]}, registry)
    assert "list it under 'shaping:'" in str(e)


def test_constraint_violation_names_field(registry: ComponentRegistry) -> None:
    e = _err(
        {"rewards": [{"type": "test_chars", "per_char": -1}], "engine": {"timeout_s": 0}}, registry
    )
    locs = sorted(d.location for d in e.details)
    assert locs == ["engine.timeout_s", "rewards[0].per_char"]
    assert "greater than or equal to 0" in str(e)


def test_duplicate_names_and_dangling_answer_from(registry: ComponentRegistry) -> None:
    e = _err(
        {
            "rewards": [{"name": "a", "type": "test_chars"}],
            "shaping": [
                {"name": "a", "type": "test_offset", "value": 1},
                {"name": "b", "type": "test_offset", "value": 1, "answer_from": "aa"},
            ],
        },
        registry,
    )
    text = str(e)
    assert "shaping[0].name: duplicate name 'a'" in text
    assert "shaping[1].answer_from: answer_from 'aa' names no reward; did you mean 'a'?" in text


def test_top_level_typo(registry: ComponentRegistry) -> None:
    e = _err({"reward": []}, registry)
    assert "did you mean 'rewards'" in str(e)


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_files_by_extension(tmp_path: Path, suffix: str, registry: ComponentRegistry) -> None:
    data = {"rewards": [{"name": "len", "type": "test_chars", "per_char": 0.5}]}
    path = tmp_path / f"c{suffix}"
    if suffix == ".yaml":
        path.write_text("rewards:\n  - name: len\n    type: test_chars\n    per_char: 0.5\n")
    elif suffix == ".toml":
        path.write_text('[[rewards]]\nname = "len"\ntype = "test_chars"\nper_char = 0.5\n')
    else:
        path.write_text(json.dumps(data))
    cfg = load_config(path, registry=registry)
    assert cfg.rewards[0].per_char == 0.5


def test_file_errors_name_the_file(tmp_path: Path, registry: ComponentRegistry) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rewards:\n  - type: test_chars\n    per_char: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, registry=registry)
    assert str(path) in str(info.value) and "rewards[0].per_char" in str(info.value)
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="extension"):
        load_config(tmp_path / "c.ini")
    (tmp_path / "broken.yaml").write_text("rewards: [\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_config(tmp_path / "broken.yaml")


def test_schema_includes_plugin_components(registry: ComponentRegistry) -> None:
    schema = config_json_schema(registry)
    text = json.dumps(schema)
    assert "test_chars" in text and "per_char" in text
    # every field of every component carries a description (editor hover text)
    for name, definition in schema["$defs"].items():
        for field, prop in definition.get("properties", {}).items():
            assert "description" in prop, f"{name}.{field} has no description"


def test_messages_end_their_sentences_before_a_listing(registry: ComponentRegistry) -> None:
    e = _err({"rewards": [{"type": "test_chars", "timeout_s": 1}]}, registry)
    [d] = e.details
    assert d.message == "unknown field 'timeout_s'. Expected one of: name, per_char, type, weight."
    e = _err({"rewards": [{"type": "zzz_nothing_like_it"}]}, registry)
    assert "unknown type 'zzz_nothing_like_it'. Known reward types: " in str(e)
    e = _err(
        {
            "rewards": [{"name": "a", "type": "test_chars"}],
            "shaping": [{"type": "test_offset", "value": 1, "answer_from": "zzz"}],
        },
        registry,
    )
    assert "answer_from 'zzz' names no reward. Rewards: a." in str(e)
    # With a suggestion, the question ends the sentence.
    e = _err({"rewards": [{"type": "test_chars", "per_chr": 1}]}, registry)
    assert "did you mean 'per_char'? Expected one of:" in str(e)
    with pytest.raises(KeyError, match=r"unknown reward component type 'zzz'\. Known: "):
        registry.get("zzz", rewardkit.ComponentKind.REWARD)


@pytest.mark.parametrize(
    ("sandbox", "expected"),
    [
        ("nosuch", "unknown sandbox 'nosuch'. Registered sandboxes: local."),
        ("locl", "unknown sandbox 'locl'; did you mean 'local'? Registered sandboxes: local."),
    ],
)
def test_unknown_code_sandbox_is_a_config_error(sandbox: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"rewards": [{"type": "code", "sandbox": sandbox}]})
    [d] = info.value.details
    assert d.location == "rewards[0].sandbox"
    assert d.message == expected
    assert parse_config({"rewards": [{"type": "code", "sandbox": "local"}]}).rewards[0].sandbox
