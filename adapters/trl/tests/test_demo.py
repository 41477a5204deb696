"""``rewardkit demo``: the task's verifier, the plugin wiring, and short real runs.

The smoke test runs the whole demo through the ``rewardkit`` CLI (the command comes from
rewardkit-trl's plugin) with 2 GRPO steps per run: real TRL GRPOTrainer, real rewardkit
components, the real packaged embedding model.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rewardkit_trl.demo import (
    DemoSettings,
    TargetTask,
    default_configs,
    expression_format,
    parse_expression,
    run_demo,
)

from rewardkit import Outcome, RewardPipeline, Rollout, get_registry
from rewardkit.cli import cli

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "demo"
RUNS = sorted(EXAMPLES.glob("*.yaml"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- the task


@pytest.mark.parametrize(
    ("text", "value", "fmt"),
    [
        ("3 + 9", 12, "sum"),
        ("so 3 * 4", 12, "product"),
        ("well maybe 20 - 8", 12, "difference"),
        ("try 2 + 4 + 6", 12, "three-term sum"),
        ("2 + 3 * 4", 14, "a + b * c"),  # '*' binds tighter
        ("2 * 3 - 4", 2, "a * b - c"),
        ("20 - 8 - 3", 9, "a - b - c"),
    ],
)
def test_parse_expression_values_and_formats(text: str, value: int, fmt: str) -> None:
    expr = parse_expression(text)
    assert expr is not None
    assert expr.value == value
    assert expression_format(text) == fmt


@pytest.mark.parametrize(
    "text", ["", "so", "12", "so 12", "3 +", "+ 3", "3 + + 4", "1 + 2 + 3 + 4", "3 / 4", "٣ + 4"]
)
def test_parse_expression_rejects_non_expressions(text: str) -> None:
    assert parse_expression(text) is None
    assert expression_format(text) == "malformed"


def test_every_warmup_answer_reaches_its_target() -> None:
    task = TargetTask()
    for target in task.targets:
        for answers in task.solutions(target).values():
            for answer in answers:
                expr = parse_expression(answer)
                assert expr is not None and expr.value == target, (target, answer)
    # 29 and 31 have no answer in the warm-up formats: the policy starts unable to solve them.
    assert set(task.targets) - set(task.warmup_targets) == {29, 31}


def test_reach_target_outcomes_and_canonical_answers() -> None:
    pipeline = RewardPipeline(
        {"rewards": [{"name": "outcome", "type": "reach_target"}], "strict": False}
    )
    rollouts = [
        Rollout("make 12 :", "so 3 + 9", reference="12"),
        Rollout("make 12 :", "9 + 3", reference="12"),
        Rollout("make 12 :", "3 + 8", reference="12"),
        Rollout("make 12 :", "so so", reference="12"),
        Rollout("make 12 :", "1 + " * 10_000, reference="12"),
        Rollout("make 12 :", "3 + 9", reference="twelve"),
        Rollout("make 12 :", "3 + 9", reference=None),
    ]
    results = pipeline.score(rollouts).details["outcome"]
    assert [r.outcome for r in results] == [
        Outcome.CORRECT,
        Outcome.CORRECT,
        Outcome.INCORRECT,
        Outcome.NO_ANSWER,
        Outcome.NO_ANSWER,
        Outcome.ERROR,
        Outcome.ERROR,
    ]
    # The answer is the expression, opening words dropped: two different right answers.
    assert [r.answer for r in results[:3]] == ["3 + 9", "9 + 3", "3 + 8"]
    assert [r.score for r in results[:3]] == [1.0, 1.0, 0.0]


# ----------------------------------------------------------------------------- plugin wiring


def test_plugin_registers_reward_and_command() -> None:
    registry = get_registry()
    assert registry.components["reach_target"].plugin == "trl"
    assert "demo" in [c.name for c in registry.cli_commands()]  # type: ignore[attr-defined]
    help_text = CliRunner().invoke(cli, ["--help"]).output
    assert "demo" in help_text


def test_plugin_import_stays_light() -> None:
    code = (
        "import sys, rewardkit_trl._rewardkit_plugin as p;"
        "p.rewardkit_cli_commands(); p.rewardkit_components();"
        "print(sorted(m for m in ('torch', 'trl', 'transformers', 'matplotlib', 'datasets')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_shipped_run_configs_validate() -> None:
    assert [p.stem for p in RUNS] == [
        "a_outcome",
        "b_batch_repetition",
        "c_semantic_diversity",
        "d_entropy_mask",
    ]
    for path in RUNS:
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 0, result.output


def test_default_configs_fall_back_to_the_packaged_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rewardkit_trl.demo._command import PACKAGED_CONFIGS

    monkeypatch.chdir(tmp_path)  # no examples/ here, as after `pip install` in any folder
    found = default_configs()
    assert [p.name for p in found] == [p.name for p in RUNS]
    assert all(p.parent == PACKAGED_CONFIGS for p in found)
    # A working directory with its own examples/demo wins (a user's edited copies).
    own = tmp_path / "examples" / "demo"
    own.mkdir(parents=True)
    (own / "mine.yaml").write_text(RUNS[0].read_text())
    assert default_configs() == [own / "mine.yaml"]


def test_packaged_demo_configs_are_the_examples_byte_for_byte() -> None:
    # examples/demo/ is the copy readers see; the package's copy is what `rewardkit demo` runs.
    from rewardkit_trl.demo._command import PACKAGED_CONFIGS

    packaged = sorted(PACKAGED_CONFIGS.glob("*.yaml"))
    assert [p.name for p in packaged] == [p.name for p in RUNS]
    for ours, theirs in zip(packaged, RUNS):
        assert ours.read_bytes() == theirs.read_bytes(), (
            f"{ours} differs from {theirs}: edit examples/demo/ and copy it into the package"
        )


def test_packaged_demo_configs_are_declared_package_data() -> None:
    # Editable installs read src/ directly; a wheel only carries files declared here.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["rewardkit_trl.demo"]
    assert "configs/*.yaml" in data


def test_demo_without_configs_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["demo", "--run", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no run configs" in result.output


def test_demo_rejects_a_bad_config_before_training(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text("rewards:\n  - {name: outcome, type: reach_targett}\n")
    result = CliRunner().invoke(
        cli, ["demo", "--run", str(RUNS[0]), "--run", str(bad), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "did you mean 'reach_target'" in result.output
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- real runs


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_smoke_two_steps_per_run(tmp_path: Path) -> None:
    out = tmp_path / "demo_out"
    result = CliRunner().invoke(
        cli,
        ["demo", "--steps", "2", "--warmup-steps", "5", "--seed", "3", "--out", str(out)]
        + [arg for p in RUNS for arg in ("--run", str(p))],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)

    report = (out / "report.md").read_text(encoding="utf-8")
    for name in ("reward", "distinct_answers", "formats", "entropy", "pass_at_k"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC, name
        assert f"]({name}.png)" in report

    # The final table: the base policy and one row per run, every cell filled in.
    table = report.split("## Final comparison", 1)[1].split("\n\n")[2].splitlines()
    rows = [line for line in table if line.startswith("| ")][1:]
    assert [r.split(" | ")[0] for r in rows] == [
        "| base policy (after warm-up)",
        *(f"| `{p.stem}`" for p in RUNS),
    ]
    assert all(len(r.split(" | ")) == len(rows[0].split(" | ")) for r in rows)
    assert "What the runs show" in report and "Reproduce" in report

    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [(s["run"], s["step"]) for s in steps] == [(p.stem, k) for p in RUNS for k in (1.0, 2.0)]
    for row in steps:
        for key in ("accuracy", "distinct_solved", "dominant_format_share", "entropy_mean",
                    "entropy_top20", "pass@1", "pass@8", "train_reward"):  # fmt: skip
            assert key in row, (row["run"], key)
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["entropy_top20"] >= row["entropy_mean"] > 0.0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["steps"] == 2 and summary["settings"]["seed"] == 3
    assert sorted(summary["runs"]) == [p.stem for p in RUNS]
    for run in summary["runs"].values():
        final = run["final"]
        assert final["pass@1"] <= final["pass@8"] <= final["pass@32"] <= 1.0
        assert math.isclose(final["pass@1"], final["accuracy"], abs_tol=1e-9)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_is_deterministic_for_a_seed() -> None:
    settings = DemoSettings(steps=3, warmup_steps=5, seed=1, eval_samples=8)
    runs = [EXAMPLES / "a_outcome.yaml", EXAMPLES / "d_entropy_mask.yaml"]
    first, second = run_demo(runs, settings=settings), run_demo(runs, settings=settings)
    assert first.base == second.base
    for a, b in zip(first.runs, second.runs):
        assert a.steps == b.steps
        assert a.final == b.final
        assert a.examples == b.examples
