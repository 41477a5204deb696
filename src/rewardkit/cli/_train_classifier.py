"""``rewardkit train-classifier PAIRS.jsonl -o DIR``: train DARLING's pair classifier."""

from __future__ import annotations

from pathlib import Path

import click

from rewardkit._errors import RewardKitError


@click.command("train-classifier")
@click.argument("pairs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to save the classifier in (the judge's classifier_path).",
)
@click.option(
    "--kind",
    type=click.Choice(["pair_head", "cross_encoder"]),
    default="pair_head",
    show_default=True,
    help="pair_head: logistic regression on frozen embedding pair features (fast); "
    "cross_encoder: fine-tune a sentence-transformers CrossEncoder (slow, joint).",
)
@click.option(
    "--model",
    default=None,
    help="Local model folder: the frozen encoder (pair_head) or the base to fine-tune "
    "(cross_encoder) [default: the packaged all-MiniLM-L6-v2].",
)
@click.option(
    "--heldout",
    default=0.25,
    show_default=True,
    type=click.FloatRange(0.05, 0.9),
    help="Fraction held out for accuracy (whole problems when rows have a 'problem' field).",
)
@click.option(
    "--threshold",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="P(same) at or above which a pair counts as the same approach.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and fit.")
@click.option(
    "--epochs", default=2, show_default=True, type=click.IntRange(1), help="cross_encoder epochs."
)
@click.option(
    "--max-length",
    default=256,
    show_default=True,
    type=click.IntRange(16),
    help="cross_encoder: tokens per pair.",
)
def train_classifier_command(
    pairs: Path,
    out_dir: Path,
    kind: str,
    model: str | None,
    heldout: float,
    threshold: float,
    seed: int,
    epochs: int,
    max_length: int,
) -> None:
    """Train a same-approach classifier on PAIRS (JSONL rows: text_a, text_b, same)."""
    from rewardkit.judges import load_pairs, train_classifier

    try:
        labelled = load_pairs(pairs)
        _clf, report = train_classifier(
            labelled,
            out_dir,
            kind=kind,  # type: ignore[arg-type]
            encoder=model,
            heldout_fraction=heldout,
            threshold=threshold,
            seed=seed,
            epochs=epochs,
            max_length=max_length,
        )
    except RewardKitError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{kind}: trained on {report.n_train} pairs, held out {report.n_heldout}\n"
        f"  train accuracy    {report.train_accuracy:.3f}\n"
        f"  held-out accuracy {report.heldout_accuracy:.3f}\n"
        f"  cosine baseline   {report.cosine_baseline_accuracy:.3f} "
        f"(threshold {report.cosine_baseline_threshold:.3f})\n"
        f"saved to {out_dir} (use it with judge: classifier, classifier_path: {out_dir})"
    )
