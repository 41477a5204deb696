"""``rewardkit score CONFIG ROLLOUTS.jsonl``: score a JSONL file of rollouts."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rewardkit._errors import RewardKitError
from rewardkit._rollout import Rollout


class _Row:
    __slots__ = ("data", "group", "lineno")

    def __init__(self, lineno: int, data: dict[str, Any], group: Hashable) -> None:
        self.lineno = lineno
        self.data = data
        self.group = group


def _read_rows(
    fh: TextIO, *, on_error: str, prompt_key: str, group_key: str | None, err: Console
) -> Iterator[_Row]:
    for lineno, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except ValueError as exc:
            msg = f"line {lineno}: malformed JSON row: {exc}"
            if on_error == "fail":
                raise click.ClickException(msg) from None
            err.print(f"[yellow]skipped[/] {msg}")
            continue
        if group_key is not None and group_key in data:
            group: Hashable = json.dumps(data[group_key], sort_keys=True)
        elif group_key is None and "prompt_id" in data:
            group = json.dumps(data["prompt_id"], sort_keys=True)
        else:
            group = json.dumps(data.get(prompt_key), sort_keys=True)
        yield _Row(lineno, data, group)


def _batches(rows: list[_Row], batch_size: int) -> Iterator[list[int]]:
    """Indices of whole groups, about ``batch_size`` rollouts each; groups are never split."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[row.group].append(i)
    current: list[int] = []
    for members in groups.values():
        if current and len(current) + len(members) > batch_size:
            yield current
            current = []
        current.extend(members)
    if current:
        yield current


@click.command("score")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "rollouts", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scored JSONL (default: stdout).",
)
@click.option(
    "--prompt-key", default="prompt", show_default=True, help="Column holding the prompt."
)
@click.option(
    "--completion-key",
    default="completion",
    show_default=True,
    help="Column holding the completion.",
)
@click.option(
    "--reference-key",
    default="reference",
    show_default=True,
    help="Column holding the reference answer.",
)
@click.option(
    "--group-key",
    default=None,
    help="Column that groups rollouts [default: prompt_id, else the prompt].",
)
@click.option(
    "--step-key",
    default="step",
    show_default=True,
    help="Column with the training step; batches split by it.",
)
@click.option(
    "--batch-size",
    default=512,
    show_default=True,
    type=click.IntRange(1),
    help="Rollouts per batch (whole groups).",
)
@click.option(
    "--on-error",
    type=click.Choice(["skip", "fail"]),
    default="skip",
    show_default=True,
    help="What to do with a malformed line.",
)
def score_command(
    config: Path,
    rollouts: Path,
    output: Path | None,
    prompt_key: str,
    completion_key: str,
    reference_key: str,
    group_key: str | None,
    step_key: str,
    batch_size: int,
    on_error: str,
) -> None:
    """Score ROLLOUTS (JSONL) with CONFIG and write every row with reward, components, details."""
    from rewardkit._pipeline import RewardPipeline

    err = Console(stderr=True)
    try:
        pipeline = RewardPipeline.from_config(config)
    except RewardKitError as exc:
        raise click.ClickException(str(exc)) from None

    fh_in = sys.stdin if str(rollouts) == "-" else rollouts.open(encoding="utf-8")
    with fh_in:
        rows = list(
            _read_rows(
                fh_in, on_error=on_error, prompt_key=prompt_key, group_key=group_key, err=err
            )
        )
    if not rows:
        raise click.ClickException(f"{rollouts}: no rows to score")
    for row in rows:
        if completion_key not in row.data:
            msg = f"line {row.lineno}: missing column {completion_key!r}"
            if on_error == "fail":
                raise click.ClickException(msg)
    # Steps are scored in order, so stateful terms (UCB counts) see history as training did.
    by_step: dict[Any, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_step[row.data.get(step_key)].append(i)

    results: list[dict[str, Any] | None] = [None] * len(rows)
    outcome_counts: dict[str, Counter[str]] = defaultdict(Counter)
    component_values: dict[str, list[float]] = defaultdict(list)
    distinct_per_group: dict[str, list[int]] = defaultdict(list)
    progress = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    with pipeline, progress:
        task = progress.add_task("score", total=len(rows))
        for step, indices in sorted(
            by_step.items(),
            key=lambda kv: (kv[0] is None, str(type(kv[0])), kv[0] if kv[0] is not None else 0),
        ):
            sub = [rows[i] for i in indices]
            for batch_idx in _batches(sub, batch_size):
                chosen = [sub[j] for j in batch_idx]
                batch = [
                    Rollout(
                        prompt=r.data.get(prompt_key, ""),
                        completion=r.data.get(completion_key),
                        group=r.group,
                        reference=r.data.get(reference_key),
                        metadata=r.data,
                    )
                    for r in chosen
                ]
                try:
                    scored = pipeline.score(batch, step=step if isinstance(step, int) else None)
                except RewardKitError as exc:
                    raise click.ClickException(
                        f"lines {chosen[0].lineno}-{chosen[-1].lineno}: {exc}"
                    ) from None
                for k, (row, out) in enumerate(zip(chosen, scored.rows())):
                    results[indices[batch_idx[k]]] = {**row.data, **out}
                for name, values in scored.components.items():
                    component_values[name].extend(values)
                for name, details in scored.details.items():
                    outcome_counts[name].update(d.outcome.value for d in details)
                    for members in scored.batch.groups.values():
                        answers = {
                            details[m].answer for m in members if details[m].answer is not None
                        }
                        distinct_per_group[name].append(len(answers))
                progress.advance(task, len(chosen))

    out_fh = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for res in results:
            if res is not None:
                out_fh.write(json.dumps(res, ensure_ascii=False, default=str) + "\n")
    finally:
        if output:
            out_fh.close()

    table = Table(title=f"rewardkit score: {len(rows)} rollouts")
    for col in ("component", "mean", "outcomes", "distinct answers / group"):
        table.add_column(col)
    for name, values in component_values.items():
        finite = [v for v in values if math.isfinite(v)]
        mean = sum(finite) / len(finite) if finite else float("nan")
        counts = (
            ", ".join(f"{k}={v}" for k, v in sorted(outcome_counts[name].items()))
            if name in outcome_counts
            else ""
        )
        groups = distinct_per_group.get(name)
        # Rewards that extract no answers (length, repetition) have no distinct-answer count.
        distinct = f"{sum(groups) / len(groups):.2f}" if groups and any(groups) else ""
        table.add_row(name, f"{mean:.4f}", counts, distinct)
    err.print(table)
