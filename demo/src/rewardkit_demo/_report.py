"""``report.md``, the per-step data (``steps.jsonl``) and the final numbers (``summary.json``).

The findings paragraph is computed from the numbers, with its wording chosen by their signs and
sizes, so it says what this run shows - including when it does not show what the demo is for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardkit_demo._measure import METRICS, ROLES
from rewardkit_demo._plots import write_plots
from rewardkit_demo._runner import DemoResult, RunResult
from rewardkit_demo._task import OPENING_WORDS

__all__ = ["ENTROPY_COLUMNS", "FINAL_COLUMNS", "format_value", "write_report"]

#: Columns of the final comparison table (answers): metric key -> header.
FINAL_COLUMNS: dict[str, str] = {
    "accuracy": "accuracy",
    "pass@8": "pass@8",
    "pass@32": "pass@32",
    "distinct_solved": "distinct / 8, solved",
    "distinct_unsolved": "distinct / 8, unsolved",
    "dominant_format_share": "dominant format",
}
#: Columns of the token-entropy table: answer forks and non-answer forks side by side (nats).
ENTROPY_COLUMNS: dict[str, str] = {
    "entropy/opening": "opening words (non-answer fork)",
    "entropy/first_operand": "first operand (answer fork)",
    "entropy_answer": "answer tokens, mean",
    "entropy_answer_top20": "answer tokens, top 20%",
    "entropy/operator": "operators",
    "entropy/later_operand": "later operands",
    "entropy/end": "end token",
    "entropy_mean": "all tokens, mean",
    "entropy_top20": "all tokens, top 20%",
    "top20_opening_share": "top 20% that are opening words",
}

_PERCENT = {"accuracy", "dominant_format_share", "top20_opening_share"}
#: A relative change smaller than this counts as "stayed"; larger as "fell" or "rose".
SMALL_CHANGE = 0.10
_EXAMPLE_TARGETS = (12, 24, 29)
_LIVE_FORMAT = 0.05


def format_value(key: str, value: float | None) -> str:
    """A metric as the report shows it: shares in percent, the rest with two decimals."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.0%}" if key in _PERCENT else f"{value:.2f}"


def _live_formats(metrics: dict[str, float]) -> str:
    live = sorted(
        ((k.removeprefix("format/"), v) for k, v in metrics.items() if k.startswith("format/")),
        key=lambda kv: -kv[1],
    )
    return ", ".join(
        f"{name} {v:.0%}" for name, v in live if v >= _LIVE_FORMAT and name != "malformed"
    )


def _shown_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _forks(pairs: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"`{text}` {share:.0%}" for text, share in pairs) or "–"


def _tail_mean(run: RunResult, key: str, share: float = 0.1) -> float:
    rows = run.steps[-max(1, round(len(run.steps) * share)) :]
    values = [float(r.get(key, math.nan)) for r in rows]
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _change(before: float | None, after: float | None) -> str:
    rel = _rel(before, after)
    return f"{rel:+.0%}" if math.isfinite(rel) else "n/a"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _rel(before: float | None, after: float | None) -> float:
    """(after - before) / |before|, NaN when either is missing or before is 0."""
    if before is None or after is None:
        return math.nan
    if not (math.isfinite(before) and math.isfinite(after)) or before == 0:
        return math.nan
    return (after - before) / abs(before)


def _move(before: float | None, after: float | None) -> str:
    """``1.42 → 1.37 (-3%)``, in nats."""
    return f"{format_value('h', before)} → {format_value('h', after)} ({_change(before, after)})"


def _paradox(result: DemoResult, ref: RunResult) -> list[str]:
    """The reference run against the base policy: answers, then token entropy by role, each
    sentence chosen by the numbers it quotes."""
    return [*_answer_lines(result, ref), *_entropy_lines(result, ref)]


