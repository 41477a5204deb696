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

The grammar reads what math-verify reads (its LaTeX parser, latex2sympy2_extended): an integer
right before a positive fraction is a mixed number (``2\\frac{1}{4}`` is 9/4, ``-2\\frac14`` is
-9/4), an explicit ``\\cdot`` or ``\\times`` is a product (``2\\cdot\\frac14`` is 1/2). Where
its reading is less clear (``2\\sqrt{4}``, ``2\\frac{1}{4}\\frac12``) the form is not closed.

Work is bounded, since this runs in the trainer's process on every answer: at most 200
characters, 60-digit literals, radicands up to 10^12 (factored by trial division up to 10^4 and
one square test), exponents up to 64 with results up to 256 bits, powers of pi up to 3.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from math import gcd, isqrt
from typing import Union

from rewardkit._errors import ArgumentError

__all__ = ["ClosedForm", "closed_form", "format_closed_form"]

# A canonical number: (rational coefficient, squarefree radicand, power of pi).
Number = tuple[Fraction, int, int]
# ("num", Number) | ("inf", +1/-1) | ("set", frozenset) | ("seq", left, right, tuple)
ClosedForm = tuple[Union[str, int, Number, frozenset, tuple], ...]  # noqa: UP007

_MAX_CHARS = 200
_MAX_RADICAND = 10**12
_MAX_INT_DIGITS = 60
_MAX_EXPONENT = 64
_MAX_POWER_BITS = 256
_TRIAL_LIMIT = 10**4  # _TRIAL_LIMIT ** 3 >= _MAX_RADICAND: see _squarefree

_DEC = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_INT = re.compile(r"\d+")
_SIGNED_INT = re.compile(r"[+-]?\d+")


