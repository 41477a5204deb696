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
        ("nosuch", "unknown sandbox 'nosuch'. Registered sandboxes: auto, bwrap, local."),
        (
            "locl",
            "unknown sandbox 'locl'; did you mean 'local'? Registered sandboxes: auto, bwrap, local.",
        ),
    ],
)
def test_unknown_code_sandbox_is_a_config_error(sandbox: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"rewards": [{"type": "code", "sandbox": sandbox}]})
    [d] = info.value.details
    assert d.location == "rewards[0].sandbox"
    assert d.message == expected
    assert parse_config({"rewards": [{"type": "code", "sandbox": "local"}]}).rewards[0].sandbox


# ---------------------------------------------------------------------------- YAML aliases

#: A 676-byte "billion laughs": nine levels of nine aliases, 9**9 (~387 million) strings once
#: expanded, inside the code verifier's free-form sandbox_options.
BILLION_LAUGHS = """\
rewards:
  - type: code
    sandbox_options:
      a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
      i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_yaml_billion_laughs_fails_validate_and_pipeline_build(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rewardkit.cli import cli

    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(path.read_bytes()) < 700
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "expands to more than 100,000 nodes" in result.output
    assert "bomb.yaml" in result.output
    with pytest.raises(ConfigError, match="billion laughs"):
        rewardkit.RewardPipeline.from_config(path)


def test_yaml_alias_that_contains_itself_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("rewards:\n  - type: code\n    sandbox_options: {x: &x [1, *x]}\n")
    with pytest.raises(ConfigError, match="contains itself"):
        load_config(path)


def test_yaml_anchors_of_ordinary_size_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "engine: {workers: 1}\n"
        "rewards:\n"
        "  - &m {type: math, name: m1, timeout_s: 1.5}\n"
        "  - {<<: *m, name: m2}\n"
    )
    cfg = load_config(path)
    assert [(e.name, e.timeout_s) for e in cfg.rewards] == [("m1", 1.5), ("m2", 1.5)]


def test_toml_config_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_config(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{type: exact, weight: .nan}", "weight: Input should be a finite number"),
        ("{type: exact, weight: .inf}", "weight: Input should be a finite number"),
        (
            "{type: code, sandbox: local, sandbox_options: {when: 2024-01-01}}",
            "sandbox_options: options must be JSON values",
        ),
        (
            "{type: code, sandbox: local, sandbox_options: {x: !!binary aGVsbG8=}}",
            "sandbox_options: options must be JSON values",
        ),
        (
            "{type: code, sandbox: local, sandbox_options: {bogus: 1}}",
            "unexpected keyword argument 'bogus'",
        ),
    ],
)
def test_validate_rejects_what_the_pipeline_cannot_use(
    tmp_path: Path, entry: str, message: str
) -> None:
    """Each passed `validate`, then a NaN weight made every reward NaN, a YAML date or !!binary
    in sandbox_options made building the pipeline raise TypeError, and an unknown sandbox option
    failed every code test with outcome 'error'."""
    path = tmp_path / "c.yaml"
    path.write_text(f"engine: {{workers: 1}}\nrewards:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match=message):
        rewardkit.RewardPipeline.from_config(path)


def test_json_config_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"rewards": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_config(path)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"type": "math", "correct_score": float("nan")}, "correct_score"),
        ({"type": "exact", "incorrect_score": float("-inf")}, "incorrect_score"),
        ({"type": "format", "pattern": "x", "score": float("inf")}, "score"),
    ],
)
def test_component_floats_refuse_nan_and_infinity(entry: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"rewards\[0\]\.{field}: Input should be a finite"):
        parse_config({"rewards": [entry]})
