"""``rewardkit score CONFIG ROLLOUTS.jsonl``: score a JSONL file of rollouts."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rewardkit._errors import RewardKitError
from rewardkit._rollout import Rollout, checked_logprobs


class _Row:
    __slots__ = ("data", "group", "lineno", "rollout", "step")

    def __init__(
        self, lineno: int, data: dict[str, Any], rollout: Rollout, step: int | None
    ) -> None:
        self.lineno = lineno
        self.data = data
        self.rollout = rollout
        self.group = rollout.group
        self.step = step


class _MalformedRow(ValueError):
    """A line that cannot become a rollout; reported with its line number, then skipped or fatal."""


class _NoReferenceColumn(_MalformedRow):
    """A row without the reference column at all: usually the whole file, so reported once."""


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where each field of a rollout is in a row, and what a row must have."""

    prompt: str
    completion: str
    reference: str
    step: str
    group: str | None
    #: The pipeline's missing-reference rule (``RewardPipeline.missing_references``) when its
    #: policy is ``"raise"`` (a strict config): a row it flags is malformed. None: such rows are
    #: scored, and the rewards that need a reference give them outcome ``error``.
    missing_references: Callable[[Sequence[Rollout]], Mapping[int, tuple[str, ...]]] | None = None
    #: Column with per-token completion log-probs (optional; terms such as unlikeliness read it).
    logprobs: str = "completion_logprobs"


def _parse_step(value: Any, column: str) -> int | None:
    """The training step of a row as an int, so steps sort numerically ("10" after "2")."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    shown = json.dumps(value, default=str)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise _MalformedRow(f"column {column!r} must be an integer step, got {shown}")


def _parse_row(lineno: int, line: bytes, cols: _Columns) -> _Row | None:
    """A row from one line of input, ``None`` for a blank line; raises :class:`_MalformedRow`."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _MalformedRow(f"not valid UTF-8: {exc}") from None
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _MalformedRow(f"malformed JSON row: {exc}") from None
    except RecursionError:
        raise _MalformedRow("malformed JSON row: nested too deeply") from None
    if not isinstance(data, dict):
        raise _MalformedRow(
            f"malformed JSON row: expected a JSON object, got {type(data).__name__}"
        )
    if cols.completion not in data:
        raise _MalformedRow(f"missing column {cols.completion!r}")
    step = _parse_step(data.get(cols.step), cols.step)
    logprobs = data.get(cols.logprobs)
    if logprobs is not None:
        try:
            logprobs = checked_logprobs(logprobs)
        except RewardKitError as exc:
            raise _MalformedRow(f"column {cols.logprobs!r}: {exc}") from None
    if cols.group is not None and cols.group in data:
        group: Hashable = json.dumps(data[cols.group], sort_keys=True)
    elif cols.group is None and "prompt_id" in data:
        group = json.dumps(data["prompt_id"], sort_keys=True)
    else:
        group = json.dumps(data.get(cols.prompt), sort_keys=True)
    rollout = Rollout(
        prompt=data.get(cols.prompt, ""),
        completion=data.get(cols.completion),
        group=group,
        reference=data.get(cols.reference),
        metadata=data,
        completion_logprobs=logprobs,
    )
    needing = cols.missing_references([rollout]).get(0, ()) if cols.missing_references else ()
    if needing and cols.reference not in data:
        raise _NoReferenceColumn(
            f"no column {cols.reference!r}, but reward {needing[0]!r} needs a "
            "reference; name the column with --reference-key"
        )
    if needing:
        raise _MalformedRow(
            f"no reference (column {cols.reference!r} is missing or null) but reward "
            f"{needing[0]!r} needs one; with `strict: false` in the config such "
            "rows are scored with outcome 'error' instead"
        )
    return _Row(lineno, data, rollout, step)


def _read_rows(
    fh: BinaryIO, cols: _Columns, *, on_error: str, err: Console
) -> tuple[list[_Row], int]:
    """Every row of the input, and how many lines were skipped as malformed."""
    rows: list[_Row] = []
    skipped = 0
    no_column: list[int] = []  # lines without the reference column, reported together
    first_no_column = ""
    for lineno, line in enumerate(fh, start=1):
        if lineno == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
        try:
            try:
                row = _parse_row(lineno, line, cols)
            except RecursionError:  # a group or prompt column nested too deeply to key on
                raise _MalformedRow("a column is nested too deeply") from None
        except _MalformedRow as exc:
            msg = f"line {lineno}: {exc}"
            if on_error == "fail":
                raise click.ClickException(msg) from None
            skipped += 1
            if isinstance(exc, _NoReferenceColumn):
                no_column.append(lineno)
                first_no_column = first_no_column or str(exc)
            else:
                err.print(f"[yellow]skipped[/] {escape(msg)}", soft_wrap=True)
            continue
        if row is not None:
            rows.append(row)
    if no_column and not rows:
        raise click.ClickException(f"{first_no_column} (no row has it)")
    if no_column:
        shown = ", ".join(map(str, no_column[:10])) + (", ..." if len(no_column) > 10 else "")
        lines = "line" if len(no_column) == 1 else "lines"
        msg = f"{lines} {shown}: {first_no_column}"
        err.print(f"[yellow]skipped[/] {escape(msg)}", soft_wrap=True)
    return rows, skipped