def _answer_lines(result: DemoResult, ref: RunResult) -> list[str]:
    b, f = result.base, ref.final
    return [
        f"**The reference run, `{ref.spec.name}` ({ref.spec.title}),** took accuracy from "
        f"{format_value('accuracy', b.get('accuracy'))} to "
        f"{format_value('accuracy', f.get('accuracy'))}. Over the same training, distinct answers "
        f"per group of {result.settings.num_generations} went from "
        f"{format_value('d', b.get('distinct_solved'))} to "
        f"{format_value('d', f.get('distinct_solved'))} on solved groups "
        f"({_change(b.get('distinct_solved'), f.get('distinct_solved'))}) "
        f"and from {format_value('d', b.get('distinct_unsolved'))} to "
        f"{format_value('d', f.get('distinct_unsolved'))} on unsolved ones; the dominant "
        f"format's share of a group went from "
        f"{format_value('dominant_format_share', b.get('dominant_format_share'))} to "
        f"{format_value('dominant_format_share', f.get('dominant_format_share'))} (formats above "
        f"5%: {_live_formats(b) or 'none'} → {_live_formats(f) or 'none'}). pass@1 went "
        f"{format_value('pass@1', b.get('pass@1'))} → {format_value('pass@1', f.get('pass@1'))} "
        f"and pass@32 {format_value('pass@32', b.get('pass@32'))} → "
        f"{format_value('pass@32', f.get('pass@32'))}."
    ]


def _entropy_lines(result: DemoResult, ref: RunResult) -> list[str]:
    b, f = result.base, ref.final
    seeds = f"1 seed, --seed {result.settings.seed}"
    if not all(math.isfinite(m.get("entropy_mean", math.nan)) for m in (b, f)):
        return ["", "Token entropy was not measured."]
    lines = [
        "",
        f"**Token entropy by role** (final evaluation, base policy → `{ref.spec.name}`, nats; "
        "the table below has every role and run): at the opening words, forks the verifier "
        f"ignores, {_move(b.get('entropy/opening'), f.get('entropy/opening'))}; at the first "
        "operand, the fork that picks the answer, "
        f"{_move(b.get('entropy/first_operand'), f.get('entropy/first_operand'))}; over all "
        f"answer tokens {_move(b.get('entropy_answer'), f.get('entropy_answer'))}, and over the "
        "top 20% of the answer tokens "
        f"{_move(b.get('entropy_answer_top20'), f.get('entropy_answer_top20'))}. Over all tokens "
        f"the mean went {_move(b.get('entropy_mean'), f.get('entropy_mean'))} and the top 20% "
        f"{_move(b.get('entropy_top20'), f.get('entropy_top20'))}.",
    ]
    d = _rel(b.get("distinct_solved"), f.get("distinct_solved"))
    t = _rel(b.get("entropy_answer_top20"), f.get("entropy_answer_top20"))
    lines.append("")
    if not (math.isfinite(d) and math.isfinite(t)):
        lines.append("Answer-fork entropy or answer diversity was not measured in this run.")
    elif d > -SMALL_CHANGE:
        lines.append(
            f"Distinct answers on solved groups did not fall by more than "
            f"{SMALL_CHANGE:.0%} ({d:+.0%}), so this run has no answer collapse to set token "
            "entropy against; try more `--steps`."
        )
    elif t > -SMALL_CHANGE:
        lines.append(
            f"While distinct answers on solved groups fell {-d:.0%}, the top 20% of the answer "
            f"tokens kept their entropy ({t:+.0%}): at forks that can change the answer, this "
            f"run shows the token-level half of the paradox ({seeds})."
        )
    else:
        lines.append(
            f"At the forks that can change the answer, entropy fell with the answers: the top "
            f"20% of the answer tokens lost {-t:.0%} of their entropy while distinct answers on "
            f"solved groups fell {-d:.0%} ({seeds}). This run does not show the token-level "
            "half of the paradox (entropy at the forking tokens staying high while answers "
            "collapse) at the forks that matter."
        )
    o = _rel(b.get("entropy/opening"), f.get("entropy/opening"))
    if math.isfinite(o):
        n = len(OPENING_WORDS)
        built_in = (
            f"The opening-word slot is built into the task: the warm-up puts each of the {n} "
            f"opening words there equally often (a uniform choice of {n} has ln {n} = "
            f"{math.log(n):.2f} nats) and the reward never depends on it. "
        )
        if abs(o) < SMALL_CHANGE:
            built_in += (
                f"Its entropy stayed within {SMALL_CHANGE:.0%} of the base policy's ({o:+.0%}); "
                "its level comes from the warm-up's design, not from training, so it is no "
                "finding about forking tokens."
            )
        else:
            built_in += f"Its entropy {'fell' if o < 0 else 'rose'} {abs(o):.0%} in this run."
        s0, s1 = b.get("top20_opening_share", math.nan), f.get("top20_opening_share", math.nan)
        if math.isfinite(s1) and s1 > 0.5:
            built_in += (
                f" At the end {s1:.0%} of the top-20% tokens over all tokens are opening words "
                f"(base: {format_value('top20_opening_share', s0)}), so that top-20% figure "
                "mostly measures this built-in slot, not the answer forks."
            )
        lines += ["", built_in]
    return lines


