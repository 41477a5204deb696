"""``rewardkit report SCORED``: diversity diagnostics over training steps, as Markdown and PNGs.

Reads rewardkit's scored JSONL (``rewardkit score`` output: input columns plus ``reward``,
``components`` and ``details``) or TRL's completion logs (``output_dir/completions/*.parquet``
with ``step``, ``prompt``, ``completion``, one column per reward function, ``advantage``).
``--training-log`` adds the token-level metrics (``rewardkit/token_entropy/*``) a run logged:
TRL's ``trainer_state.json`` (its ``log_history``) or a JSONL of logged dicts (one per line,
flat with a ``step`` key, or verl's file logger's ``{"step": ..., "data": {...}}``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from rewardkit._metrics import metric_name
from rewardkit._rollout import message_text
from rewardkit.diagnostics._math import (
    answer_entropy,
    distinct_answers,
    distinct_n,
    embedding_diversity,
    num_partitions,
    pass_at_k,
)

__all__ = [
    "ReportRow",
    "load_report_rows",
    "load_token_metrics",
    "report_command",
    "step_metrics",
]

#: The logged metrics the token-entropy section reads (the ``token_entropy`` term's).
TOKEN_PREFIX = metric_name("token_entropy", "")
_TOKEN_PLOT = ("mean", "p50", "p95", "answer_span_mean", "rest_mean")

_TRL_NON_REWARD = frozenset({"step", "prompt", "completion", "advantage", "image"})


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One rollout as the report needs it."""

    step: int | None
    group: Hashable
    completion: str
    answer: str | None
    correct: bool | None
    reward: float | None
    components: dict[str, float] = field(default_factory=dict)


def _group_of(row: dict[str, Any], group_key: str | None) -> Hashable:
    if group_key and group_key in row:
        return json.dumps(row[group_key], sort_keys=True, default=str)
    if "prompt_id" in row:
        return json.dumps(row["prompt_id"], sort_keys=True, default=str)
    return json.dumps(row.get("prompt"), sort_keys=True, default=str)


def _step_of(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) else None


def _details(data: dict[str, Any]) -> dict[str, Any]:
    found = data.get("details")
    return found if isinstance(found, dict) else {}


def _answer_reward(parsed: Sequence[dict[str, Any]]) -> str | None:
    """The reward whose details carry the most answers (so a format reward is not picked)."""
    counts: dict[str, int] = {}
    for data in parsed:
        for name, detail in _details(data).items():
            has = isinstance(detail, dict) and detail.get("answer") is not None
            counts[name] = counts.get(name, 0) + has
    return max(counts, key=lambda k: counts[k]) if counts else None


def _read_jsonl(
    path: Path, *, answer_from: str | None, group_key: str | None, step_key: str
) -> list[ReportRow]:
    from rewardkit.verifiers import extract_final_answer

    parsed: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise click.ClickException(f"{path}:{lineno}: malformed JSON: {exc}") from None
            if not isinstance(data, dict):
                raise click.ClickException(f"{path}:{lineno}: expected a JSON object")
            parsed.append((lineno, data))
    name = answer_from or _answer_reward([d for _, d in parsed])
    rows = []
    for lineno, data in parsed:
        completion = message_text(data.get("completion"))
        details = _details(data)
        detail = details.get(name) if name else None
        if answer_from and detail is None:
            raise click.ClickException(
                f"{path}:{lineno}: no details for reward {answer_from!r}; "
                f"rewards: {', '.join(details) or '(none)'}"
            )
        if isinstance(detail, dict):
            answer, correct = detail.get("answer"), detail.get("outcome") == "correct"
        else:
            answer, correct = extract_final_answer(completion), None
        comps = data.get("components") if isinstance(data.get("components"), dict) else {}
        reward = data.get("reward")
        rows.append(
            ReportRow(
                step=_step_of(data.get(step_key)),
                group=_group_of(data, group_key),
                completion=completion,
                answer=answer,
                correct=correct,
                reward=float(reward) if isinstance(reward, (int, float)) else None,
                components={k: float(v) for k, v in comps.items() if isinstance(v, (int, float))},
            )
        )
    return rows


def _parquet_files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(path.glob("*.parquet")) or sorted(path.glob("completions/*.parquet"))
        if not found:
            raise click.ClickException(f"{path}: no *.parquet files (nor completions/*.parquet)")
        return found
    return [path]


