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
from rewardkit_demo._task import (
    MALFORMED,
    OPENING_WORDS,
    OPERATORS,
    TargetTask,
    expression_format,
)

if TYPE_CHECKING:
    import torch

__all__ = ["ANSWER_ROLES", "METRICS", "ROLES", "PolicyMeasure", "SampledGroups"]

#: The role of a completion token, from the sampled token and the tokens before it -> what it is.
#: A token's entropy is the policy's entropy at the position where it was sampled, so a role's
#: entropy is how undecided the policy was at that kind of fork.
ROLES: dict[str, str] = {
    "opening": "opening words (`so`, `try`, ...): forks the verifier ignores, so they cannot "
    "change the answer",
    "first_operand": "the first number: the fork that picks the answer (`3` of `3 + 9`)",
    "operator": "operators, which pick the format (and whether a third term follows)",
    "later_operand": "the numbers after the first",
    "end": "the end-of-sequence token (stop after this term)",
    "other": "anything else (an opening word after a number, a stray token of a malformed text)",
}
#: The roles whose choice is part of the answer the verifier reads.
ANSWER_ROLES = ("first_operand", "operator", "later_operand", "end")

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
    "entropy/opening": "mean entropy at opening words, the forks that cannot change the answer "
    "(nats)",
    "entropy/first_operand": "mean entropy at the first number, the fork that picks the answer "
    "(nats)",
    "entropy/operator": "mean entropy at operators (nats)",
    "entropy/later_operand": "mean entropy at the numbers after the first (nats)",
    "entropy/end": "mean entropy at the end token (nats)",
    "entropy/other": "mean entropy at tokens of no other role (nats)",
    "entropy_answer": "mean entropy at the answer tokens: first operand, operators, later "
    "operands, end (nats)",
    "entropy_answer_top20": "mean entropy of the top 20% highest-entropy answer tokens, the "
    "forks that can change the answer (nats)",
    **{f"tokens/{role}": f"share of the completion tokens whose role is {role}" for role in ROLES},
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
        self.number_ids = frozenset(i for w, i in vocab.items() if w.isascii() and w.isdigit())
        self.operator_ids = frozenset(vocab[w] for w in OPERATORS if w in vocab)
        self.eos_id = getattr(tokenizer, "eos_token_id", None)
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

    def roles(self, token_ids: Sequence[int]) -> list[str]:
        """The role (a :data:`ROLES` key) of every token of one completion."""
        import torch

        names = list(ROLES)
        codes = self.role_codes(torch.tensor([list(token_ids)], dtype=torch.long))
        return [names[c] for c in codes[0].tolist()]

    def role_codes(self, token_ids: torch.Tensor) -> torch.Tensor:
        """B x T indices into :data:`ROLES` of the tokens of B completions (each row from its
        first token; padding after the end gets some role and must be masked by the caller).

        Opening words before anything else are ``opening``; the first other token is the
        ``first_operand`` when it is a number, else ``other``; after it, numbers are
        ``later_operand``, operators ``operator``, the end token ``end``, anything else ``other``.
        """
        import torch

        def member(ids: frozenset[int]) -> torch.Tensor:
            return torch.isin(token_ids, torch.tensor(sorted(ids), dtype=token_ids.dtype))

        names = list(ROLES)
        is_open, is_num, is_op = (
            member(self.opening_ids),
            member(self.number_ids),
            member(self.operator_ids),
        )
        is_end = token_ids == self.eos_id if self.eos_id is not None else torch.zeros_like(is_num)
        leading = torch.cumprod(is_open.long(), dim=1).bool()  # only opening words so far
        before = torch.ones_like(leading[:, :1])
        first = ~leading & torch.cat([before, leading[:, :-1]], dim=1)
        codes = torch.full(token_ids.shape, names.index("other"), dtype=torch.long)
        later = ~leading & ~first
        codes[later & is_num] = names.index("later_operand")
        codes[later & is_op] = names.index("operator")
        codes[later & is_end] = names.index("end")
        codes[first & is_num] = names.index("first_operand")
        codes[leading] = names.index("opening")
        return codes

    def _entropy_stats(self, groups: SampledGroups) -> dict[str, float]:
        """Mean token entropy, the mean over the top 20% highest-entropy tokens (the forking
        tokens rewardkit's ``entropy_top_ratio`` mask trains on), and, with token ids and a
        tokenizer, the mean entropy per token role (:data:`ROLES`), over the answer tokens and
        over the top 20% of the answer tokens."""
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
        if groups.token_ids is None or not self.opening_ids:
            return out
        opening = torch.isin(groups.token_ids, torch.tensor(sorted(self.opening_ids)))
        out["top20_opening_share"] = float((opening & top).sum() / top.sum())
        names = list(ROLES)
        codes = self.role_codes(groups.token_ids).masked_fill(~valid, -1)
        total = int(valid.sum())
        values = entropies.float()
        for i, role in enumerate(names):
            at = codes == i
            n = int(at.sum())
            out[f"tokens/{role}"] = n / total
            out[f"entropy/{role}"] = float(values[at].mean()) if n else math.nan
        answer = torch.isin(codes, torch.tensor([names.index(r) for r in ANSWER_ROLES]))
        if bool(answer.any()):
            out["entropy_answer"] = float(values[answer].mean())
            top_answer = entropy_mask(entropies, answer, ratio=0.2, select="topk", scope="batch")
            out["entropy_answer_top20"] = float(values[top_answer].mean())
        else:
            out["entropy_answer"] = out["entropy_answer_top20"] = math.nan
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
