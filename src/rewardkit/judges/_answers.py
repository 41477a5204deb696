"""Answer keys and correctness: what the answer-level terms and diagnostics group by.

A term names a reward with ``answer_from`` to use that reward's canonical answers (and its
outcomes for "correct"); without one, the completion's final answer is extracted and normalised
by :func:`rewardkit.verifiers.extract_final_answer` (last ``\\boxed{}``, else "the answer is",
else ``####``). A rollout whose answer is ``None`` states no answer; each term documents how it
counts such rollouts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardkit._components import entry_reference_field
from rewardkit._errors import BatchError
from rewardkit._rollout import Batch, Outcome, RewardResult

__all__ = ["answer_from_field", "answer_keys", "correct_flags"]


def answer_from_field(*, answers: bool = False) -> Any:
    """The shared ``answer_from`` field; the config checks that it names a reward of the config
    (it is an :func:`~rewardkit._components.entry_reference_field`). ``answers``: the component
    always reads that reward's answers (not only its outcomes), so the named reward must declare
    ``provides_answers``."""
    return entry_reference_field(
        "rewards",
        requires="provides_answers" if answers else None,
        description="Name of the reward whose canonical answers (and outcomes) to use. Unset: "
        "the completion's final answer is extracted and normalised (last \\boxed{}, else 'the "
        "answer is ...', else '####'), and a rollout counts as correct only when every reward "
        "says so.",
    )


def _named(results: Mapping[str, Sequence[RewardResult]], name: str) -> Sequence[RewardResult]:
    try:
        return results[name]
    except KeyError:
        raise BatchError(
            f"answer_from {name!r} names no reward of this batch; rewards: "
            f"{', '.join(results) or '(none)'}"
        ) from None


def answer_keys(
    batch: Batch, results: Mapping[str, Sequence[RewardResult]], answer_from: str | None
) -> list[str | None]:
    """The canonical answer of every rollout, ``None`` where it states none."""
    if answer_from is not None:
        return [r.answer for r in _named(results, answer_from)]
    from rewardkit.verifiers import extract_final_answer

    return [extract_final_answer(r.completion_text) for r in batch]


def correct_flags(
    n: int, results: Mapping[str, Sequence[RewardResult]], answer_from: str | None
) -> list[bool]:
    """Whether each rollout is correct: by ``answer_from``'s outcome, else by every reward's.

    With no rewards at all nothing is correct.
    """
    if answer_from is not None:
        return [r.outcome is Outcome.CORRECT for r in _named(results, answer_from)]
    if not results:
        return [False] * n
    columns = list(results.values())
    return [all(col[i].outcome is Outcome.CORRECT for col in columns) for i in range(n)]
