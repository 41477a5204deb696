"""The demo's synthetic task: reach a target number with a short arithmetic expression.

``make 12 :`` has many right answers in several formats (``3 + 9``, ``3 * 4``, ``15 - 3``,
``2 + 4 + 6``), so a policy can keep many lanes open or collapse onto one. A completion opens
with a word (``so``, ``try``, ...) that the verifier drops, so it cannot change the answer. The
warm-up uses each word equally often, so the entropy at that slot (about ln 4) is set by the
task's design, not learnt: the demo reports it apart from the answer forks, as a control, never
as a finding about forking tokens.

The verifier is a few lines of pure Python, because no built-in verifier checks what the task
asks, "an expression of at least two numbers whose value is the target": ``math`` compares values
and so also accepts the bare target (``\\boxed{12}``, a copy of the prompt), and ``exact`` and
``numeric`` compare with one reference answer, while the task has dozens per target.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import Field

from rewardkit import ComponentConfig, RewardComponent, RewardResult, ScoringContext

__all__ = [
    "FORMATS",
    "MALFORMED",
    "OPENING_WORDS",
    "OPERATORS",
    "Expression",
    "ReachTargetReward",
    "TargetTask",
    "expression_format",
    "parse_expression",
]

#: The expression shapes the warm-up teaches, keyed by a readable name; any other well-formed
#: shape the policy invents is named by its operator pattern (``a - b + c``).
FORMATS: Mapping[str, str] = MappingProxyType(
    {"a + b": "sum", "a * b": "product", "a - b": "difference", "a + b + c": "three-term sum"}
)
MALFORMED = "malformed"
#: Words a completion may open with; the warm-up uses each equally often (a built-in fork
#: the reward ignores, see the module docstring).
OPENING_WORDS = ("so", "try", "well", "maybe")
#: The operators an expression may use.
OPERATORS = ("+", "-", "*")
_OPERATORS = OPERATORS
_MINUEND_MAX = 20  # differences in the warm-up data: 10..20 minus 1..9
_MAX_OPERAND = 999  # bounds the arithmetic; the tiny tokenizer knows far fewer numbers


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed completion: its tokens, its value and its shape (``a + b``)."""

    tokens: tuple[str, ...]
    value: int

    @property
    def text(self) -> str:
        """The canonical answer: the expression as written, single-spaced."""
        return " ".join(self.tokens)

    @property
    def shape(self) -> str:
        letters = iter("abcdefgh")
        return " ".join(t if t in _OPERATORS else next(letters) for t in self.tokens)


def parse_expression(text: str, *, max_terms: int = 3) -> Expression | None:
    """``"so 3 + 9"`` -> ``Expression(("3", "+", "9"), 12)``; ``None`` unless the text is 2 to
    ``max_terms`` whole numbers joined by ``+``, ``-`` or ``*``, after any opening words
    (letters only). A lone number is no expression: it would let the policy copy the target."""
    tokens = text.split()
    while tokens and tokens[0].isascii() and tokens[0].isalpha():
        tokens = tokens[1:]
    if len(tokens) < 3 or len(tokens) % 2 == 0 or len(tokens) > 2 * max_terms - 1:
        return None
    numbers: list[int] = []
    for tok in tokens[0::2]:
        if not tok.isascii() or not tok.isdigit() or int(tok) > _MAX_OPERAND:
            return None
        numbers.append(int(tok))
    ops = tokens[1::2]
    if any(op not in _OPERATORS for op in ops):
        return None
    # A sum of signed products: '*' binds tighter than '+' and '-'.
    total, product, sign = 0, numbers[0], 1
    for op, num in zip(ops, numbers[1:]):
        if op == "*":
            product *= num
        else:
            total += sign * product
            product, sign = num, (1 if op == "+" else -1)
    return Expression(tuple(tokens), total + sign * product)


def expression_format(text: str) -> str:
    """The answer format of a completion: ``sum``, ``product``, ``difference``,
    ``three-term sum``, another operator pattern, or ``malformed``."""
    expr = parse_expression(text)
    if expr is None:
        return MALFORMED
    return FORMATS.get(expr.shape, expr.shape)