def _at_lines(exc: Exception, rows: Sequence[_Row]) -> str:
    """A batch error, with the pipeline's "rollout i" (index in the batch) as the input line."""
    text = re.sub(
        r"\brollout (\d+)\b",
        lambda m: (
            f"line {rows[int(m.group(1))].lineno}" if int(m.group(1)) < len(rows) else m.group(0)
        ),
        str(exc),
    )
    if text != str(exc):
        return text
    lines = [r.lineno for r in rows]
    return f"batch of input lines {min(lines)}-{max(lines)}: {text}"


def _encode_row(res: dict[str, Any]) -> bytes:
    """One output line as UTF-8. A row holding text UTF-8 cannot encode (a lone surrogate such
    as ``"\\ud800"``, which is valid JSON) is written with ``\\u`` escapes instead, so it reads
    back as the same string."""
    text = json.dumps(res, ensure_ascii=False, default=str)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(res, ensure_ascii=True, default=str).encode("ascii") + b"\n"


def _write_rows(
    out: BinaryIO,
    results: Sequence[dict[str, Any] | None],
    rows: Sequence[_Row],
    *,
    on_error: str,
    err: Console,
) -> int:
    """Write every scored row in input order; returns how many could only be written as an
    error row (``--on-error skip``). A row that cannot be serialised stops the run with
    ``--on-error fail``; with ``skip`` it is reported and written as ``{"rewardkit_error": ...}``
    in its place, so the output keeps one line per input row."""
    failed = 0
    for res, row in zip(results, rows):
        if res is None:
            continue
        try:
            line = _encode_row(res)
        except (ValueError, TypeError, RecursionError) as exc:
            msg = f"line {row.lineno}: could not write the scored row: {type(exc).__name__}: {exc}"
            if on_error == "fail":
                raise click.ClickException(msg) from None
            err.print(f"[yellow]error row[/] {escape(msg)}", soft_wrap=True)
            failed += 1
            line = _encode_row({"rewardkit_error": msg, "rewardkit_line": row.lineno})
        out.write(line)
    return failed


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
    "--logprobs-key",
    default="completion_logprobs",
    show_default=True,
    help="Column with the completion's per-token log-probs (a list of numbers; optional, "
    "needed by terms such as unlikeliness).",
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
    help="What to do with a malformed line (bad JSON or UTF-8, no completion column, a "
    "non-integer step, no reference for a reward that needs one in a strict config) or a "
    "scored row that cannot be written: report it and go on (a skipped input line is left "
    'out; an unwritable row becomes a {"rewardkit_error": ...} line in its place), or stop '
    "at it.",
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
    logprobs_key: str,
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

    # The pipeline's missing-reference policy: with "raise" (a strict config) a row without the
    # reference a reward needs is malformed (skipped or fatal, --on-error); with "error" the
    # pipeline scores it, and those rewards give it outcome 'error'.
    check = pipeline.missing_references if pipeline.missing_reference == "raise" else None
    cols = _Columns(
        prompt_key, completion_key, reference_key, step_key, group_key, check, logprobs_key
    )
    # Bytes, decoded line by line: one badly encoded line is a malformed row, not a crash.
    fh_in = click.get_binary_stream("stdin") if str(rollouts) == "-" else rollouts.open("rb")
    with fh_in:
        rows, skipped = _read_rows(fh_in, cols, on_error=on_error, err=err)
    if not rows:
        pipeline.close()
        raise click.ClickException(f"{rollouts}: no rows to score")
    # Steps are scored in order, so stateful terms (UCB counts) see history as training did;
    # rows without a step come last.
    by_step: dict[int | None, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_step[row.step].append(i)

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
            by_step.items(), key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else 0)
        ):
            sub = [rows[i] for i in indices]
            for batch_idx in _batches(sub, batch_size):
                chosen = [sub[j] for j in batch_idx]
                batch = [r.rollout for r in chosen]
                try:
                    scored = pipeline.score(batch, step=step, missing_reference="error")
                except RewardKitError as exc:
                    raise click.ClickException(_at_lines(exc, chosen)) from None
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

    # Bytes out: each row is encoded on its own (see _encode_row), so no text in a row can
    # stop the writer half-way through the file.
    out_fh = output.open("wb") if output else click.get_binary_stream("stdout")
    try:
        unwritable = _write_rows(out_fh, results, rows, on_error=on_error, err=err)
        out_fh.flush()
    except OSError as exc:
        raise click.ClickException(f"could not write the output: {exc}") from None
    finally:
        if output:
            out_fh.close()

    title = f"rewardkit score: {len(rows)} rollouts"
    if skipped:
        title += f" ({skipped} malformed line{'s' if skipped != 1 else ''} skipped)"
    if unwritable:
        title += f" ({unwritable} row{'s' if unwritable != 1 else ''} written as errors)"
    table = Table(title=title)
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