def _read_parquet(
    path: Path,
    *,
    correct_column: str | None,
    correct_threshold: float,
    group_key: str | None,
    step_key: str,
) -> list[ReportRow]:
    import pandas as pd

    from rewardkit.verifiers import extract_final_answer

    frames = [pd.read_parquet(p) for p in _parquet_files(path)]
    df = pd.concat(frames, ignore_index=True)
    reward_cols = [
        c
        for c in df.columns
        if c not in _TRL_NON_REWARD and c != group_key and pd.api.types.is_numeric_dtype(df[c])
    ]
    column = correct_column or (reward_cols[0] if reward_cols else None)
    if column is not None and column not in df.columns:
        raise click.ClickException(
            f"{path}: no column {column!r}; reward columns: {', '.join(reward_cols) or '(none)'}"
        )
    rows = []
    for rec in df.to_dict(orient="records"):
        completion = message_text(_plain(rec.get("completion")))
        value = rec.get(column) if column else None
        value = float(value) if value is not None and not pd.isna(value) else None
        rows.append(
            ReportRow(
                step=_step_of(rec.get(step_key)),
                group=_group_of({k: _plain(v) for k, v in rec.items()}, group_key),
                completion=completion,
                answer=extract_final_answer(completion),
                correct=None if value is None else value >= correct_threshold,
                reward=value,
                components={
                    c: float(rec[c])
                    for c in reward_cols
                    if rec.get(c) is not None and not pd.isna(rec[c])
                },
            )
        )
    return rows


