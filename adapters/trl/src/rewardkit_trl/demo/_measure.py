"""What the demo measures on a set of sampled groups, identically for every run.

Every run is measured with the same fixed rewardkit pipeline - the task's verifier plus rewardkit's
diagnostics - whatever its own config shapes, so a run that multiplies its reward by a diversity
factor is still compared on plain correctness.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rewardkit import Batch, RewardPipeline, Rollout
from rewardkit_trl.demo._task import MALFORMED, OPENING_WORDS, TargetTask, expression_format

if TYPE_CHECKING:
    import torch

__all__ = ["METRICS", "PolicyMeasure", "SampledGroups"]

#: Metric key -> what it means, in the order the report shows them.
METRICS: dict[str, str] = {
    "accuracy": "share of completions that reach the target (mean pass@1)",
    "distinct_solved": "distinct answers per group, groups with at least one correct answer "
    "(rewardkit's answer_diversity diagnostic; text that is no expression is no answer)",
    "distinct_unsolved": "distinct answers per group, groups with no correct answer",
    "dominant_format_share": "share of a group's completions in its most common format",
    "entropy_mean": "mean token entropy of the completions (nats)",
    "entropy_top20": "mean entropy of the top 20% highest-entropy tokens (nats)",
    "top20_opening_share": "share of the top-20% tokens that are opening words, forks that "
    "cannot change the answer",
}


@dataclass(frozen=True, slots=True)
class SampledGroups:
    """Completions sampled in groups: ``completions[i]`` were all sampled for ``targets[i]``.

    ``entropies``, ``valid`` and ``token_ids`` (B x T) are the per-token entropies of the
    completion tokens under the policy that sampled them, which tokens count, and the tokens,
    when known. Their rows need not follow the groups: only batch-wide statistics use them.
    """

    targets: Sequence[int]
    completions: Sequence[Sequence[str]]
    entropies: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    token_ids: torch.Tensor | None = None

    def __repr__(self) -> str:
        sizes = sorted({len(c) for c in self.completions})
        return f"SampledGroups({len(self.targets)} groups of {sizes})"

    def split(self, size: int) -> SampledGroups:
        """The same completions in groups of ``size`` (each group cut into consecutive parts),
        so that statistics per group compare with groups of that size elsewhere."""
        targets: list[int] = []
        completions: list[Sequence[str]] = []
        for target, comps in zip(self.targets, self.completions):
            for start in range(0, len(comps), size):
                targets.append(target)
                completions.append(comps[start : start + size])
        return SampledGroups(targets, completions, self.entropies, self.valid, self.token_ids)


class PolicyMeasure:
    """Measures sampled groups: correctness, answer diversity, format collapse, token entropy.

    ``tokenizer`` (optional) names the forking tokens: with it, the share of the top-20% tokens
    that are opening words is measured, and :meth:`forking_tokens` decodes the most frequent.
    """

    reward_name = "outcome"

    def __init__(self, pass_k: Sequence[int], tokenizer: Any = None) -> None:
        self.pass_k = tuple(sorted(set(pass_k)))
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab() if tokenizer is not None else {}
        self.opening_ids = frozenset(vocab[w] for w in OPENING_WORDS if w in vocab)
        self.pipeline = RewardPipeline(
            {
                "rewards": [{"name": self.reward_name, "type": "reach_target"}],
                "diagnostics": [
                    {
                        "name": "answers",
                        "type": "answer_diversity",
                        "answer_from": self.reward_name,
                    },
                    {
                        "name": "pass",
                        "type": "pass_at_k",
                        "answer_from": self.reward_name,
                        "k": list(self.pass_k),
                    },
                ],
            }
        )

    def close(self) -> None:
        self.pipeline.close()

    def __call__(self, groups: SampledGroups) -> dict[str, float]:
        rollouts = [
            Rollout(TargetTask.prompt(t), c, group=i, reference=str(t))
            for i, (t, comps) in enumerate(zip(groups.targets, groups.completions))
            for c in comps
        ]
        scored = self.pipeline.score(Batch(rollouts))
        m = scored.metrics
        out = {
            "accuracy": m[f"rewardkit/{self.reward_name}/frac_correct"],
            # The diagnostics leave a key out when no group qualifies (no unsolved group).
            "distinct_solved": m.get("rewardkit/answers/distinct_solved", math.nan),
            "distinct_unsolved": m.get("rewardkit/answers/distinct_unsolved", math.nan),
        }
        out.update({f"pass@{k}": m.get(f"rewardkit/pass/pass@{k}", math.nan) for k in self.pass_k})
        out.update(self._format_stats(groups))
        if groups.entropies is not None and groups.valid is not None:
            out.update(self._entropy_stats(groups))
        return out

    def forking_tokens(self, groups: SampledGroups, top: int = 6) -> list[tuple[str, float]]:
        """The most frequent top-20% tokens, decoded, with their share of the top-20% tokens."""
        from rewardkit.masks import decode_token_counts, entropy_mask, token_entropy_stats

        if groups.entropies is None or groups.valid is None or groups.token_ids is None:
            return []
        valid = groups.valid.bool()
        if not bool(valid.any()) or self.tokenizer is None:
            return []
        kept = entropy_mask(groups.entropies, valid, ratio=0.2, select="topk", scope="batch")
        stats = token_entropy_stats(
            groups.entropies, valid, kept_mask=kept, token_ids=groups.token_ids
        )
        pairs = decode_token_counts(stats.kept_token_counts[:top], self.tokenizer)
        return [(text, count / stats.num_kept) for text, count in pairs]

    def _entropy_stats(self, groups: SampledGroups) -> dict[str, float]:
        """Mean token entropy, the mean over the top 20% highest-entropy tokens (the forking
        tokens rewardkit's ``entropy_top_ratio`` mask trains on), and how many of those are
        opening words."""
        import torch

        from rewardkit.masks import entropy_mask

        entropies, valid = groups.entropies, groups.valid
        assert entropies is not None and valid is not None
        valid = valid.bool()
        if not bool(valid.any()):
            return {"entropy_mean": math.nan, "entropy_top20": math.nan}
        top = entropy_mask(entropies, valid, ratio=0.2, select="topk", scope="batch")
        out = {
            "entropy_mean": float(entropies[valid].mean()),
            "entropy_top20": float(entropies[top].mean()),
        }
        if groups.token_ids is not None and self.opening_ids:
            opening = torch.isin(groups.token_ids, torch.tensor(sorted(self.opening_ids)))
            out["top20_opening_share"] = float((opening & top).sum() / top.sum())
        return out

    @staticmethod
    def _format_stats(groups: SampledGroups) -> dict[str, float]:
        shares, formats = [], Counter()
        for comps in groups.completions:
            counts = Counter(expression_format(c) for c in comps)
            formats.update(counts)
            well_formed = {k: v for k, v in counts.items() if k != MALFORMED}
            shares.append(max(well_formed.values(), default=0) / len(comps))
        total = sum(formats.values())
        out = {"dominant_format_share": _mean(shares)}
        out.update({f"format/{name}": n / total for name, n in formats.items()})
        return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
