"""Exact values of the simplest answer forms, so most verdicts need no sympy at all.

math-verify parses every new LaTeX string with an ANTLR grammar into sympy and may simplify:
5 to 500 ms per distinct answer on a busy core, most of a verifier's cost. Most answers in RL
math data, though, are integers, decimals, fractions, surds (``4\\sqrt{3}``), multiples of
``\\pi``, and sets, tuples or intervals of those. This module recognises exactly those forms in a
normalised answer (see :func:`~rewardkit.verifiers.normalize_answer`) and gives them a canonical
value with rational arithmetic, so two answers in these forms compare exactly in microseconds.

No library does this cheaply (sympy *is* the slow path), hence the small hand-written grammar.
Anything outside it returns ``None`` and goes to math-verify in a worker; so do unequal values
written with a decimal point, where math-verify's rounding rules decide.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Union

__all__ = ["ClosedForm", "closed_form", "format_closed_form"]

# A canonical number: (rational coefficient, squarefree radicand, power of pi).
Number = tuple[Fraction, int, int]
# ("num", Number) | ("inf", +1/-1) | ("set", frozenset) | ("seq", left, right, tuple)
ClosedForm = tuple[Union[str, int, Number, frozenset, tuple], ...]  # noqa: UP007

_MAX_CHARS = 200
_MAX_RADICAND = 10**12
_MAX_INT_DIGITS = 60

_DEC = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_INT = re.compile(r"\d+")


def _squarefree(n: int) -> tuple[int, int]:
    """(k, m) with n = k^2 * m and m squarefree; trial division, n <= 10^12."""
    k, m, p = 1, n, 2
    while p * p <= m:
        while m % (p * p) == 0:
            m //= p * p
            k *= p
        p += 1 if p == 2 else 2
    return k, m


class _Parser:
    """Recursive descent over ``[-] factor* | \\frac{expr}{expr} | expr/expr``; tiny on purpose."""

    __slots__ = ("pos", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0

    def peek(self, token: str) -> bool:
        return self.s.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.s.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def group(self) -> Number | None:
        """``{expr}`` or a single digit (LaTeX shorthand was already braced by normalisation)."""
        if not self.take("{"):
            return None
        value = self.expr()
        if value is None or not self.take("}"):
            return None
        return value

    def atom(self) -> Number | None:
        if self.take("\\frac") or self.take("\\dfrac") or self.take("\\tfrac"):
            num, den = self.group(), self.group()
            return None if num is None or den is None else _div(num, den)
        if self.take("\\sqrt"):
            if not self.take("{"):
                return None
            m = _INT.match(self.s, self.pos)
            if m is None or len(m.group()) > 13:
                return None
            self.pos = m.end()
            if not self.take("}"):
                return None
            n = int(m.group())
            if n > _MAX_RADICAND:
                return None
            k, r = _squarefree(n)
            return (Fraction(k), r, 0) if n else (Fraction(0), 1, 0)
        if self.take("\\pi"):
            return (Fraction(1), 1, 1)
        if self.peek("{"):
            return self.group()
        if self.take("("):
            value = self.expr()
            return value if value is not None and self.take(")") else None
        m = _DEC.match(self.s, self.pos)
        if m is None or len(m.group()) > _MAX_INT_DIGITS:
            return None
        self.pos = m.end()
        try:
            return (Fraction(Decimal(m.group())), 1, 0)
        except (InvalidOperation, ValueError):
            return None

    def term(self) -> Number | None:
        """A product of atoms, optionally with ``\\cdot`` / ``\\times`` between them."""
        value = self.atom()
        while value is not None and self.pos < len(self.s):
            explicit = self.take("\\cdot") or self.take("\\times")
            implicit = (
                self.peek("\\") or self.peek("{") or self.peek("(") or self.s[self.pos].isdigit()
            ) and not self.peek("\\infty")
            if not (explicit or implicit):
                break
            nxt = self.atom()
            if nxt is None:
                return None
            value = _mul(value, nxt)
        return value

    def expr(self) -> Number | None:
        negative = False
        while self.peek("-") or self.peek("+"):
            negative ^= self.s[self.pos] == "-"
            self.pos += 1
        value = self.term()
        if value is None:
            return None
        if self.take("/"):
            den = self.term()
            if den is None:
                return None
            value = _div(value, den)
        return (-value[0], value[1], value[2]) if negative else value


def _mul(a: Number, b: Number) -> Number | None:
    if a[1] == b[1]:
        coef, rad = a[0] * b[0] * a[1], 1
    else:
        k, rad = _squarefree(a[1] * b[1])
        coef = a[0] * b[0] * k
    power = a[2] + b[2]
    if power > 3:
        return None
    return (coef, rad, power) if coef else (Fraction(0), 1, 0)


def _div(a: Number, b: Number) -> Number | None:
    if b[0] == 0 or b[2] > a[2]:
        return None  # division by zero, or pi in a denominator: leave it to sympy
    # a / (c sqrt(r)) = a sqrt(r) / (c r)
    num = _mul(a, (Fraction(1), b[1], 0))
    if num is None:
        return None
    return (num[0] / (b[0] * b[1]), num[1], num[2] - b[2])


def _number(text: str) -> Number | None:
    p = _Parser(text)
    value = p.expr()
    return value if value is not None and p.pos == len(text) else None


def _element(text: str) -> tuple[str, object] | None:
    if text in ("\\infty", "+\\infty", "\\infty"):
        return ("inf", 1)
    if text == "-\\infty":
        return ("inf", -1)
    value = _number(text)
    return None if value is None else ("num", value)


def _split_top(text: str) -> list[str] | None:
    """Split at top-level commas; None when brackets do not balance."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
            if depth < 0:
                return None
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        return None
    parts.append(text[start:])
    return parts


