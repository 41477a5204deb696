"""The demo's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardkit_demo._task import FORMATS, MALFORMED

if TYPE_CHECKING:
    from rewardkit_demo._runner import DemoResult, RunResult

__all__ = ["write_plots"]

#: Per-step curves are noisy (a few prompts per step); they are drawn raw and faint, with a
#: centred moving average of this many steps on top.
SMOOTHING = 15

_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
_BASE_COLOR = "#7f7f7f"


def _smooth(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average; the window shrinks symmetrically at both ends, so the first and
    last points are not pulled toward the middle of a trend."""
    out = []
    n = len(values)
    for i in range(n):
        half = min(window // 2, i, n - 1 - i)
        chunk = [v for v in values[i - half : i + half + 1] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def _series(run: RunResult, key: str) -> tuple[list[float], list[float]]:
    steps = [row["step"] for row in run.steps]
    values = [float(row.get(key, math.nan)) for row in run.steps]
    return steps, values


def _curve(
    ax: Any, run: RunResult, key: str, color: str, *, style: str = "-", label: str = ""
) -> None:
    steps, values = _series(run, key)
    if not steps:
        return
    window = max(1, min(SMOOTHING, len(steps) // 4 or 1))
    ax.plot(steps, values, style, color=color, alpha=0.18, linewidth=0.8)
    ax.plot(steps, _smooth(values, window), style, color=color, linewidth=1.8, label=label)


def _base_line(ax: Any, value: float, label: str = "base policy") -> None:
    if math.isfinite(value):
        ax.axhline(value, color=_BASE_COLOR, linestyle=":", linewidth=1.2, label=label)


def _figure(ncols: int = 1, width: float = 6.4) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 4.0), squeeze=False)
    return fig, axes[0]


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _per_step_panel(
    ax: Any, result: DemoResult, key: str, title: str, ylabel: str, *, base_key: str | None = None
) -> None:
    for i, run in enumerate(result.runs):
        _curve(ax, run, key, _COLORS[i % len(_COLORS)], label=run.spec.name)
    if base_key is not None:
        _base_line(ax, result.base.get(base_key, math.nan))
    ax.set_title(title)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def write_plots(result: DemoResult, out_dir: Path) -> dict[str, Path]:
    """Write every plot into ``out_dir``; returns name -> path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    paths: dict[str, Path] = {}

    fig, (left, right) = _figure(2)
    _per_step_panel(
        left,
        result,
        "accuracy",
        "Accuracy (the same measure for every run)",
        "share correct",
        base_key="accuracy",
    )
    _per_step_panel(
        right, result, "train_reward", "Training reward (what GRPO optimised)", "reward"
    )
    left.legend(fontsize=8)
    paths["reward"] = _save(fig, out_dir / "reward.png")

    fig, (left, right) = _figure(2)
    _per_step_panel(
        left,
        result,
        "distinct_solved",
        "Distinct answers per group: solved",
        "distinct of 8",
        base_key="distinct_solved",
    )
    _per_step_panel(
        right,
        result,
        "distinct_unsolved",
        "Distinct answers per group: unsolved",
        "distinct of 8",
        base_key="distinct_unsolved",
    )
    left.legend(fontsize=8)
    paths["distinct_answers"] = _save(fig, out_dir / "distinct_answers.png")

    fig, (left, right) = _figure(2)
    _per_step_panel(
        left,
        result,
        "dominant_format_share",
        "One lane: share of the dominant format",
        "share of the group",
        base_key="dominant_format_share",
    )
    left.set_ylim(0, 1.02)
    left.legend(fontsize=8)
    _format_bars(right, result)
    paths["formats"] = _save(fig, out_dir / "formats.png")

    fig, (opening, first, mean, share) = _figure(4, width=4.4)
    _per_step_panel(
        opening,
        result,
        "entropy/opening",
        "Opening words (non-answer fork)",
        "nats",
        base_key="entropy/opening",
    )
    _per_step_panel(
        first,
        result,
        "entropy/first_operand",
        "First operand (answer fork)",
        "nats",
        base_key="entropy/first_operand",
    )
    _per_step_panel(
        mean, result, "entropy_mean", "Mean over all tokens", "nats", base_key="entropy_mean"
    )
    # The two forks on one scale, so that the panels compare side by side.
    tops = [ax.get_ylim()[1] for ax in (opening, first)]
    for ax in (opening, first):
        ax.set_ylim(0, max(tops))
    _per_step_panel(
        share,
        result,
        "top20_opening_share",
        "Top-20% tokens that are opening words",
        "share",
        base_key="top20_opening_share",
    )
    share.set_ylim(0, 1.02)
    first.legend(fontsize=8)
    paths["entropy"] = _save(fig, out_dir / "entropy.png")

    fig, (left, right) = _figure(2)
    ks = (
        sorted(int(k.split("@")[1]) for k in result.runs[0].steps[0] if k.startswith("pass@"))
        if result.runs and result.runs[0].steps
        else []
    )
    # The smallest and the largest k: more curves per run would not read.
    shown = sorted({ks[0], ks[-1]}) if ks else []
    for i, run in enumerate(result.runs):
        for j, k in enumerate(shown):
            style = "-" if j == 0 else "--"
            label = run.spec.name if j == 0 else ""
            _curve(left, run, f"pass@{k}", _COLORS[i % len(_COLORS)], style=style, label=label)
    left.set_title(
        "pass@k during training ("
        + ", ".join(f"{s}: k={k}" for s, k in zip(("solid", "dashed"), shown))
        + ")"
    )
    left.set_xlabel("GRPO step")
    left.set_ylabel("pass@k")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    _pass_at_k_curve(right, result)
    paths["pass_at_k"] = _save(fig, out_dir / "pass_at_k.png")
    return paths


def _format_bars(ax: Any, result: DemoResult) -> None:
    rows = [("base", result.base), *((r.spec.name, r.final) for r in result.runs)]
    names = [*FORMATS.values(), "other", MALFORMED]
    colors = dict(zip(names, ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#bbbbbb", "#222222")))
    bottoms = [0.0] * len(rows)
    for name in names:
        shares = []
        for _, metrics in rows:
            if name == "other":
                known = {f"format/{n}" for n in (*FORMATS.values(), MALFORMED)}
                shares.append(
                    sum(v for k, v in metrics.items() if k.startswith("format/") and k not in known)
                )
            else:
                shares.append(metrics.get(f"format/{name}", 0.0))
        ax.bar(range(len(rows)), shares, bottom=bottoms, color=colors[name], label=name, width=0.7)
        bottoms = [b + s for b, s in zip(bottoms, shares)]
    ax.set_xticks(range(len(rows)), [n for n, _ in rows], rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of all final samples")
    ax.set_title("Answer formats at the end (final evaluation)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _pass_at_k_curve(ax: Any, result: DemoResult) -> None:
    def points(metrics: dict[str, float]) -> tuple[list[int], list[float]]:
        ks = sorted(int(k.split("@")[1]) for k in metrics if k.startswith("pass@"))
        return ks, [metrics[f"pass@{k}"] for k in ks]

    ks, values = points(result.base)
    ax.plot(ks, values, "o:", color=_BASE_COLOR, label="base policy")
    for i, run in enumerate(result.runs):
        ks, values = points(run.final)
        ax.plot(ks, values, "o-", color=_COLORS[i % len(_COLORS)], label=run.spec.name)
    ax.set_xscale("log", base=2)
    ax.set_title("pass@k at the end (final evaluation, every target)")
    ax.set_xlabel("k (samples per target)")
    ax.set_ylabel("pass@k")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
