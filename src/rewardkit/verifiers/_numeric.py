"""The ``numeric`` verifier (GSM8K style) and exact number parsing shared with ``math``.

Numbers are compared as :class:`decimal.Decimal` / :class:`fractions.Fraction`, never floats, so
``0.1 + 0.2``-style rounding cannot turn a wrong answer right, and never through sympy, so a
huge exponent cannot hang the trainer: ``Decimal('1e999999999')`` is a few bytes.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._rollout import RewardResult, Rollout
from rewardkit.verifiers._closed_form import closed_form
from rewardkit.verifiers._extract import (
    completion_tail,
    extract_answer,
    normalize_answer,
    reference_answer,
)
from rewardkit.verifiers._scores import VerdictScoresConfig

__all__ = ["NumericVerifier", "exact_value", "parse_decimal"]

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?")
_INT_OR_DEC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_FRAC = re.compile(r"([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}")
_SLASH = re.compile(r"([+-]?\d+)/([+-]?\d+)")
_NUMBER_TOKEN = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d{1,6})?")
_WORDS_ONLY = re.compile(r"[A-Za-z\s.,:;!?$%()'\"-]*")
_THOUSANDS_GROUPS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# Python refuses int(str) past 4300 digits; no answer is that long.
_MAX_DIGITS = 1000
# Exponents up to 1e±999999 must not overflow when subtracted; 60 digits is plenty of precision.
_WIDE = decimal.Context(prec=60, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def parse_decimal(text: str) -> Decimal | None:
    """A plain number (``-12``, ``3.50``, ``1e-3``, ``1,234``) as an exact Decimal, else None."""
    s = text.strip()
    if _THOUSANDS_GROUPS.match(s):
        s = s.replace(",", "")
    if len(s) > _MAX_DIGITS or not _DECIMAL.fullmatch(s):
        return None
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def exact_value(normalized: str) -> Fraction | None:
    """The exact rational value of a normalised answer that is a plain integer, decimal (no
    exponent) or simple fraction (``\\frac{3}{4}``, ``-3/4``); None for anything else."""
    s = normalized
    if len(s) > _MAX_DIGITS:
        return None
    try:
        if _INT_OR_DEC.fullmatch(s):
            return Fraction(Decimal(s))
        m = _FRAC.fullmatch(s)
        if m:
            num, den = int(m.group(2)), int(m.group(3))
            if den == 0:
                return None
            value = Fraction(num, den)
            return -value if m.group(1) == "-" else value
        m = _SLASH.fullmatch(s)
        if m:
            num, den = int(m.group(1)), int(m.group(2))
            return None if den == 0 else Fraction(num, den)
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return None


def _rational_closed_form(normalized: str) -> Fraction | None:
    """The value of a rational closed form the ``math`` verifier reads too: a mixed number
    (``2\\frac{1}{4}``), ``-{5}``, ``1.5\\times 10^{3}``, ``2^{-1}``; None for anything else
    (surds, pi, lists)."""
    value = closed_form(normalized)
    if value is None or value[0] != "num":
        return None
    coef, radicand, power = value[1]  # type: ignore[misc]
    return coef if radicand == 1 and power == 0 else None


def _number_in(answer: str, *, words_around: bool = True) -> Decimal | None:
    """The number an extracted answer states, or None when it is not (only) a number.

    The whole normalised answer (``1,234``, ``1{,}234``, ``1\\,234``, ``\\frac{3}{4}``, ``$5``,
    a mixed number ``2\\frac{1}{4}`` read as the ``math`` verifier reads it), else its one
    number token followed by words only (``42 apples``). ``2\\sqrt{3}`` or ``\\pi/2`` are not
    numbers: taking their last digit would score a wrong answer as right.
    """
    norm = normalize_answer(answer)
    value = parse_decimal(norm)
    if value is not None:
        return value
    frac = exact_value(norm)
    if frac is None:
        frac = _rational_closed_form(norm)
    if frac is not None:
        with decimal.localcontext(_WIDE):
            return Decimal(frac.numerator) / Decimal(frac.denominator)
    tokens = list(_NUMBER_TOKEN.finditer(answer[-256:]))
    if not words_around or len(tokens) != 1:
        return None
    rest = answer[-256:][: tokens[0].start()] + answer[-256:][tokens[0].end() :]
    if not _WORDS_ONLY.fullmatch(rest):
        return None
    return parse_decimal(tokens[0].group(0))


def _canonical(value: Decimal) -> str:
    """``42``, ``-3.5``, ``0.001``: one spelling per number (no exponent, no trailing zeros)."""
    if value.is_zero():
        return "0"
    if abs(value.adjusted()) > 64:  # 1e-999999 would print a million zeros
        return f"{value.normalize():E}"
    with decimal.localcontext(_WIDE):
        if value == value.to_integral_value():
            if abs(value) < Decimal("1e30"):
                return str(value.quantize(Decimal(1)))
            return f"{value.normalize():E}"
        text = format(value.normalize(), "f")
        return text if len(text) <= 64 else f"{value.normalize():E}"


class NumericConfig(VerdictScoresConfig):
    answer_sources: list[Literal["hashes", "boxed", "answer_is", "last_number"]] = Field(
        default_factory=lambda: ["hashes", "boxed", "answer_is", "last_number"],
        min_length=1,
        description="Where to find the final answer, in order: '#### n' (GSM8K), the last "
        "\\boxed{}, a final 'the answer is ...' statement, the last number of the last line.",
    )
    rel_tol: float = Field(
        default=0.0, ge=0, le=1, description="Relative tolerance: |a-b| <= rel_tol * max(|a|,|b|)."
    )
    abs_tol: float = Field(default=0.0, ge=0, description="Absolute tolerance: |a-b| <= abs_tol.")


class NumericVerifier(RewardComponent):
    """Number answers (GSM8K '#### 42', boxed, last number) compared exactly or within a tolerance."""

    type: ClassVar[str] = "numeric"
    Config: ClassVar[type[ComponentConfig]] = NumericConfig
    requires_reference: ClassVar[bool] = True
    provides_answers: ClassVar[bool] = True
    config: NumericConfig

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        # Pure Python on short strings, with no way to hang: no worker round-trip needed.
        max_chars = context.engine.config.max_input_chars
        return [self._one(r, max_chars) for r in rollouts]

    def _one(self, rollout: Any, max_chars: int) -> RewardResult:
        cfg = self.config
        try:
            gold_text = reference_answer(rollout.reference)
            gold = None if gold_text is None else _number_in(gold_text, words_around=False)
            if gold is None:
                return RewardResult.error(
                    "missing reference"
                    if gold_text is None
                    else f"reference {gold_text[:60]!r} is not a number"
                )
            raw = extract_answer(completion_tail(rollout.completion, max_chars), cfg.answer_sources)
            if raw is None:
                return RewardResult.no_answer("no number found", score=cfg.no_answer_score)
            pred = _number_in(raw)
            if pred is None:
                return RewardResult.no_answer(
                    f"answer {raw[:40]!r} is not a number", score=cfg.no_answer_score
                )
            answer = _canonical(pred)
            with decimal.localcontext(_WIDE):
                diff = abs(pred - gold)
                scale = max(abs(pred), abs(gold))
                allowed = max(Decimal(repr(cfg.abs_tol)), Decimal(repr(cfg.rel_tol)) * scale)
            if diff <= allowed:
                return RewardResult.correct(cfg.correct_score, answer=answer)
            return RewardResult.incorrect(cfg.incorrect_score, answer=answer)
        except Exception as exc:  # never raise into the trainer for one odd rollout
            return RewardResult.error(f"{type(exc).__name__}: {exc}"[:300])