@lru_cache(maxsize=1 << 14)
def closed_form(normalized: str) -> ClosedForm | None:
    """A canonical exact value of a normalised answer in the simple forms, else None.

    Numbers (``-\\frac{3\\sqrt{2}}{4}``, ``0.75``, ``2\\pi``), comma lists and ``\\{...\\}`` sets
    of numbers (unordered), and bracketed pairs or tuples (``(1,2]``, ``(-\\infty,3)``).
    """
    s = normalized
    if not s or len(s) > _MAX_CHARS:
        return None
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        parts = _split_top(inner)
        if parts is None:
            return None
        values = [_number(p) for p in parts]
        if any(v is None for v in values):
            return None
        return ("set", frozenset(values))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        parts = _split_top(s[1:-1])
        if parts is not None and len(parts) >= 2:
            elements = [_element(p) for p in parts]
            if any(e is None for e in elements):
                return None
            return ("seq", s[0], s[-1], tuple(elements))
    parts = _split_top(s)
    if parts is None:
        return None
    if len(parts) > 1:
        values = [_number(p) for p in parts]
        if any(v is None for v in values):
            return None
        return ("set", frozenset(values))
    value = _number(s)
    return None if value is None else ("num", value)


# --------------------------------------------------------------------------- canonical text


def _format_number(value: Number) -> str:
    """``value`` as sympy's ``str`` prints it: ``-3/4``, ``2*sqrt(3)``, ``sqrt(2)*pi/4``, ``pi**2``.

    The same text as the worker-side canonical form of a sympy value, so an answer that is a
    closed form here and one that only sympy understands (``2^{-1}``) can still share a key.
    """
    coef, radicand, power = value
    if coef == 0:
        return "0"
    factors = []
    if radicand != 1:
        factors.append(f"sqrt({radicand})")
    if power:
        factors.append("pi" if power == 1 else f"pi**{power}")
    num, den = abs(coef.numerator), coef.denominator
    head = "*".join(factors) if factors and num == 1 else "*".join([str(num), *factors])
    text = head if den == 1 else f"{head}/{den}"
    return "-" + text if coef < 0 else text


def _format_element(element: tuple[str, object]) -> str:
    if element[0] == "inf":
        return "oo" if element[1] == 1 else "-oo"
    return _format_number(element[1])  # type: ignore[arg-type]


def _sort_key(value: Number) -> tuple[float, str]:
    coef, radicand, power = value
    try:
        approx = float(coef) * radicand**0.5 * 3.141592653589793**power
    except OverflowError:
        approx = float("inf") if coef > 0 else float("-inf")
    return approx, _format_number(value)


def format_closed_form(value: ClosedForm) -> str:
    """The canonical text of a closed form: one string per value, whatever the spelling.

    Numbers as sympy prints them (``1/2`` for ``0.5``, ``\\frac{2}{4}``, ``.5``, ``\\frac12``),
    sets and comma lists as ``{3, 5}`` in increasing order, tuples and intervals as ``(1, 2]``
    with ``oo`` for infinity.
    """
    kind = value[0]
    if kind == "num":
        return _format_number(value[1])  # type: ignore[arg-type]
    if kind == "set":
        members = sorted(value[1], key=_sort_key)  # type: ignore[arg-type]
        return "{" + ", ".join(_format_number(m) for m in members) + "}"
    _, left, right, elements = value
    return f"{left}{', '.join(_format_element(e) for e in elements)}{right}"  # type: ignore[union-attr]
