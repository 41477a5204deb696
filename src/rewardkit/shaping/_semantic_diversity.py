"""``semantic_diversity``: DARLING's partition-based diversity (arXiv 2509.02534).

The defaults compute what DARLING's code computes (facebookresearch/darling:
``partition`` / ``partition_correct`` in ``verl/utils/reward_score/partition_reward_vllm_serve.py``
and ``add_bias`` in ``verl/trainer/ppo/ray_trainer.py``); rewardkit's own variants are separate,
named options, and docs/exploration.md lists every place where the two differ.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, EntryCheckContext, ShapingInput, ShapingTerm
from rewardkit._errors import BatchError
from rewardkit.judges import (
    JudgeConfig,
    answer_judge_problems,
    answer_keys,
    build_judge,
    correct_flags,
    diversity_from_labels,
)

__all__ = ["SemanticDiversity"]


class SemanticDiversity(ShapingTerm):
    """DARLING: partition each group into equivalence classes; Div_i = (n - |C(i)|)/(n - 1), floored; r = q x Div.

    With ``combine: multiply`` (the default) the reward so far ``q`` is multiplied by ``Div``,
    which needs ``q >= 0`` (a negative q times Div would penalise diverse bad answers): a
    negative ``q`` is an error (rewardkit's choice; DARLING's code multiplies it anyway) unless
    a ``quality_shift`` is set. With ``combine: add`` the term adds ``coefficient x Div``.
    """

    type: ClassVar[str] = "semantic_diversity"
    default_combine: ClassVar[Literal["add", "multiply"]] = "multiply"

    class Config(JudgeConfig):
        floor: float = Field(
            default=0.1,
            ge=0,
            le=1,
            description="Lower bound of Div, so a rollout whose whole group agrees keeps a "
            "fraction of its reward (DARLING's code: 0.1). With partition: correct it is also "
            "the value of wrong rollouts.",
        )
        coefficient: float = Field(
            default=1.0,
            ge=0,
            description="The term's value is coefficient x Div; keep 1 with combine: multiply. "
            "Must be 1 with a quality_shift.",
        )
        partition: Literal["all", "correct", "correct_lone_full"] = Field(
            default="all",
            description="all: partition every rollout of the group (DARLING's `partition`). "
            "correct: DARLING's `partition_correct`: only the correct rollouts (by answer_from's "
            "outcome, else every reward's) are partitioned and n is their number, wrong ones get "
            "the floor, and a group with 0 or 1 correct rollouts gets the floor throughout. "
            "correct_lone_full: rewardkit's variant of correct, not DARLING's: a lone correct "
            "rollout gets Div 1.",
        )
        quality_shift: Literal["none", "group_min", "group_min_if_negative"] = Field(
            default="none",
            description="none: with combine multiply a negative reward so far is an error. "
            "group_min: DARLING's add_bias, applied once per sequence (its code adds -min at "
            "every token, which verl sums to q - T x min; docs/exploration.md): the term returns "
            "the amount to add so the reward becomes (q - group min q) x Div. "
            "group_min_if_negative: rewardkit's variant, not "
            "DARLING's: (q - min(0, group min q)) x Div, so groups with no negative reward keep "
            "q x Div. Both need combine: add.",
        )

    config: Config

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """A ``quality_shift`` returns an additive correction (``combine: add``) and replaces
        the coefficient (``coefficient`` stays 1); ``judge: answer`` needs answers."""
        problems = answer_judge_problems(entry, context)
        shift = entry.quality_shift
        if shift == "none":
            return problems
        if getattr(entry, "combine", cls.default_combine) != "add":
            problems.append(
                (
                    "combine",
                    f"quality_shift {shift!r} returns an additive correction, so it needs "
                    "`combine: add`",
                )
            )
        if entry.coefficient != 1:
            problems.append(
                (
                    "coefficient",
                    f"quality_shift {shift!r} makes the reward a shifted q x Div and has no "
                    f"coefficient; remove `coefficient` (got {entry.coefficient:g})",
                )
            )
        return problems

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._combine = getattr(self.config, "combine", self.default_combine)
        self.judge = build_judge(self.config)

    def __repr__(self) -> str:
        return f"SemanticDiversity(name={self.name!r}, judge={self.judge!r})"

    def close(self) -> None:
        """Stop the judge's backend (a Ray pool's actors)."""
        self.judge.close()

    def diversity(self, data: ShapingInput) -> list[float]:
        """Div per rollout (floored), before any combination with the reward."""
        batch = data.batch
        groups = [list(m) for m in batch.groups.values()]
        floor = self.config.floor
        div = [1.0] * len(batch)
        if self.config.partition != "all":
            correct = correct_flags(len(batch), data.results, self.config.answer_from)
            kept = []
            for members in groups:
                right = [i for i in members if correct[i]]
                for i in members:
                    if not correct[i]:
                        div[i] = floor
                if len(right) >= 2:
                    kept.append(right)
                elif right:
                    # DARLING's partition_correct: 0 or 1 correct rollouts give the whole group
                    # the floor. rewardkit's correct_lone_full gives the lone one Div 1.
                    div[right[0]] = floor if self.config.partition == "correct" else 1.0
            groups = kept
        # Judge only the rollouts being partitioned, renumbered 0..k-1: with `partition:
        # correct` the wrong ones are never embedded.
        used = sorted(i for m in groups for i in m)
        local = {i: k for k, i in enumerate(used)}
        answers = (
            answer_keys(batch, data.results, self.config.answer_from)
            if self.config.judge == "answer"
            else [None] * len(batch)
        )
        texts = [batch[i].completion_text for i in used]
        labels = self.judge.labels(
            texts, [answers[i] for i in used], [[local[i] for i in m] for m in groups]
        )
        for members in groups:
            for i, d in zip(
                members, diversity_from_labels([labels[local[i]] for i in members], floor)
            ):
                div[i] = d
        return div

    def shape(self, data: ShapingInput) -> list[float]:
        div = self.diversity(data)
        q = data.totals
        shift = self.config.quality_shift
        if shift != "none":
            out = [0.0] * len(div)
            for members in data.batch.groups.values():
                low = min(q[i] for i in members)
                if shift == "group_min_if_negative":
                    low = min(0.0, low)
                for i in members:
                    out[i] = (q[i] - low) * div[i] - q[i]
            return out
        if self._combine == "multiply":
            for members in data.batch.groups.values():
                low = min(q[i] for i in members)
                if low < 0:
                    raise BatchError(
                        f"shaping {self.name!r} multiplies the reward by Div, which needs "
                        f"rewards >= 0, but group of rollout {members[0]} has reward {low:g}; "
                        "make the rewards non-negative or set `quality_shift: group_min` (or "
                        "`group_min_if_negative`) with `combine: add`"
                    )
        c = self.config.coefficient
        return [c * d for d in div]
