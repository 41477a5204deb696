"""``pass_at_k_objective``: train for pass@k instead of pass@1 (arXiv 2508.10751, 2505.15201)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import (
    ComponentConfig,
    EntryCheckContext,
    ShapingInput,
    ShapingTerm,
    require_combine,
)
from rewardkit._errors import BatchError
from rewardkit.judges import answer_from_field, correct_flags

__all__ = ["PassAtKObjective", "pass_at_k_advantages", "pkpo_rewards"]


def _comb(n: int, k: int) -> int:
    """C(n, k), 0 outside 0 <= k <= n (as scipy's ``comb`` the reference calls)."""
    return math.comb(n, k) if 0 <= k <= n else 0


def pass_at_k_advantages(correct: Sequence[bool], k: int, epsilon: float = 0.0) -> list[float]:
    """Chen et al.'s analytic pass@k advantages for one group (arXiv 2508.10751).

    With N rollouts, N_neg of them incorrect: ``R = 1 - C(N_neg, k)/C(N, k)`` (the group's
    unbiased pass@k), ``sigma = sqrt(R (1 - R))``, a correct rollout gets ``(1 - R)/sigma`` and
    an incorrect one ``(1 - R - C(N_neg - 1, k - 1)/C(N - 1, k - 1))/sigma``; when sigma = 0
    (nothing or, for this k, everything solved) every rollout gets 0. ``epsilon`` is added to
    sigma; the reference code (RUCAIBox/Passk_Training ``code/passk_adv.py``) uses 1e-6.
    The values sum to 0 within the group (for epsilon 0, up to rounding).
    """
    n = len(correct)
    if not 1 <= k <= n:
        raise BatchError(
            f"pass_at_k_objective: k={k} needs groups of at least k rollouts, got a group of {n}; "
            "set k <= the group size (num_generations / rollout.n)"
        )
    n_neg = n - sum(bool(c) for c in correct)
    # Exact rationals up to the square root, so the hand-computable cases are exact floats.
    rbar = 1 - Fraction(_comb(n_neg, k), _comb(n, k))
    if rbar in (0, 1):
        return [0.0] * n
    sigma = math.sqrt(rbar * (1 - rbar)) + epsilon
    pos = float(1 - rbar) / sigma
    neg = float(1 - rbar - Fraction(_comb(n_neg - 1, k - 1), _comb(n - 1, k - 1))) / sigma
    return [pos if c else neg for c in correct]


def pkpo_rewards(correct: Sequence[bool], k: int) -> list[float]:
    """PKPO's unbiased pass@k gradient rewards for binary rewards (arXiv 2505.15201).

    With c correct among n: a correct rollout gets ``k/n``, an incorrect one
    ``(k/n) * rho(n - 1, c, k - 1)`` with ``rho(n, c, k) = 1 - C(n - c, k)/C(n, k)``; that is,
    each rollout's share of the pass@k of the C(n, k) subsets of size k, averaged over the
    subsets that contain it and scaled by k/n. No baseline is subtracted.
    """
    n = len(correct)
    if not 1 <= k <= n:
        raise BatchError(
            f"pass_at_k_objective: k={k} needs groups of at least k rollouts, got a group of {n}; "
            "set k <= the group size (num_generations / rollout.n)"
        )
    c = sum(bool(x) for x in correct)
    share = Fraction(k, n)
    rho = 1 - Fraction(_comb(n - 1 - c, k - 1), _comb(n - 1, k - 1))
    return [float(share) if x else float(share * rho) for x in correct]


class PassAtKObjective(ShapingTerm):
    """Train for pass@k: each rollout's total becomes its analytic pass@k advantage (Chen et al.).

    Correctness is binary: ``answer_from``'s outcome, else every reward's. With the default
    ``replace: true`` the term's value is the advantage minus the reward so far, so the total
    after it is the advantage itself; put it last. A trainer whose advantage is the group-
    centred reward without std scaling then trains on exactly these advantages (TRL
    ``scale_rewards="none"``, verl ``norm_adv_by_std_in_grpo=False``; docs/exploration.md).
    ``estimator: pkpo`` gives PKPO's unbiased rewards instead.
    """

    type: ClassVar[str] = "pass_at_k_objective"

    class Config(ComponentConfig):
        k: int = Field(
            ge=1,
            le=1_000_000,
            description="The k of pass@k to optimise; every group needs at least k rollouts "
            "(k = 1 gives (r - mean)/std for 0/1 rewards with the population std: GRPO's "
            "advantages times sqrt(N/(N-1)), since TRL and verl divide by the sample std).",
        )
        answer_from: str | None = answer_from_field()
        estimator: Literal["analytic", "pkpo"] = Field(
            default="analytic",
            description="analytic: Chen et al.'s advantages (arXiv 2508.10751; (1-R)/sigma for a "
            "correct rollout, (1-R-C(N_neg-1,k-1)/C(N-1,k-1))/sigma for an incorrect one, with "
            "R = 1-C(N_neg,k)/C(N,k)); pkpo: PKPO's unbiased rewards (arXiv 2505.15201; k/n "
            "for a correct rollout, (k/n)*rho(n-1,c,k-1) for an incorrect one), no baseline.",
        )
        epsilon: float = Field(
            default=0.0,
            ge=0,
            le=1,
            description="Added to sigma in the analytic advantages. 0 (default) gives the exact "
            "formula; the reference code (RUCAIBox/Passk_Training passk_adv.py) adds 1e-6, so "
            "set 1e-6 to reproduce its numbers. Unused by pkpo.",
        )
        replace: bool = Field(
            default=True,
            description="true: the term's value is the target minus the reward so far, so the "
            "total after it equals the advantage (or PKPO reward); false: the target is added "
            "to the reward so far.",
        )

    config: Config

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """The term sets the total through an additive correction: ``combine: add``."""
        return require_combine(
            entry,
            "add",
            "pass_at_k_objective sets the total, so it needs combine: add (remove "
            "combine: multiply)",
        )

    def shape(self, data: ShapingInput) -> list[float]:
        cfg = self.config
        batch = data.batch
        correct = correct_flags(len(batch), data.results, cfg.answer_from)
        out = [0.0] * len(batch)
        for members in batch.groups.values():
            flags = [correct[i] for i in members]
            if cfg.estimator == "pkpo":
                target = pkpo_rewards(flags, cfg.k)
            else:
                target = pass_at_k_advantages(flags, cfg.k, cfg.epsilon)
            for i, t in zip(members, target):
                out[i] = t - data.totals[i] if cfg.replace else t
        return out