def _plain(value: Any) -> Any:
    """numpy arrays of chat messages (as pyarrow returns them) to lists."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def load_report_rows(
    path: Path,
    *,
    answer_from: str | None = None,
    correct_column: str | None = None,
    correct_threshold: float = 0.5,
    group_key: str | None = None,
    step_key: str = "step",
) -> list[ReportRow]:
    """Rows from a scored JSONL file, a TRL parquet file, or a folder of TRL parquet files."""
    if path.is_dir() or path.suffix == ".parquet":
        return _read_parquet(
            path,
            correct_column=correct_column,
            correct_threshold=correct_threshold,
            group_key=group_key,
            step_key=step_key,
        )
    return _read_jsonl(path, answer_from=answer_from, group_key=group_key, step_key=step_key)


def _log_records(path: Path) -> list[dict[str, Any]]:
    """The logged dicts of a TRL ``trainer_state.json`` or a JSONL training log."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{path}: malformed JSON: {exc}") from None
        history = doc.get("log_history") if isinstance(doc, dict) else None
        if not isinstance(history, list):
            raise click.ClickException(f"{path}: expected TRL's trainer_state.json (log_history)")
        return [h for h in history if isinstance(h, dict)]
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise click.ClickException(f"{path}:{lineno}: malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise click.ClickException(f"{path}:{lineno}: expected a JSON object")
        if isinstance(data.get("data"), dict):  # verl's FileLogger
            data = {**data["data"], "step": data.get("step")}
        records.append(data)
    return records


def load_token_metrics(path: Path, *, step_key: str = "step") -> dict[int, dict[str, float]]:
    """Per step, the mean of each ``rewardkit/token_entropy/<name>`` number logged at that step
    (keys without the prefix; eval entries and text values are left out)."""
    sums: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in _log_records(path):
        step = _step_of(record.get(step_key))
        if step is None:
            continue
        for key, value in record.items():
            if not key.startswith(TOKEN_PREFIX) or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                sums[step][key[len(TOKEN_PREFIX) :]].append(float(value))
    return {
        step: {k: sum(v) / len(v) for k, v in sorted(per.items())}
        for step, per in sorted(sums.items())
        if per
    }


def _mean(values: Iterable[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _embedding_partitions(vectors: Any, threshold: float) -> int:
    """Classes of one group under the embedding judge: union-find over pairs with cos >= threshold."""
    import numpy as np

    from rewardkit.judges import union_find_labels

    n = len(vectors)
    ii, jj = np.triu_indices(n, k=1)
    same = (vectors @ vectors.T)[ii, jj] >= threshold
    return num_partitions(union_find_labels(n, zip(ii[same].tolist(), jj[same].tolist())))


def step_metrics(
    rows: Sequence[ReportRow], ks: Sequence[int], embedder: Any = None
) -> dict[str, float]:
    """Every report metric for one step's rows (per group, then averaged over groups).

    ``embedder``: a :class:`~rewardkit.judges.TextEmbedder` for the embedding metrics (float32).
    """
    from rewardkit.judges import DEFAULT_EMBEDDING_THRESHOLD, AnswerJudge

    groups: dict[Hashable, list[ReportRow]] = defaultdict(list)
    for r in rows:
        groups[r.group].append(r)
    out: dict[str, float] = {"rollouts": float(len(rows)), "groups": float(len(groups))}
    rewards = [r.reward for r in rows if r.reward is not None]
    out["reward_mean"] = sum(rewards) / len(rewards) if rewards else math.nan
    names = sorted({k for r in rows for k in r.components})
    for name in names:
        out[f"{name}_mean"] = _mean([r.components.get(name, math.nan) for r in rows])
    known = [g for g in groups.values() if all(r.correct is not None for r in g)]
    solved = [g for g in known if any(r.correct for r in g)]
    unsolved = [g for g in known if not any(r.correct for r in g)]
    out["distinct_answers"] = _mean(
        [distinct_answers([r.answer for r in g]) for g in groups.values()]
    )
    out["distinct_answers_solved"] = _mean(
        [distinct_answers([r.answer for r in g]) for g in solved]
    )
    out["distinct_answers_unsolved"] = _mean(
        [distinct_answers([r.answer for r in g]) for g in unsolved]
    )
    out["answer_entropy"] = _mean([answer_entropy([r.answer for r in g]) for g in groups.values()])
    # The `partitions` diagnostic's answer judge: distinct answers, plus one class per rollout
    # without an answer (it equals nothing).
    answer_judge = AnswerJudge()
    out["partitions_answer"] = _mean(
        [
            float(num_partitions(answer_judge.labels([], [r.answer for r in g], [range(len(g))])))
            for g in groups.values()
        ]
    )
    out["frac_no_answer"] = sum(r.answer is None for r in rows) / len(rows)
    out["frac_solved_groups"] = len(solved) / len(known) if known else math.nan
    for k in ks:
        out[f"pass@{k}"] = _mean(
            [pass_at_k(len(g), sum(bool(r.correct) for r in g), k) for g in known if len(g) >= k]
        )
    for n in (1, 2, 3, 4):
        out[f"distinct_{n}"] = _mean(
            [distinct_n([r.completion for r in g], n) for g in groups.values()]
        )
    if embedder is not None:
        vectors = embedder.encode([r.completion for r in rows], exact=True)
        index = {id(r): i for i, r in enumerate(rows)}
        per_group = [vectors[[index[id(r)] for r in g]] for g in groups.values()]
        out["embedding_diversity"] = _mean([embedding_diversity(v) for v in per_group])
        out["partitions_embedding"] = _mean(
            [float(_embedding_partitions(v, DEFAULT_EMBEDDING_THRESHOLD)) for v in per_group]
        )
    return out


_PLOTS: dict[str, tuple[str, ...]] = {
    "reward": ("reward_mean",),
    "answer_diversity": (
        "distinct_answers",
        "distinct_answers_solved",
        "distinct_answers_unsolved",
    ),
    "answer_entropy": ("answer_entropy", "frac_no_answer"),
    "pass_at_k": (),  # filled with the pass@k keys
    "distinct_n": ("distinct_1", "distinct_2", "distinct_3", "distinct_4"),
    "embedding_diversity": ("embedding_diversity",),
    "partitions": ("partitions_answer", "partitions_embedding"),
}


def _nan_to_none(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: None if math.isnan(v) else v for k, v in metrics.items()}


def _fmt(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.4g}"


def _markdown(
    source: Path,
    overall: dict[str, float],
    per_step: dict[int, dict[str, float]],
    plots: list[str],
    token: dict[int, dict[str, float]] | None = None,
) -> str:
    lines = [
        "# rewardkit report",
        "",
        f"Source: `{source}` ({int(overall['rollouts'])} rollouts, {int(overall['groups'])} "
        f"groups{f', {len(per_step)} steps' if per_step else ''}).",
        "",
        "Per-group metrics averaged over groups; a group is *solved* when at least one rollout "
        "is correct. pass@k is the unbiased estimator over groups with at least k rollouts.",
        "",
        "## All rollouts",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in overall.items()]
    if per_step:
        keys = [k for k in next(iter(per_step.values())) if k not in ("rollouts", "groups")]
        lines += ["", "## Over steps", "", "| step | " + " | ".join(keys) + " |"]
        lines.append("|---" * (len(keys) + 1) + "|")
        for step, m in per_step.items():
            lines.append(f"| {step} | " + " | ".join(_fmt(m[k]) for k in keys) + " |")
    if token:
        keys = sorted({k for m in token.values() for k in m})
        lines += [
            "",
            "## Token entropy",
            "",
            "From the training log: the `token_entropy` term's numbers (nats), averaged over the "
            "entries logged at each step. `answer_span_mean` is the entropy of the final "
            "answer's tokens, `rest_mean` that of the other tokens of the same completions.",
            "",
            "| step | " + " | ".join(keys) + " |",
        ]
        lines.append("|---" * (len(keys) + 1) + "|")
        for step, m in token.items():
            lines.append(f"| {step} | " + " | ".join(_fmt(m.get(k, math.nan)) for k in keys) + " |")
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p}]({p}.png)" for p in plots]
    return "\n".join(lines) + "\n"


def _plot(
    out_dir: Path,
    per_step: dict[int, dict[str, float]],
    ks: Sequence[int],
    token: dict[int, dict[str, float]] | None = None,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    written = []
    plots: list[tuple[str, tuple[str, ...], dict[int, dict[str, float]]]] = [
        (name, tuple(f"pass@{k}" for k in ks) if name == "pass_at_k" else keys, per_step)
        for name, keys in _PLOTS.items()
    ]
    if token:
        plots.append(("token_entropy", _TOKEN_PLOT, token))
    for name, keys, table in plots:
        steps = list(table)
        series = {
            k: [table[s].get(k, math.nan) for s in steps]
            for k in keys
            if any(not math.isnan(table[s].get(k, math.nan)) for s in steps)
        }
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        for k, values in series.items():
            ax.plot(steps, values, marker="o", label=k)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png")
        plt.close(fig)
        written.append(name)
    return written


@click.command("report")
@click.argument("scored", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rewardkit_report"),
    show_default=True,
    help="Folder for report.md, metrics.json and the PNG plots.",
)
@click.option(
    "--answer-from",
    default=None,
    help="Scored JSONL: the reward whose answers and outcomes to use [default: the one with "
    "the most answers].",
)
@click.option(
    "--correct-column",
    default=None,
    help="TRL parquet: the reward column that decides correctness [default: the first].",
)
@click.option(
    "--correct-threshold",
    default=0.5,
    show_default=True,
    type=float,
    help="TRL parquet: a rollout is correct when its reward is at least this.",
)
@click.option(
    "-k",
    "ks",
    default="1,4,8",
    show_default=True,
    help="Comma-separated k values for pass@k.",
)
@click.option(
    "--group-key",
    default=None,
    help="Column that groups rollouts [default: prompt_id, else prompt].",
)
@click.option(
    "--step-key", default="step", show_default=True, help="Column with the training step."
)
@click.option(
    "--embeddings/--no-embeddings",
    default=False,
    show_default=True,
    help="Also compute embedding diversity and embedding-judge partitions (loads the "
    "sentence-embedding model).",
)
@click.option(
    "--training-log",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TRL trainer_state.json or a JSONL training log (verl's file logger): adds the "
    "token_entropy metrics per step (table, token_entropy.png, metrics.json).",
)
def report_command(
    scored: Path,
    out_dir: Path,
    answer_from: str | None,
    correct_column: str | None,
    correct_threshold: float,
    ks: str,
    group_key: str | None,
    step_key: str,
    embeddings: bool,
    training_log: Path | None,
) -> None:
    """Summarise SCORED (rewardkit scored JSONL, or TRL completions parquet file/folder)."""
    try:
        k_values = sorted({int(k) for k in ks.split(",") if k.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {ks!r}") from None
    if not k_values or min(k_values) < 1:
        raise click.BadParameter("k values must be positive integers")
    rows = load_report_rows(
        scored,
        answer_from=answer_from,
        correct_column=correct_column,
        correct_threshold=correct_threshold,
        group_key=group_key,
        step_key=step_key,
    )
    if not rows:
        raise click.ClickException(f"{scored}: no rows")
    embedder = None
    if embeddings:
        from rewardkit.judges import get_embedder

        embedder = get_embedder()
    # Overall, a group is one prompt at one step, as in the per-step tables.
    overall = step_metrics(
        [dataclasses.replace(r, group=(r.step, r.group)) for r in rows], k_values, embedder
    )
    by_step: dict[int, list[ReportRow]] = defaultdict(list)
    for r in rows:
        if r.step is not None:
            by_step[r.step].append(r)
    per_step = {s: step_metrics(by_step[s], k_values, embedder) for s in sorted(by_step)}
    token = load_token_metrics(training_log, step_key=step_key) if training_log else {}
    if training_log and not token:
        click.echo(f"note: {training_log} has no {TOKEN_PREFIX}* numbers", err=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _plot(out_dir, per_step, k_values, token) if (per_step or token) else []
    (out_dir / "report.md").write_text(
        _markdown(scored, overall, per_step, plots, token), encoding="utf-8"
    )
    doc: dict[str, Any] = {
        "overall": _nan_to_none(overall),
        "steps": {str(s): _nan_to_none(m) for s, m in per_step.items()},
    }
    if token:
        doc["token_entropy"] = {str(s): m for s, m in token.items()}
    (out_dir / "metrics.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    click.echo(
        f"wrote {out_dir / 'report.md'} ({len(rows)} rollouts, {len(per_step)} steps, "
        f"{len(plots)} plots)"
    )
