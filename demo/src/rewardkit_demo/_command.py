"""``rewardkit demo``: contributed to the rewardkit CLI by rewardkit-demo's plugin."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from rewardkit_demo._runner import DemoSettings

__all__ = ["default_configs", "demo_command"]

_DEFAULTS_FOLDER = Path("examples") / "demo"
#: The demo configs shipped inside the package, so ``rewardkit demo`` runs from any folder
#: after ``pip install rewardkit-demo``; ``examples/demo/`` of the repository holds the same
#: files for readers (a test keeps the two copies identical).
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
_DEFAULT = DemoSettings()


def default_configs() -> list[Path]:
    """``examples/demo/*.yaml`` of the working directory (your edited copies), else the demo
    configs packaged with rewardkit-demo."""
    for folder in (Path.cwd() / _DEFAULTS_FOLDER, PACKAGED_CONFIGS):
        found = sorted(folder.glob("*.yaml"))
        if found:
            return found
    return []


#: The final comparison in the terminal, with headers short enough for 80 columns.
_TERMINAL_COLUMNS = {
    "accuracy": "acc",
    "pass@32": "pass\n@32",
    "distinct_solved": "distinct\nsolved",
    "distinct_unsolved": "distinct\nunsolved",
    "dominant_format_share": "one\nlane",
    "entropy/opening": "H opening\n(non-answer)",
    "entropy/first_operand": "H 1st operand\n(answer fork)",
    "entropy_answer_top20": "H answer\ntop-20%",
    "entropy_mean": "H\nmean",
    "entropy_top20": "H\ntop-20%",
}


def _final_table(result: Any) -> Any:
    """The report's final comparison, for the terminal."""
    from rich import box
    from rich.table import Table

    from rewardkit_demo._report import format_value

    table = Table(
        title="final evaluation (details: report.md)", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("policy", no_wrap=True)
    for header in _TERMINAL_COLUMNS.values():
        table.add_column(header, justify="right")
    rows = [("base", result.base), *((r.spec.name, r.final) for r in result.runs)]
    for name, metrics in rows:
        table.add_row(name, *(format_value(key, metrics.get(key)) for key in _TERMINAL_COLUMNS))
    return table


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"  # NaN != NaN


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p])
    return out


@click.command("demo")
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=_DEFAULT.steps,
    show_default=True,
    help="GRPO steps per run.",
)
@click.option(
    "--run",
    "-r",
    "runs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A rewardkit config file (or a folder of them) to train one run with; repeat for "
    "several runs. Default: ./examples/demo/*.yaml if present, else the packaged demo "
    "configs.",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo_out"),
    show_default=True,
    help="Folder for report.md, plots and data.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of everything.")
@click.option(
    "--warmup-steps",
    type=click.IntRange(min=0),
    default=_DEFAULT.warmup_steps,
    show_default=True,
    help="Supervised warm-up steps before the GRPO runs.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="torch CPU threads; the model is so small that 1 is fastest.",
)
def demo_command(
    steps: int,
    runs: tuple[Path, ...],
    out_dir: Path,
    seed: int,
    warmup_steps: int,
    threads: int,
) -> None:
    """Train a tiny model with GRPO under several rewardkit configs, offline on CPU, and write
    a report on answer diversity, token entropy and pass@k (a few minutes)."""
    import dataclasses

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from rewardkit import RewardKitError
    from rewardkit_demo._report import write_report
    from rewardkit_demo._runner import RunSpec, run_demo

    configs = _expand(runs) if runs else default_configs()
    if not configs:
        raise click.UsageError(
            f"no run configs: pass --run CONFIG.yaml (none found in ./{_DEFAULTS_FOLDER})"
        )
    settings = dataclasses.replace(
        _DEFAULT, steps=steps, warmup_steps=warmup_steps, seed=seed, threads=threads
    )

    # Logs and pipes get 120 columns (rich would assume 80); a terminal keeps its own width.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    console.print(
        f"[bold]rewardkit demo[/]: warm-up {settings.warmup_steps} steps, then "
        f"{len(configs)} GRPO runs × {settings.steps} steps (seed {settings.seed}, "
        f"{settings.threads} thread{'s' if settings.threads > 1 else ''})"
    )
    started = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(bar_width=28),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    with progress:
        warm = progress.add_task("warm-up", total=settings.warmup_steps, info="")
        tasks: dict[str, int] = {}

        def on_warmup_step(step: int, loss: float) -> None:
            progress.update(warm, completed=step, info=f"loss {loss:.2f}")

        def on_run_start(spec: RunSpec) -> None:
            tasks[spec.name] = progress.add_task(spec.name, total=settings.steps, info="")

        def on_step(spec: RunSpec, step: int, m: dict[str, float]) -> None:
            info = (
                f"acc {_num(m.get('accuracy'), 2)}  distinct {_num(m.get('distinct_solved'), 1)}"
                f"  one lane {_num(m.get('dominant_format_share'), 2)}"
                f"  H opening {_num(m.get('entropy/opening'), 2)}"
                f" / 1st operand {_num(m.get('entropy/first_operand'), 2)}"
            )
            progress.update(tasks[spec.name], completed=step, info=info)

        try:
            result = run_demo(
                configs,
                settings=settings,
                on_warmup_step=on_warmup_step,
                on_run_start=on_run_start,
                on_step=on_step,
            )
        except (RewardKitError, ValueError) as exc:  # a bad config or option, not a crash
            raise click.ClickException(str(exc)) from exc
    report = write_report(result, out_dir)
    console.print(_final_table(result))
    console.print(f"wrote [bold]{report}[/] and plots in {time.perf_counter() - started:.0f} s")