@dataclass(frozen=True, slots=True)
class TargetTask:
    """Targets, prompts, the set of right answers per format, and the warm-up mixture.

    ``mixture`` weighs the formats in the warm-up data; a format with no solution for a target
    is skipped for it (primes have no product). Targets with no solution in any warm-up format
    (29 and 31: too big for three one-digit numbers, prime) never appear in the warm-up: the
    policy starts without a way to solve them, like the unsolved problems of a real benchmark.
    """

    targets: tuple[int, ...] = tuple(range(3, 33))
    mixture: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"a + b": 0.4, "a - b": 0.25, "a * b": 0.2, "a + b + c": 0.15}
        )
    )

    def __repr__(self) -> str:
        return f"TargetTask(targets={self.targets[0]}..{self.targets[-1]}, formats={list(self.mixture)})"

    @staticmethod
    def prompt(target: int) -> str:
        return f"make {target} :"

    @staticmethod
    def target_of(prompt: str) -> int | None:
        parts = prompt.split()
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None

    def vocabulary(self) -> list[str]:
        """Every word the tokenizer needs, special tokens excluded: the numbers 1..max target."""
        top = max(self.targets, default=1)
        numbers = (str(n) for n in range(1, max(top, _MINUEND_MAX) + 1))
        return ["make", ":", *OPENING_WORDS, *_OPERATORS, *numbers]

    @staticmethod
    def solutions(target: int) -> dict[str, list[str]]:
        """Every right answer per warm-up format (operands 1..9, minuends 10..20)."""
        digits = range(1, 10)
        out: dict[str, list[str]] = {shape: [] for shape in FORMATS}
        for a in digits:
            for b in digits:
                if a + b == target:
                    out["a + b"].append(f"{a} + {b}")
                if a >= 2 and b >= 2 and a * b == target:
                    out["a * b"].append(f"{a} * {b}")
                for c in digits:
                    if a + b + c == target:
                        out["a + b + c"].append(f"{a} + {b} + {c}")
        for a in range(10, _MINUEND_MAX + 1):
            for b in digits:
                if a - b == target:
                    out["a - b"].append(f"{a} - {b}")
        return out

    @property
    def warmup_targets(self) -> tuple[int, ...]:
        """The targets with at least one answer in a warm-up format."""
        return tuple(t for t in self.targets if any(self.solutions(t).get(s) for s in self.mixture))

    def sample_solution(self, target: int, rng: random.Random) -> str:
        """An opening word and a right answer drawn from the mixture, uniform within its
        format: ``"try 3 + 9"``."""
        sols = self.solutions(target)
        shapes = [s for s in self.mixture if sols.get(s)]
        shape = rng.choices(shapes, weights=[self.mixture[s] for s in shapes])[0]
        return f"{rng.choice(OPENING_WORDS)} {rng.choice(sols[shape])}"


class _ReachTargetConfig(ComponentConfig):
    max_terms: int = Field(
        default=3, ge=2, le=8, description="Most numbers an expression may have."
    )


class ReachTargetReward(RewardComponent):
    """Demo task: 1 when the completion is an arithmetic expression equal to the target.

    The reference is the target number. The canonical answer is the expression itself (opening
    words dropped), so ``3 + 9`` and ``9 + 3`` are different answers; text that is not an
    expression is ``no_answer``. Pure Python on a few tokens: it needs no worker process or deadline.
    """

    type: ClassVar[str] = "reach_target"
    provides_answers: ClassVar[bool] = True
    Config: ClassVar[type[ComponentConfig]] = _ReachTargetConfig
    requires_reference: ClassVar[bool] = True

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        return [self._score_one(r) for r in rollouts]

    def _score_one(self, rollout: Any) -> RewardResult:
        text = rollout.completion_text
        # Long junk is never an expression; checking the length first keeps scoring O(1).
        if len(text) > 64:
            return RewardResult.no_answer("not an arithmetic expression (too long)")
        reference = rollout.reference
        try:
            target = int(str(reference).strip())
        except ValueError:
            return RewardResult.error(f"reference {reference!r} is not a whole number")
        expr = parse_expression(text, max_terms=self.config.max_terms)  # type: ignore[attr-defined]
        if expr is None:
            return RewardResult.no_answer("not an arithmetic expression")
        if expr.value == target:
            return RewardResult.correct(answer=expr.text)
        return RewardResult.incorrect(answer=expr.text, reason=f"= {expr.value}")
