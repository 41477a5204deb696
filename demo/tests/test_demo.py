"""``rewardkit demo``: the task's verifier, the plugin wiring, and short real runs.

The smoke test runs the whole demo through the ``rewardkit`` CLI (the command comes from
rewardkit-demo's plugin) with 2 GRPO steps per run: real TRL GRPOTrainer, real rewardkit
components, the real packaged embedding model.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rewardkit_demo import (
    DemoSettings,
    PolicyMeasure,
    SampledGroups,
    TargetTask,
    default_configs,
    expression_format,
    parse_expression,
    run_demo,
)
from rewardkit_demo._measure import ROLES

from rewardkit import Outcome, RewardPipeline, Rollout, get_registry
from rewardkit.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo"
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


# ----------------------------------------------------------------------------- token roles


def _tokenizer() -> Any:
    from rewardkit_demo._model import build_tokenizer

    return build_tokenizer(TargetTask().vocabulary())


@pytest.mark.parametrize(
    ("text", "roles"),
    [
        ("so 3 + 9 <eos>", ["opening", "first_operand", "operator", "later_operand", "end"]),
        ("3 * 4", ["first_operand", "operator", "later_operand"]),
        (
            "well maybe 2 + 4 + 6 <eos>",
            [
                "opening",
                "opening",
                "first_operand",
                "operator",
                "later_operand",
                "operator",
                "later_operand",
                "end",
            ],
        ),
        ("so + 3", ["opening", "other", "later_operand"]),
        ("so 12 try <eos>", ["opening", "first_operand", "other", "end"]),
    ],
)
def test_token_roles_of_hand_built_completions(text: str, roles: list[str]) -> None:
    tok = _tokenizer()
    measure = PolicyMeasure((1,), tok)
    try:
        ids = [tok.get_vocab()[w] for w in text.split()]
        assert measure.roles(ids) == roles
    finally:
        measure.close()


def test_role_entropies_on_a_hand_built_batch() -> None:
    torch = pytest.importorskip("torch")
    tok = _tokenizer()
    vocab, pad = tok.get_vocab(), tok.pad_token_id
    rows = [
        ("so 3 + 9 <eos>", [1.4, 2.0, 0.5, 0.3, 0.1]),
        ("try 4 * 3 <eos>", [1.2, 1.0, 0.7, 0.2, 0.0]),
        ("8 + 4", [0.9, 0.6, 0.4]),  # no opening word, cut before the end token
    ]
    width = 5
    ids = torch.full((3, width), pad)
    ent = torch.full((3, width), 9.0)  # padding: never counted
    valid = torch.zeros((3, width), dtype=torch.bool)
    for i, (text, values) in enumerate(rows):
        n = len(values)
        ids[i, :n] = torch.tensor([vocab[w] for w in text.split()])
        ent[i, :n] = torch.tensor(values)
        valid[i, :n] = True
    groups = SampledGroups([12], [["so 3 + 9", "try 4 * 3", "8 + 4"]], ent, valid, ids)
    measure = PolicyMeasure((1,), tok)
    try:
        m = measure(groups)
    finally:
        measure.close()
    # By hand: 13 valid tokens.
    assert m["entropy/opening"] == pytest.approx((1.4 + 1.2) / 2)
    assert m["entropy/first_operand"] == pytest.approx((2.0 + 1.0 + 0.9) / 3)
    assert m["entropy/operator"] == pytest.approx((0.5 + 0.7 + 0.6) / 3)
    assert m["entropy/later_operand"] == pytest.approx((0.3 + 0.2 + 0.4) / 3)
    assert m["entropy/end"] == pytest.approx((0.1 + 0.0) / 2)
    assert math.isnan(m["entropy/other"]) and m["tokens/other"] == 0.0
    answer = [2.0, 0.5, 0.3, 0.1, 1.0, 0.7, 0.2, 0.0, 0.9, 0.6, 0.4]
    assert m["entropy_answer"] == pytest.approx(sum(answer) / 11)
    # Top 20% of the 11 answer tokens: ceil(2.2) = 3 tokens, 2.0, 1.0 and 0.9.
    assert m["entropy_answer_top20"] == pytest.approx((2.0 + 1.0 + 0.9) / 3)
    # Top 20% of all 13 tokens: 3 tokens, 2.0, 1.4, 1.2: two of them opening words.
    assert m["entropy_top20"] == pytest.approx((2.0 + 1.4 + 1.2) / 3)
    assert m["top20_opening_share"] == pytest.approx(2 / 3)
    assert m["tokens/opening"] == pytest.approx(2 / 13)
    assert m["tokens/first_operand"] == pytest.approx(3 / 13)
    _assert_roles_cover_every_token(m)


def _assert_roles_cover_every_token(m: dict[str, Any]) -> None:
    """Every valid token has exactly one role: the role shares sum to 1 and the role means,
    weighted by their shares, give the mean over all tokens."""
    shares = {role: m[f"tokens/{role}"] for role in ROLES}
    assert math.isclose(sum(shares.values()), 1.0, abs_tol=1e-9), shares
    weighted = sum(share * m[f"entropy/{role}"] for role, share in shares.items() if share > 0)
    assert math.isclose(weighted, m["entropy_mean"], rel_tol=1e-4, abs_tol=1e-6)


# ----------------------------------------------------------------------------- the report text


def _fake_result(tmp_path: Path, *, base: dict[str, float], final: dict[str, float]) -> Any:
    """A DemoResult with made-up numbers: the base policy and one outcome-only run."""
    from rewardkit_demo import DemoResult, RunResult, RunSpec

    common = {"accuracy": 0.5, "pass@1": 0.5, "pass@8": 0.9, "pass@32": 0.93,
              "dominant_format_share": 0.6, "distinct_unsolved": 6.0}  # fmt: skip
    spec = RunSpec("a_outcome", "outcome reward only", RUNS[0])
    steps = [{"step": float(k), **common, **final, "train_reward": 0.5} for k in (1, 2, 3)]
    run = RunResult(spec, steps=steps, final={**common, **final}, seconds=1.0)
    return DemoResult(
        settings=DemoSettings(steps=3),
        task=TargetTask(),
        base={**common, **base},
        base_examples={12: ["so 3 + 9"]},
        base_forking_tokens=[("3", 0.5)],
        runs=[run],
        warmup_loss=(3.0, 1.0),
        warmup_seconds=1.0,
        seconds=2.0,
        environment={"torch": "x"},
    )


_BASE_ENTROPY = {
    "distinct_solved": 6.0,
    "entropy/opening": 1.40,
    "entropy/first_operand": 2.00,
    "entropy_answer": 0.80,
    "entropy_answer_top20": 1.80,
    "entropy_mean": 0.90,
    "entropy_top20": 2.00,
    "top20_opening_share": 0.05,
}


def _what_the_runs_show(tmp_path: Path, final: dict[str, float]) -> str:
    from rewardkit_demo import write_report

    result = _fake_result(tmp_path, base=_BASE_ENTROPY, final={**_BASE_ENTROPY, **final})
    report = write_report(result, tmp_path / "out").read_text(encoding="utf-8")
    return report.split("## What the runs show", 1)[1].split("## Final comparison", 1)[0]


def test_report_says_answer_fork_entropy_fell_when_it_did(tmp_path: Path) -> None:
    # Answers collapse, the answer forks lose entropy, the opening slot keeps its built-in ln 4.
    text = _what_the_runs_show(
        tmp_path,
        {
            "distinct_solved": 3.0,
            "entropy/first_operand": 0.80,
            "entropy_answer_top20": 0.90,
            "entropy_top20": 1.40,
            "top20_opening_share": 0.80,
        },
    )
    assert "first operand, the fork that picks the answer, 2.00 → 0.80 (-60%)" in text
    assert "the top 20% of the answer tokens lost 50% of their entropy" in text
    assert "distinct answers on solved groups fell 50% (1 seed, --seed 0)" in text
    assert "does not show the token-level half of the paradox" in text
    assert "shows the token-level half" not in text
    assert "stayed within 10% of the base policy's (+0%); its level comes from the warm-up" in text
    assert "80% of the top-20% tokens over all tokens are opening words (base: 5%)" in text


def test_report_says_answer_fork_entropy_stayed_when_it_did(tmp_path: Path) -> None:
    text = _what_the_runs_show(
        tmp_path,
        {
            "distinct_solved": 3.0,
            "entropy_answer_top20": 1.75,
            "entropy/opening": 0.70,
            "top20_opening_share": 0.02,
        },
    )
    assert "the top 20% of the answer tokens kept their entropy (-3%)" in text
    assert "this run shows the token-level half of the paradox (1 seed, --seed 0)" in text
    assert "does not show" not in text
    # The opening slot moved, so the text does not call its level the warm-up's design.
    assert "Its entropy fell 50% in this run." in text
    assert "warm-up's design" not in text and "mostly measures" not in text


def test_report_makes_no_entropy_claim_without_an_answer_collapse(tmp_path: Path) -> None:
    text = _what_the_runs_show(tmp_path, {"distinct_solved": 5.8, "entropy_answer_top20": 0.5})
    assert "did not fall by more than 10% (-3%)" in text
    assert "token-level half" not in text


def test_report_puts_answer_and_non_answer_forks_side_by_side(tmp_path: Path) -> None:
    from rewardkit_demo import write_report
    from rewardkit_demo._report import ENTROPY_COLUMNS

    result = _fake_result(
        tmp_path, base=_BASE_ENTROPY, final={**_BASE_ENTROPY, "entropy/first_operand": 0.8}
    )
    out = tmp_path / "out"
    report = write_report(result, out).read_text(encoding="utf-8")
    table = report.split("## Final comparison", 1)[1].split("\n\n")[4].splitlines()
    assert table[0].startswith("| run | opening words (non-answer fork) | first operand (answer")
    assert table[2].startswith("| base policy (after warm-up) | 1.40 | 2.00 | 0.80 | 1.80 |")
    assert table[3].startswith("| `a_outcome` | 1.40 | 0.80 | 0.80 | 1.80 |")
    assert len(table[0].split(" | ")) == len(ENTROPY_COLUMNS) + 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"]["a_outcome"]["final"]["entropy/first_operand"] == 0.8
    assert (out / "entropy.png").read_bytes()[:8] == PNG_MAGIC


# ----------------------------------------------------------------------------- plugin wiring


def test_plugin_registers_reward_and_command() -> None:
    registry = get_registry()
    assert registry.components["reach_target"].plugin == "demo"
    assert "demo" in [c.name for c in registry.cli_commands()]  # type: ignore[attr-defined]
    help_text = CliRunner().invoke(cli, ["--help"]).output
    assert "demo" in help_text


def test_demo_plugin_is_the_demo_distribution_s_entry_point() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="rewardkit") if ep.name == "demo"]
    assert [(ep.dist.name if ep.dist else None, ep.value) for ep in found] == [
        ("rewardkit-demo", "rewardkit_demo._rewardkit_plugin")
    ]


def _rewardkit(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rewardkit.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_without_the_demo_plugin_no_demo_component_and_a_clear_message() -> None:
    # With the demo's plugin blocked, as if rewardkit-demo were not installed, nothing of the
    # demo is left: rewardkit-trl itself registers no component and no command.
    shown = _rewardkit(["components"])
    assert shown.returncode == 0, shown.stderr
    assert "reach_target" in shown.stdout
    hidden = _rewardkit(["components"], REWARDKIT_DISABLE_PLUGINS="demo")
    assert hidden.returncode == 0, hidden.stderr
    assert "reach_target" not in hidden.stdout
    listed = _rewardkit(["--help"])
    assert re.search(r"^\s+demo\s", listed.stdout, re.MULTILINE), listed.stdout
    unlisted = _rewardkit(["--help"], REWARDKIT_DISABLE_PLUGINS="demo")
    assert unlisted.returncode == 0, unlisted.stderr
    assert not re.search(r"^\s+demo\s", unlisted.stdout, re.MULTILINE), unlisted.stdout
    missing = _rewardkit(["demo"], REWARDKIT_DISABLE_PLUGINS="demo")
    assert missing.returncode == 2
    assert "`rewardkit demo` comes from a plugin that is not installed" in missing.stderr
    assert "install rewardkit-demo" in missing.stderr


def test_plugin_import_stays_light() -> None:
    code = (
        "import sys, rewardkit_demo._rewardkit_plugin as p;"
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
        "e_pass_at_k",
        "f_unlikeliness",
    ]
    for path in RUNS:
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 0, result.output


def test_default_configs_fall_back_to_the_packaged_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rewardkit_demo._command import PACKAGED_CONFIGS

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
    from rewardkit_demo._command import PACKAGED_CONFIGS

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
    data = pyproject["tool"]["setuptools"]["package-data"]["rewardkit_demo"]
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
    entropy_table = report.split("## Final comparison", 1)[1].split("\n\n")[4].splitlines()
    assert "| opening words (non-answer fork) | first operand (answer fork) |" in entropy_table[0]
    assert len(entropy_table) == len(rows) + 2
    assert "What the runs show" in report and "Reproduce" in report

    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [(s["run"], s["step"]) for s in steps] == [(p.stem, k) for p in RUNS for k in (1.0, 2.0)]
    for row in steps:
        for key in ("accuracy", "distinct_solved", "dominant_format_share", "entropy_mean",
                    "entropy_top20", "pass@1", "pass@8", "train_reward"):  # fmt: skip
            assert key in row, (row["run"], key)
        assert 0.0 <= row["accuracy"] <= 1.0
        _assert_roles_cover_every_token(row)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["steps"] == 2 and summary["settings"]["seed"] == 3
    assert sorted(summary["runs"]) == [p.stem for p in RUNS]
    assert list(summary["token_roles"]) == list(ROLES)
    _assert_roles_cover_every_token(summary["base"])
    for run in summary["runs"].values():
        final = run["final"]
        _assert_roles_cover_every_token(final)
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