def _squarefree(n: int) -> tuple[int, int]:
    """(k, m) with n = k^2 * m and m squarefree, for 0 < n <= 10^12; at most 5000 divisions.

    Trial division by 2 and odd numbers up to 10^4; what is left has no factor below 10^4 and is
    at most 10^12, so it is 1, a prime, a product of two distinct primes, or a prime squared:
    one integer square root tells which.
    """
    if not 0 < n <= _MAX_RADICAND:
        raise ArgumentError("radicand outside the closed-form range")
    k, free, m, p = 1, 1, n, 2
    while p <= _TRIAL_LIMIT and p * p <= m:
        if m % p == 0:
            e = 0
            while m % p == 0:
                m //= p
                e += 1
            k *= p ** (e // 2)
            if e % 2:
                free *= p
        p += 1 if p == 2 else 2
    if m > 1:
        r = isqrt(m)
        if r * r == m:
            k *= r
        else:
            free *= m
    return k, free


# What an atom is, for math-verify's mixed-number rule: an integer literal (``2``, ``{2}``,
# ``(-2)``), a fraction of two integer literals, a decimal literal (a float to sympy), or other.
_INT_KIND, _FRAC_KIND, _DEC_KIND, _OTHER_KIND = "int", "frac", "dec", "other"
_MAX_DEPTH = 16

Atom = tuple[Number, str]


def _is_rational(value: Number) -> bool:
    return value[1] == 1 and value[2] == 0


def _is_integer(value: Number) -> bool:
    return _is_rational(value) and value[0].denominator == 1


def _power(base: Number, exponent: int) -> Number | None:
    """``base ** exponent`` for a rational base, when the result stays small."""
    if not _is_rational(base) or abs(exponent) > _MAX_EXPONENT:
        return None
    b = base[0]
    if b == 0 and exponent < 0:
        return None
    bits = max(b.numerator.bit_length(), b.denominator.bit_length()) * abs(exponent)
    if bits > _MAX_POWER_BITS:
        return None
    return (b**exponent, 1, 0)


class _Parser:
    """Recursive descent over a tiny grammar, read the way math-verify's LaTeX parser reads it.

    ``expr := sign* chain ((\\cdot | \\times | /) chain)*`` (left to right), ``chain := atom+``
    (implicit products, right to left, with the mixed-number rule), ``atom := number | \\pi |
    \\sqrt{int} | \\frac{expr}{expr} | {expr} | (expr)``, each optionally ``^{int}``.
    """

    __slots__ = ("depth", "pos", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0
        self.depth = 0

    def peek(self, token: str) -> bool:
        return self.s.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.s.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def group(self, close: str = "}") -> Atom | None:
        """``{expr}`` (LaTeX shorthand was already braced by normalisation)."""
        got = self.expr()
        if got is None or not self.take(close):
            return None
        return got

    def exponent(self) -> int | None:
        if self.take("{"):
            m = _SIGNED_INT.match(self.s, self.pos)
            if m is None or len(m.group()) > 4:
                return None
            self.pos = m.end()
            return int(m.group()) if self.take("}") else None
        if self.pos < len(self.s) and self.s[self.pos].isdigit():
            self.pos += 1
            return int(self.s[self.pos - 1])
        return None

    def atom(self) -> Atom | None:
        got = self.base()
        if got is None or not self.take("^"):
            return got
        exponent = self.exponent()
        if exponent is None:
            return None
        value = _power(got[0], exponent)
        return None if value is None else (value, _OTHER_KIND)

    def base(self) -> Atom | None:
        if self.take("\\frac") or self.take("\\dfrac") or self.take("\\tfrac"):
            if not self.take("{"):
                return None
            num = self.group()
            if num is None or not self.take("{"):
                return None
            den = self.group()
            if den is None:
                return None
            value = _div(num[0], den[0])
            if value is None:
                return None
            simple = num[1] == _INT_KIND and den[1] == _INT_KIND
            return value, _FRAC_KIND if simple else _OTHER_KIND
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
            if n == 0:
                return (Fraction(0), 1, 0), _OTHER_KIND
            k, r = _squarefree(n)
            return (Fraction(k), r, 0), _OTHER_KIND
        if self.take("\\pi"):
            return (Fraction(1), 1, 1), _OTHER_KIND
        if self.take("{"):
            return self.group("}")
        if self.take("("):
            return self.group(")")
        m = _DEC.match(self.s, self.pos)
        if m is None or len(m.group()) > _MAX_INT_DIGITS:
            return None
        self.pos = m.end()
        try:
            value = (Fraction(Decimal(m.group())), 1, 0)
        except (InvalidOperation, ValueError):
            return None
        return value, _DEC_KIND if "." in m.group() else _INT_KIND

    def _starts_atom(self) -> bool:
        if self.pos >= len(self.s) or self.peek("\\cdot") or self.peek("\\times"):
            return False
        if self.peek("\\infty"):
            return False
        c = self.s[self.pos]
        return c in "\\{(." or c.isdigit()

    def chain(self) -> Atom | None:
        """Implicit products, combined right to left as math-verify does.

        An integer literal followed by a fraction of integer literals is a mixed number
        (``2\\frac{1}{4}`` = 9/4). math-verify's rule is wider (any integer before any positive
        rational: it reads ``2(3)`` as 5), so any other integer-valued factor before a positive
        rational is left to it.
        """
        atoms: list[Atom] = []
        while True:
            got = self.atom()
            if got is None:
                return None
            atoms.append(got)
            if not self._starts_atom():
                break
        value, kind = atoms[-1]
        for i in range(len(atoms) - 2, -1, -1):
            left, left_kind = atoms[i]
            single = i == len(atoms) - 2
            if (
                _is_integer(left)
                and _is_rational(value)
                and value[0] > 0
                and left_kind != _DEC_KIND
            ):
                if not (left_kind == _INT_KIND and single and kind == _FRAC_KIND):
                    return None  # math-verify's reading is unclear to this grammar
                whole = left[0]
                value = (whole + value[0] if whole >= 0 else whole - value[0], 1, 0)
            else:
                got_value = _mul(left, value)
                if got_value is None:
                    return None
                value = got_value
            kind = _OTHER_KIND
        return value, kind

    def expr(self) -> Atom | None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            return None
        negative = False
        while self.peek("-") or self.peek("+"):
            negative ^= self.s[self.pos] == "-"
            self.pos += 1
        got = self.chain()
        if got is None:
            return None
        value, kind = got
        while True:
            if self.take("\\cdot") or self.take("\\times"):
                nxt = self.chain()
                combined = None if nxt is None else _mul(value, nxt[0])
            elif self.take("/"):
                nxt = self.chain()
                combined = None if nxt is None else _div(value, nxt[0])
            else:
                break
            if combined is None:
                return None
            value, kind = combined, _OTHER_KIND
        self.depth -= 1
        if negative:
            return (-value[0], value[1], value[2]), kind if kind == _INT_KIND else _OTHER_KIND
        return value, kind


def _mul(a: Number, b: Number) -> Number | None:
    # Both radicands are squarefree: a*b = g^2 * (a/g) * (b/g) with g = gcd(a, b), and the
    # cofactors are coprime and squarefree. No factoring needed.
    g = gcd(a[1], b[1])
    coef = a[0] * b[0] * g
    rad = (a[1] // g) * (b[1] // g)
    power = a[2] + b[2]
    if power > 3 or rad > _MAX_RADICAND:
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
    got = p.expr()
    return got[0] if got is not None and p.pos == len(text) else None


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


_MATRIX_ENVS = ("pmatrix", "bmatrix")


def _matrix(body: str) -> ClosedForm | None:
    """A vector or matrix of numbers (``pmatrix`` and ``bmatrix`` alike, as math-verify reads
    them): ``("mat", rows)``; None for ragged or non-numeric ones."""
    rows = []
    for row in body.split("\\\\"):
        cells = [_number(c) for c in row.split("&")]
        if any(c is None for c in cells):
            return None
        rows.append(tuple(cells))
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    return ("mat", tuple(rows))  # type: ignore[arg-type]


@lru_cache(maxsize=1 << 14)
def closed_form(normalized: str) -> ClosedForm | None:
    """A canonical exact value of a normalised answer in the simple forms, else None.

    Numbers (``-\\frac{3\\sqrt{2}}{4}``, ``0.75``, ``2\\pi``), comma lists and ``\\{...\\}`` sets
    of numbers (unordered), and bracketed pairs or tuples (``(1,2]``, ``(-\\infty,3)``).
    """
    s = normalized
    if not s or len(s) > _MAX_CHARS:
        return None
    for env in _MATRIX_ENVS:
        head, tail = f"\\begin{{{env}}}", f"\\end{{{env}}}"
        if s.startswith(head) and s.endswith(tail):
            return _matrix(s[len(head) : -len(tail)])
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
            left, right = s[0], s[-1]
            if len(elements) == 2:  # an interval never contains an infinite end: (1, oo] = (1, oo)
                left = "(" if elements[0] == ("inf", -1) else left
                right = ")" if elements[1] == ("inf", 1) else right
            return ("seq", left, right, tuple(elements))
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
    if kind == "mat":  # as sympy prints a Matrix: the worker's key for other matrices
        rows = ", ".join("[" + ", ".join(map(_format_number, r)) + "]" for r in value[1])  # type: ignore[union-attr]
        return f"Matrix([{rows}])"
    if kind == "set":
        members = sorted(value[1], key=_sort_key)  # type: ignore[arg-type]
        if len(members) == 1:  # math-verify calls {5} (or 5, 5) and 5 equal: one key
            return _format_number(members[0])
        return "{" + ", ".join(_format_number(m) for m in members) + "}"
    _, left, right, elements = value
    return f"{left}{', '.join(_format_element(e) for e in elements)}{right}"  # type: ignore[union-attr]
