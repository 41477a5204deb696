"""Building batches with known answers and outcomes for the shaping tests."""

from __future__ import annotations

from collections.abc import Sequence

from rewardkit import Batch, RewardResult, Rollout, ShapingInput


def answered_batch(
    groups: Sequence[Sequence[str | None]],
    *,
    correct: Sequence[Sequence[bool]] | None = None,
    prompts: Sequence[str] | None = None,
) -> tuple[Batch, dict[str, list[RewardResult]]]:
    """A batch of groups whose rollouts have the given answers, scored by a reward named 'm'."""
    rollouts, results = [], []
    for g, answers in enumerate(groups):
        prompt = prompts[g] if prompts else f"problem {g}"
        for j, a in enumerate(answers):
            text = "no answer here" if a is None else f"work ... so \\boxed{{{a}}}"
            rollouts.append(Rollout(prompt, text, group=f"g{g}"))
            ok = correct[g][j] if correct else False
            if a is None:
                results.append(RewardResult.no_answer())
            elif ok:
                results.append(RewardResult.correct(answer=a))
            else:
                results.append(RewardResult.incorrect(answer=a))
    return Batch(rollouts), {"m": results}


def shaping_input(
    groups: Sequence[Sequence[str | None]],
    *,
    correct: Sequence[Sequence[bool]] | None = None,
    totals: Sequence[float] | None = None,
    prompts: Sequence[str] | None = None,
    step: int | None = None,
) -> ShapingInput:
    batch, results = answered_batch(groups, correct=correct, prompts=prompts)
    totals = (
        totals
        if totals is not None
        else [float(r.outcome.value == "correct") for r in results["m"]]
    )
    return ShapingInput(batch, tuple(totals), results, step)