#: Metrics the run-by-run comparison names, with their labels.
_KNOB_KEYS: dict[str, str] = {
    "accuracy": "accuracy",
    "distinct_solved": "distinct solved",
    "distinct_unsolved": "distinct unsolved",
    "dominant_format_share": "dominant format",
    "entropy/first_operand": "entropy at the first operand",
    "entropy/opening": "entropy at opening words",
}


def _knob_lines(result: DemoResult, ref: RunResult) -> list[str]:
    lines = []
    for run in result.runs:
        if run is ref:
            continue
        parts = []
        for key, label in _KNOB_KEYS.items():
            v, r = run.final.get(key, math.nan), ref.final.get(key, math.nan)
            if not (math.isfinite(v) and math.isfinite(r)):
                continue
            delta = v - r
            shown = f"{delta * 100:+.0f} points" if key in _PERCENT else f"{delta:+.2f}"
            parts.append(f"{label} {format_value(key, v)} ({shown})")
        lines.append(f"- **`{run.spec.name}`** ({run.spec.title}): " + "; ".join(parts) + ".")
    return lines


def write_report(result: DemoResult, out_dir: str | Path) -> Path:
    """Write report.md, the PNG plots, steps.jsonl and summary.json into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(result, out)
    with (out / "steps.jsonl").open("w", encoding="utf-8") as fh:
        for run in result.runs:
            for row in run.steps:
                fh.write(json.dumps({"run": run.spec.name, **_json_safe(row)}) + "\n")
    summary = {
        "settings": {k: getattr(result.settings, k) for k in result.settings.__dataclass_fields__},
        "environment": result.environment,
        "base": _json_safe(result.base),
        "runs": {
            r.spec.name: {
                "config": str(r.spec.config),
                "title": r.spec.title,
                "seconds": r.seconds,
                "final": _json_safe(r.final),
            }
            for r in result.runs
        },
        "seconds": result.seconds,
        "token_roles": ROLES,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    path = out / "report.md"
    path.write_text("\n".join(_markdown(result, plots, out)) + "\n", encoding="utf-8")
    return path


def _json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in metrics.items()
    }


def _markdown(result: DemoResult, plots: dict[str, Path], out: Path) -> list[str]:
    s = result.settings
    g = s.num_generations
    lines = [
        "# rewardkit demo: answer diversity, token entropy and the knobs that change them",
        "",
        f"A tiny language model learns to reach a target number with an arithmetic expression, "
        f"then is trained with GRPO (TRL's `GRPOTrainer` through rewardkit-trl) under "
        f"{len(result.runs)} rewardkit configs. Every number below was measured in this run; "
        f"the text is generated from them.",
        "",
        "## What the runs show",
        "",
    ]
    if result.runs:
        ref = result.runs[0]
        lines += _paradox(result, ref)
        lines += ["", f"Compared with `{ref.spec.name}` at the end of training:", ""]
        lines += _knob_lines(result, ref) or ["- (no other run)"]
        lines += [
            "",
            f"Each run is one seed ({s.seed}); the per-step curves move by several points from "
            "step to step, so treat final differences of a few points as noise and rerun with "
            "another `--seed` before trusting them.",
        ]
    lines += ["", "## Final comparison", ""]
    lines += [
        f"Final evaluation: {s.eval_samples} samples per target for all "
        f"{len(result.task.targets)} targets at temperature {s.temperature:g}; group statistics "
        f"over groups of {g} (as in training), pass@k from all {s.eval_samples} samples.",
        "",
    ]
    header = ["run", *FINAL_COLUMNS.values(), "formats above 5%", "train time"]
    rows = [
        [
            "base policy (after warm-up)",
            *(format_value(k, result.base.get(k)) for k in FINAL_COLUMNS),
            _live_formats(result.base),
            "–",
        ]
    ]
    for run in result.runs:
        rows.append(
            [
                f"`{run.spec.name}`",
                *(format_value(k, run.final.get(k)) for k in FINAL_COLUMNS),
                _live_formats(run.final),
                f"{run.seconds:.0f} s",
            ]
        )
    lines += _table(header, rows)
    lines += [
        "",
        "Token entropy by role (nats), same samples: the entropy of the policy at the position "
        "where each token was sampled, averaged over the tokens of that role. Opening words are "
        "forks the verifier ignores; the first operand is the fork that picks the answer; "
        '"answer tokens" are the first operand, operators, later operands and the end token.',
        "",
    ]
    entropy_rows = [
        [
            "base policy (after warm-up)",
            *(format_value(k, result.base.get(k)) for k in ENTROPY_COLUMNS),
        ]
    ]
    entropy_rows += [
        [f"`{run.spec.name}`", *(format_value(k, run.final.get(k)) for k in ENTROPY_COLUMNS)]
        for run in result.runs
    ]
    lines += _table(["run", *ENTROPY_COLUMNS.values()], entropy_rows)
    tail = max(1, round(s.steps * 0.1))
    lines += ["", f"Training batches, mean over the last {tail} steps:", ""]
    keys = [
        "accuracy",
        "train_reward",
        "distinct_solved",
        "distinct_unsolved",
        "dominant_format_share",
        "entropy/opening",
        "entropy/first_operand",
        "entropy_answer_top20",
        "entropy_mean",
        "entropy_top20",
        "top20_opening_share",
    ]
    lines += _table(
        ["run", *keys],
        [
            [f"`{r.spec.name}`", *(format_value(k, _tail_mean(r, k)) for k in keys)]
            for r in result.runs
        ],
    )
    lines += ["", "## Plots", ""]
    captions = {
        "reward": "Accuracy (measured the same way for every run) and the training reward each "
        "run optimised (shaped, so not comparable across runs).",
        "distinct_answers": f"Distinct answers per group of {g}, for groups with and without a "
        "correct answer (29 and 31 start unsolved: no warm-up format reaches them).",
        "formats": "The one-lane collapse: the share of each group taken by its most common "
        "answer format, and the format mix of the final policies.",
        "entropy": "Token entropy by role: at the opening words (forks the verifier ignores) "
        "and at the first operand (the fork that picks the answer), on the same scale; the mean "
        "over all tokens; and how many of the top-20% tokens are opening words.",
        "pass_at_k": "pass@k on the training batches, and pass@k against k for the final policies.",
    }
    for name, path in plots.items():
        lines += [f"![{name}]({path.relative_to(out).as_posix()})", "", captions.get(name, ""), ""]
    lines += ["## Forking tokens", ""]
    lines += [
        "The most frequent tokens among the 20% highest-entropy tokens of the final samples "
        "(share of those tokens). Numbers are answer forks; `so`, `try`, `well` and `maybe` are "
        "the opening-word slot, whose entropy the warm-up sets and the reward ignores:",
        "",
    ]
    fork_rows = [["base policy", _forks(result.base_forking_tokens)]]
    fork_rows += [[f"`{r.spec.name}`", _forks(r.forking_tokens)] for r in result.runs]
    lines += _table(["policy", "top-20% tokens"], fork_rows)
    lines += ["", "## Samples from the final policies", ""]
    sample_rows = []
    for target in _EXAMPLE_TARGETS:
        if target not in result.base_examples:
            continue
        sample_rows.append([f"make {target}", "base", " · ".join(result.base_examples[target])])
        for run in result.runs:
            sample_rows.append(["", f"`{run.spec.name}`", " · ".join(run.examples.get(target, []))])
    lines += _table(["prompt", "policy", f"first {g} samples"], sample_rows)
    lines += ["", "## Setup", ""]
    lines += _setup(result)
    lines += ["", "## Metrics", ""]
    lines += [f"- `{k}`: {v}" for k, v in METRICS.items()]
    lines += [
        "- `pass@k`: unbiased pass@k per group, averaged over groups",
        "- `train_reward`: the reward the run's config gave (shaping included)",
        "",
        "Per-step numbers: `steps.jsonl` (one line per run and step); final numbers: "
        "`summary.json`. How to read this report: `docs/demo.md`.",
    ]
    return lines


def _setup(result: DemoResult) -> list[str]:
    s, task = result.settings, result.task
    unsolvable = sorted(set(task.targets) - set(task.warmup_targets))
    cmd = f"rewardkit demo --steps {s.steps} --seed {s.seed}" + "".join(
        f" --run {_shown_path(r.spec.config)}" for r in result.runs
    )
    lines = [
        f"- **Task**: `make T :` → an expression over whole numbers with `+ - *` that equals T, "
        f"T in {task.targets[0]}..{task.targets[-1]} ({len(task.targets)} targets); the answer "
        f"is the expression, so `3 + 9`, `9 + 3`, `3 * 4` and `15 - 3` are four right answers "
        f"to `make 12 :`. Verifier: rewardkit-demo's `reach_target` reward.",
        f"- **Warm-up**: {s.warmup_steps} supervised steps (AdamW, lr {s.warmup_learning_rate:g}, "
        f"64 sequences per step) on right answers drawn from the format mixture "
        + ", ".join(f"{name} {w:.0%}" for name, w in task.mixture.items())
        + f"; loss {result.warmup_loss[0]:.2f} → {result.warmup_loss[1]:.2f} in "
        f"{result.warmup_seconds:.0f} s. Targets {', '.join(map(str, unsolvable)) or 'none'} "
        f"have no answer in these formats and never appear in it.",
        "- **Model**: Qwen2 architecture, 2 layers, hidden size 64, 4 heads, tied embeddings, "
        "about 76k parameters, randomly initialised; a word-level tokenizer over the task's "
        "words (both built locally).",
        f"- **GRPO** (TRL {result.environment.get('trl', '?')} `GRPOTrainer` via "
        f"`RewardKitGRPOTrainer`): {s.steps} steps per run, {s.prompts_per_step} prompts × "
        f"{s.num_generations} completions per step, lr {s.learning_rate:g} (constant), "
        f"temperature {s.temperature:g}, at most {s.max_completion_length} completion tokens, "
        "beta 0 (no reference model), TRL's default loss (`dapo`) and group-scaled advantages. "
        "Every run starts from the same warmed-up weights and sees the same prompts in the "
        "same order.",
        f"- **Seeds**: {s.seed} for the model, the warm-up data and every run; "
        f"{s.seed + 1} for the final evaluation samples.",
        "- **Machine**: "
        + ", ".join(f"{k} {v}" for k, v in result.environment.items())
        + f"; total wall time {result.seconds:.0f} s.",
        f"- **Reproduce**: `{cmd}`",
        "",
        "Runs:",
        "",
    ]
    lines += _table(
        ["run", "what it adds", "config"],
        [
            [f"`{r.spec.name}`", r.spec.title, f"`{_shown_path(r.spec.config)}`"]
            for r in result.runs
        ],
    )
    return lines
