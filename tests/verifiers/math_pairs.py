"""(reference, answer) pairs in every answer form the ``math`` verifier's fast path touches.

The differential oracle for the ``math`` verifier (issue 11): for each pair, rewardkit's verdict
is compared with math-verify's own verdict on the same completion (gold wrapped in ``$...$``,
``verify(parse(gold), parse(completion))``, generous timeouts, in the caller's process). Used by
``tests/verifiers/test_math_differential.py`` (Hypothesis draws the choices) and by
``benchmarks/math_differential.py`` (a fixed-seed ``random.Random`` corpus).

Every form comes in equal and unequal variants and several spellings and spacings. A
generator only needs ``choice(seq)`` and ``randint(a, b)`` from its source of randomness, so the
same code runs under ``random.Random`` and under Hypothesis (:class:`HypothesisSource`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

__all__ = [
    "FORMS",
    "SPELLINGS",
    "SPELLING_FORMS",
    "SPELLING_SOURCES",
    "HypothesisSource",
    "Pair",
    "completion_of",
    "explain_spelling",
    "make_pair",
    "math_verify_verdict",
]


class Source(Protocol):
    def choice(self, seq: Sequence[T]) -> T: ...
    def randint(self, a: int, b: int) -> int: ...


class HypothesisSource:
    """``choice``/``randint`` drawn from a Hypothesis ``data`` object (so failures shrink)."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._data = data
        self._st = st

    def choice(self, seq: Sequence[T]) -> T:
        return self._data.draw(self._st.sampled_from(list(seq)))

    def randint(self, a: int, b: int) -> int:
        return self._data.draw(self._st.integers(a, b))


@dataclass(frozen=True)
class Pair:
    form: str
    gold: str  # as a dataset stores it (bare LaTeX)
    pred: str  # the model's boxed answer


# --------------------------------------------------------------------------- spelling helpers


def _sp(src: Source) -> str:
    """A spacing: nothing, a space, or two."""
    return src.choice(["", "", " ", "  "])


def _int_text(n: int, src: Source) -> str:
    if n < 0:
        return src.choice(["-", "-", "- "]) + _int_text(-n, src)
    return src.choice([str(n), str(n), str(n), "{" + str(n) + "}"])


def _frac_text(num: int, den: int, src: Source) -> str:
    """num/den (den > 0) in one of the usual spellings."""
    sign = "-" if num < 0 else ""
    a = abs(num)
    cmd = src.choice(["\\frac", "\\frac", "\\dfrac", "\\tfrac"])
    short_ok = a < 10 and den < 10
    style = src.choice(["braced", "braced", "slash", "short", "neg_inside", "spaced"])
    if style == "slash":
        return f"{sign}{a}/{den}" if src.choice([0, 1]) else f"{sign}{{{a}}}/{{{den}}}"
    if style == "short" and short_ok:
        return f"{sign}{cmd}{a}{den}" if src.choice([0, 1]) else f"{sign}{cmd} {a}{{{den}}}"
    if style == "neg_inside" and sign:
        return f"{cmd}{{-{a}}}{{{den}}}"
    if style == "spaced":
        return f"{sign}{cmd}{{ {a} }}{{ {den} }}"
    return f"{sign}{cmd}{{{a}}}{{{den}}}"


def _group_digits(n: int, src: Source) -> str:
    sep = src.choice([",", "{,}", "\\,", "\u2009", " ", "\\ ", "\\!"])
    digits = str(n)
    groups = []
    while digits:
        groups.append(digits[-3:])
        digits = digits[:-3]
    return sep.join(reversed(groups))


def _perturb(n: int, src: Source) -> int:
    return n + src.choice([1, -1, 2, 10, -3, 100])


# --------------------------------------------------------------------------- forms


def _integer(src: Source, equal: bool) -> tuple[str, str]:
    n = src.randint(-50, 500)
    m = n if equal else _perturb(n, src)
    pred = src.choice(
        [
            _int_text(m, src),
            f"{m}.0",
            f"{m}.00",
            f"+{m}" if m >= 0 else str(m),
            f"\\mathbf{{{m}}}",
            f"\\text{{{m}}}",
            f" {m} ",
            f"{{{{{m}}}}}",
        ]
    )
    return str(n), pred


def _sign(src: Source, equal: bool) -> tuple[str, str]:
    n = src.randint(1, 99)
    gold = src.choice([f"-{n}", f"-{{{n}}}", f"- {n}"])
    m = n if equal else src.choice([-n, n + 1])
    if m < 0:  # an unequal variant: the opposite sign
        return gold, src.choice([str(-m), f"+{-m}", f"{{{-m}}}"])
    pred = src.choice(
        [f"-{m}", f"- {m}", f"-{{{m}}}", f"{{-{m}}}", f"(-{m})", f"-({m})", f"-1\\cdot {m}"]
    )
    return gold, pred


def _decimal(src: Source, equal: bool) -> tuple[str, str]:
    num, den = src.choice([(1, 2), (1, 4), (3, 4), (1, 5), (3, 8), (5, 2), (7, 4), (1, 8), (9, 20)])
    if src.choice([0, 1]):
        num = -num
    value = Fraction(num, den)
    text = format(float(value), "g")
    gold = src.choice([text, _frac_text(num, den, src)])
    if equal:
        pred = src.choice(
            [text, text + "0", text.replace("0.", ".", 1), _frac_text(num, den, src), f"{text}00"]
        )
    else:
        other = value + Fraction(src.choice([1, -1, 3]), src.choice([10, 100, 1000, 1]))
        pred = src.choice(
            [format(float(other), "g"), _frac_text(other.numerator, other.denominator, src)]
        )
    return gold, pred


def _rounded(src: Source, equal: bool) -> tuple[str, str]:
    """Fractions against rounded decimals: math-verify's float_rounding decides."""
    num, den = src.choice([(1, 3), (2, 3), (1, 7), (5, 6), (1, 9), (22, 7)])
    digits = src.choice([1, 2, 3, 4, 6, 7, 9])
    value = round(num / den, digits)
    if not equal:
        value += src.choice([1, -1]) * 10 ** (-digits)
    return _frac_text(num, den, src), f"{value:.{digits}f}"


def _fraction(src: Source, equal: bool) -> tuple[str, str]:
    den = src.randint(2, 12)
    num = src.randint(-20, 20)
    if num == 0 or gcd(num, den) != 1:
        num = 1
    k = src.choice([1, 1, 2, 3])
    if equal:
        n2, d2 = num * k, den * k
    else:
        n2, d2 = src.choice([(num + 1, den), (den, num if num > 0 else -num), (num, den + 1)])
        if d2 < 0:
            n2, d2 = -n2, -d2
        if d2 == 0:
            d2 = den + 2
    return _frac_text(num, den, src), _frac_text(n2, d2, src)


def _mixed(src: Source, equal: bool) -> tuple[str, str]:
    whole = src.randint(1, 9)
    den = src.randint(2, 9)
    num = src.randint(1, den - 1)
    if gcd(num, den) != 1:
        num = 1
    negative = src.choice([False, False, True])
    improper = whole * den + num
    sign = "-" if negative else ""
    gold = src.choice(
        [
            f"{sign}\\frac{{{improper}}}{{{den}}}",
            f"{sign}{improper}/{den}",
            f"{sign}{whole}\\frac{{{num}}}{{{den}}}",
        ]
    )
    cmd = src.choice(["\\frac", "\\dfrac", "\\tfrac"])
    w = whole if equal else src.choice([whole + 1, whole - 1 if whole > 1 else whole + 2])
    pred = src.choice(
        [
            f"{sign}{w}{cmd}{{{num}}}{{{den}}}",
            f"{sign}{w} {cmd}{{{num}}}{{{den}}}",
            f"{sign}{w}{cmd}{num}{den}",
            f"{sign}{w}\\,{cmd}{{{num}}}{{{den}}}",
        ]
    )
    if not equal and src.choice([0, 1]):  # the product reading: 2 * 1/4
        pred = f"{sign}\\frac{{{whole * num}}}{{{den}}}"
    return gold, pred


def _digit_groups(src: Source, equal: bool) -> tuple[str, str]:
    n = src.choice([src.randint(1000, 9999), src.randint(10_000, 999_999), 1_000_000, 1_234_567])
    m = n if equal else _perturb(n, src)
    gold = src.choice([str(n), str(n), _group_digits(n, src), f"{n:,}"])
    pred = src.choice([_group_digits(m, src), str(m), f"{m:,}.00", f"{m:,}"])
    return gold, pred


def _scientific(src: Source, equal: bool) -> tuple[str, str]:
    mant = src.choice(["1.5", "2", "3.25", "6.02", "9.1"])
    exp = src.randint(-4, 6)
    value = Fraction(mant) * Fraction(10) ** exp
    e = exp if equal else exp + src.choice([1, -1])
    times = src.choice(["\\times", "\\cdot", " \\times ", "\\times "])
    pred = src.choice(
        [
            f"{mant}{times}10^{{{e}}}",
            f"{mant}{times}10^{e}" if 0 <= e < 10 else f"{mant}{times}10^{{{e}}}",
        ]
    )
    gold = (
        str(value.numerator)
        if value.denominator == 1
        else src.choice([format(float(value), "f").rstrip("0"), f"{mant}\\times 10^{{{exp}}}"])
    )
    return gold, pred


def _surd(src: Source, equal: bool) -> tuple[str, str]:
    k = src.randint(1, 6)
    m = src.choice([2, 3, 5, 6, 7, 10])
    d = src.choice([1, 1, 2, 3])
    ks = "" if k == 1 else str(k)
    gold = f"{ks}\\sqrt{{{m}}}" if d == 1 else f"\\frac{{{ks}\\sqrt{{{m}}}}}{{{d}}}"
    if not equal:
        k, m = src.choice([(k + 1, m), (k, m + 1), (m, k) if k > 1 and m != k else (k + 2, m)])
        ks = "" if k == 1 else str(k)
    sq = src.choice(
        [
            f"{ks}\\sqrt{{{m}}}",
            f"{ks}\\sqrt {m}" if m < 10 else f"{ks}\\sqrt{{{m}}}",
            f"{ks} \\sqrt{{{m}}}",
            f"\\sqrt{{{k * k * m}}}",
            f"{ks}\\sqrt{{ {m} }}",
        ]
    )
    if d == 1:
        return gold, sq
    pred = src.choice(
        [
            f"\\frac{{{sq}}}{{{d}}}",
            f"\\dfrac{{{sq}}}{{{d}}}",
            f"\\frac{{{k}}}{{{d}}}\\sqrt{{{m}}}",
            f"{sq}/{d}",
            f"\\frac{{{k * m}}}{{{d}\\sqrt{{{m}}}}}",
        ]
    )
    return gold, pred


def _pi(src: Source, equal: bool) -> tuple[str, str]:
    k = src.randint(1, 5)
    m = src.choice([1, 2, 3, 4, 6])
    ks = "" if k == 1 else str(k)
    gold = f"{ks}\\pi" if m == 1 else f"\\frac{{{ks}\\pi}}{{{m}}}"
    if not equal:
        k = k + src.choice([1, 2])
        ks = str(k)
    if m == 1:
        pred = src.choice(
            [f"{ks}\\pi", f"{ks} \\pi", f"\\pi {ks}" if ks else "\\pi", f"{k}\\cdot\\pi"]
        )
    else:
        pred = src.choice(
            [
                f"\\frac{{{ks}\\pi}}{{{m}}}",
                f"\\dfrac{{{ks} \\pi}}{{{m}}}",
                f"\\frac{{{k}}}{{{m}}}\\pi",
                f"{ks}\\pi/{m}",
                f"\\frac{{{k * 2}\\pi}}{{{m * 2}}}",
            ]
        )
    return gold, pred


def _degrees(src: Source, equal: bool) -> tuple[str, str]:
    d = src.choice([30, 45, 60, 90, 120, 135, 150])
    e = d if equal else 180 - d if d != 90 else 45
    gold = src.choice([str(d), f"{d}^\\circ", f"{d}^{{\\circ}}"])
    pred = src.choice(
        [f"{e}^\\circ", f"{e}^{{\\circ}}", f"{e}°", f"{e}\\degree", f"{e} ^\\circ", f"{e}"]
    )
    return gold, pred


def _percent(src: Source, equal: bool) -> tuple[str, str]:
    p = src.choice([5, 12, 25, 50, 75, 120])
    q = p if equal else p + src.choice([1, 5, -2])
    gold = src.choice([str(p), f"{p}\\%"])
    pred = src.choice([f"{q}\\%", f"{q}%", f"{q} \\%", f"{q}\\,\\%", str(q)])
    return gold, pred


def _units(src: Source, equal: bool) -> tuple[str, str]:
    n = src.randint(2, 500)
    m = n if equal else _perturb(n, src)
    unit = src.choice(["cm", "meters", "m", "kg", "dollars", "apples", "units", "square feet"])
    gold = src.choice([str(n), str(n), f"{n}\\text{{ {unit}}}"])
    pred = src.choice(
        [
            f"{m}\\text{{ {unit}}}",
            f"{m} \\text{{{unit}}}",
            f"{m}\\mbox{{ {unit}}}",
            f"{m} {unit}",
            f"\\text{{{m}}}",
            f"{m}\\,\\text{{{unit}}}",
            f"\\${m}",
            f"{m}\\mathrm{{{unit}}}",
        ]
    )
    return gold, pred


def _num_list(src: Source, k: int) -> list[int]:
    out: list[int] = []
    while len(out) < k:
        v = src.randint(-9, 12)
        if v not in out:
            out.append(v)
    return out


def _set(src: Source, equal: bool) -> tuple[str, str]:
    xs = _num_list(src, src.choice([2, 2, 3]))
    ys = list(xs)
    if equal:
        ys = list(reversed(ys)) if src.choice([0, 1]) else ys
    else:
        ys = src.choice([ys[:-1], [*ys, max(ys) + 1], [ys[0] + 1, *ys[1:]]])
    sep = src.choice([",", ", ", " , "])

    def spell(vals: list[int]) -> str:
        body = sep.join(str(v) for v in vals)
        return src.choice(
            [body, f"\\{{{body}\\}}", f"\\left\\{{{body}\\right\\}}", f"\\{{ {body} \\}}"]
        )

    return spell(xs), spell(ys)


def _tuple(src: Source, equal: bool) -> tuple[str, str]:
    xs = _num_list(src, src.choice([2, 3]))
    ys = list(xs) if equal else src.choice([list(reversed(xs)), [xs[0] + 1, *xs[1:]]])
    sep = src.choice([",", ", "])

    def spell(vals: list[int]) -> str:
        body = sep.join(str(v) for v in vals)
        return src.choice([f"({body})", f"\\left({body}\\right)", f"\\left( {body} \\right)"])

    return spell(xs), spell(ys)


def _interval(src: Source, equal: bool) -> tuple[str, str]:
    a = src.randint(-9, 5)
    b = a + src.randint(1, 9)
    lo = src.choice([str(a), "-\\infty"])
    hi = src.choice([str(b), "\\infty", "+\\infty"])
    left = "(" if lo == "-\\infty" else src.choice(["(", "["])
    right = ")" if "infty" in hi else src.choice([")", "]"])
    gold = f"{left}{lo}, {hi}{right}"
    if not equal:
        choice = src.choice(["flip", "shift"])
        if choice == "flip" and "infty" not in lo:
            left = "[" if left == "(" else "("
        else:
            lo = str(a - 1) if "infty" not in lo else str(a)
            left = "(" if "infty" in left else left
    pred = src.choice(
        [
            f"{left}{lo},{hi}{right}",
            f"\\left{left}{lo}, {hi}\\right{right}",
            f"{left} {lo} , {hi} {right}",
        ]
    )
    if src.choice([0, 0, 0, 1]):
        extra = f"\\cup ({b + 2}, {b + 5})"
        return gold + extra, pred + (extra if equal else "")
    return gold, pred


def _matrix_text(rows: list[list[int]], src: Source, env: str, *, breaks: bool = True) -> str:
    amp = src.choice(["&", " & ", "& ", " &"])
    nl = src.choice(["\\\\", " \\\\ ", "\\\\ ", " \\\\"])
    # math-verify does not read a `$...$` reference with line breaks: none in references
    pad = src.choice(["", " ", "\n"] if breaks else ["", " "])
    body = nl.join(amp.join(str(v) for v in row) for row in rows)
    return f"\\begin{{{env}}}{pad}{body}{pad}\\end{{{env}}}"


def _matrix(src: Source, equal: bool) -> tuple[str, str]:
    shape = src.choice([(2, 1), (3, 1), (2, 2), (1, 2)])
    rows = [[src.randint(-9, 9) for _ in range(shape[1])] for _ in range(shape[0])]
    other = [list(r) for r in rows]
    if not equal:
        other[-1][-1] += src.choice([1, -1, 3])
    env = src.choice(["pmatrix", "pmatrix", "bmatrix"])
    env2 = env if src.choice([0, 0, 1]) == 0 else src.choice(["pmatrix", "bmatrix"])
    return _matrix_text(rows, src, env, breaks=False), _matrix_text(other, src, env2)


def _equation(src: Source, equal: bool) -> tuple[str, str]:
    n = src.randint(-9, 30)
    m = n if equal else _perturb(n, src)
    var = src.choice(["x", "y", "n", "a"])
    gold = src.choice([str(n), f"{var} = {n}", f"{var}={n}"])
    pred = src.choice([f"{var} = {m}", f"{var}={m}", str(m), f"{var} ={m}"])
    if src.choice([0, 0, 0, 1]):
        k = src.randint(2, 5)
        gold = src.choice([f"y = {k}x + {n}", f"{k}x+{n}"])
        pred = f"y={k}x+{m}" if src.choice([0, 1]) else f"{k}x + {m}"
    return gold, pred


def _expression(src: Source, equal: bool) -> tuple[str, str]:
    a = src.randint(1, 9)
    gold = src.choice([f"x^2 + {2 * a}x + {a * a}", f"x^2+{2 * a}x+{a * a}", f"(x+{a})^2"])
    b = a if equal else a + 1
    pred = src.choice(
        [
            f"(x+{b})^2",
            f"(x + {b})^{{2}}",
            f"x^2 + {2 * b}x + {b * b}",
            f"{b * b}+{2 * b}x+x^2",
            f"x^{{2}}+{2 * b} x+{b * b}",
        ]
    )
    if src.choice([0, 0, 1]):
        k = src.randint(2, 6)
        gold = f"\\frac{{x+{k}}}{{x-{k}}}"
        kk = k if equal else k + 1
        pred = src.choice(
            [f"\\frac{{x+{kk}}}{{x-{kk}}}", f"(x+{kk})/(x-{kk})", f"\\dfrac{{{kk}+x}}{{x-{kk}}}"]
        )
    return gold, pred


def _text(src: Source, equal: bool) -> tuple[str, str]:
    words = ["Monday", "yes", "no", "odd", "even", "Alice", "blue"]
    w = src.choice(words)
    v = w if equal else src.choice([x for x in words if x != w])
    gold = src.choice([w, f"\\text{{{w}}}", f"\\textbf{{{w}}}"])
    pred = src.choice([v, f"\\text{{{v}}}", f"\\mathrm{{{v}}}", f"\\text{{ {v} }}"])
    return gold, pred


def _infinity(src: Source, equal: bool) -> tuple[str, str]:
    gold = src.choice(["\\infty", "-\\infty"])
    pred = gold if equal else ("-\\infty" if gold == "\\infty" else "\\infty")
    pred = src.choice([pred, pred.replace("\\infty", "\\infty ")])
    return gold, pred


def _powers(src: Source, equal: bool) -> tuple[str, str]:
    base = src.randint(2, 5)
    exp = src.randint(2, 10)
    value = base**exp
    gold = src.choice([str(value), f"{base}^{{{exp}}}"])
    e = exp if equal else exp + 1
    pred = src.choice(
        [f"{base}^{{{e}}}", f"{base}^{e}" if e < 10 else f"{base}^{{{e}}}", str(base**e)]
    )
    return gold, pred


def _value_words(src: Source, equal: bool) -> tuple[str, str]:
    """A number then a word that changes its value (``3 million``): never the bare number."""
    n = src.randint(2, 9)
    word = src.choice(["million", "thousand", "dozen", "squared", "thirds", "hundred"])
    gold = str(n) if equal else str(n + 1)
    return gold, src.choice([f"{n} {word}", f"{n}\\text{{ {word}}}", f"{n}\\ \\text{{{word}}}"])


def _hedged(src: Source, equal: bool) -> tuple[str, str]:
    """Two boxed answers in the final sentence: ``$\\boxed{3}$ or $\\boxed{5}$``."""
    a = src.randint(1, 9)
    b = a + src.randint(1, 5)
    gold = str(src.choice([a, b])) if equal else f"{a}, {b}"
    joiner = src.choice([" or ", " or maybe ", ", but possibly "])
    # completion_of() wraps this in `$\boxed{...}$`: the result has two boxes
    return gold, f"{a}}}${joiner}$\\boxed{{{b}"


#: form name -> generator(src, equal) -> (gold, pred)
FORMS: dict[str, Callable[[Source, bool], tuple[str, str]]] = {
    "integer": _integer,
    "sign": _sign,
    "decimal": _decimal,
    "rounded_decimal": _rounded,
    "fraction": _fraction,
    "mixed_number": _mixed,
    "digit_groups": _digit_groups,
    "scientific": _scientific,
    "surd": _surd,
    "pi": _pi,
    "degrees": _degrees,
    "percent": _percent,
    "units_text": _units,
    "set": _set,
    "tuple": _tuple,
    "interval": _interval,
    "matrix": _matrix,
    "equation": _equation,
    "expression": _expression,
    "text": _text,
    "infinity": _infinity,
    "power": _powers,
    "value_words": _value_words,
    "hedged": _hedged,
}


def make_pair(src: Source, form: str | None = None) -> Pair:
    form = form or src.choice(sorted(FORMS))
    equal = src.choice([True, False])
    gold, pred = FORMS[form](src, equal)
    return Pair(form, gold, pred)


_WORK = "We work it out step by step.\n\n"

#: How a completion states its final answer ``p``: the corpus's default is ``boxed``; the others
#: are the unboxed endings models also write. ``hashes`` (GSM8K's ``#### n``) is read by ``math``
#: only when ``answer_sources`` lists ``hashes`` (:data:`SPELLING_SOURCES`).
SPELLINGS: dict[str, Callable[[str], str]] = {
    "boxed": lambda p: f"{_WORK}The final answer is $\\boxed{{{p}}}$.",
    "display_boxed": lambda p: f"{_WORK}\\[\n\\boxed{{{p}}}\n\\]",
    "dollar_statement": lambda p: f"{_WORK}The final answer is ${p}$.",
    "final_answer_colon": lambda p: f"{_WORK}Final Answer: ${p}$",
    "answer_is_plain": lambda p: f"{_WORK}The answer is {p}.",
    "hashes": lambda p: f"{_WORK}#### {p}",
}

#: ``answer_sources`` of the ``math`` verifier per spelling (``None``: its default).
SPELLING_SOURCES: dict[str, list[str] | None] = {
    "hashes": ["boxed", "answer_is", "hashes", "last_dollar"],
}

#: Forms that have a meaning in every spelling (``hedged`` answers are two boxes by design).
SPELLING_FORMS = sorted(f for f in FORMS if f != "hedged")


def completion_of(pred: str, src: Source | None = None, spelling: str = "boxed") -> str:
    """A GRPO-like completion whose final answer is ``pred``, in ``spelling`` (default: boxed
    inside ``$...$``)."""
    return SPELLINGS[spelling](pred)


def math_verify_verdict(gold: str, completion: str, timeout_s: int = 30) -> bool:
    """math-verify's own verdict: ``verify(parse($gold$), parse(completion))``, defaults."""
    from math_verify import parse, verify

    for name in ("math_verify", "math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    g = parse(f"${gold}$", parsing_timeout=timeout_s)
    p = parse(completion, parsing_timeout=timeout_s)
    return bool(verify(g, p, timeout_seconds=timeout_s))


# --------------------------------------------------------------------------- documented differences


_SPACED_GROUP = re.compile(r"\d(?:\s|\\[,;! ]|~)+\d{3}(?!\d)")

_SINGLE_VAR_EQ = re.compile(r"\s*[A-Za-z]\s*=")

_PLAIN_WORD_UNIT = re.compile(r"[+-]?\d+(?:\.\d+)?(?: [A-Za-z]{2,}){1,2}")

#: The documented deliberate differences from math-verify (docs/verifiers.md, "Where the
#: verdict differs from math-verify"): name -> (rewardkit's verdict, math-verify's verdict).
DELIBERATE = {
    "percent sign": (True, False),
    "degree sign": (True, False),
    "spaced digit groups": (None, None),  # either way: rewardkit reads one number
    "value words": (False, True),
    "hedged": (False, True),
    "boxes read as one list": (True, False),
    "exact decimal arithmetic": (True, False),
    "plain-word unit": (True, False),
    "trailing period": (True, False),
    "Unicode digits": (True, False),
    "variable name": (True, False),
}


def explain(pair: Pair, mv: bool, result: Any) -> str | None:
    """Which documented deliberate difference explains a disagreement, else None (a bug).

    ``result`` is rewardkit's RewardResult; ``mv`` math-verify's verdict.
    """
    rk = result.outcome.value == "correct"
    if rk == mv:
        return None
    if rk and "%" in pair.pred:
        return "percent sign"
    if rk and ("°" in pair.pred or "\\degree" in pair.pred):
        return "degree sign"
    if _SPACED_GROUP.search(pair.gold) or _SPACED_GROUP.search(pair.pred):
        return "spaced digit groups"
    if rk and pair.form == "hedged" and "," in pair.gold:
        return "boxes read as one list"
    if rk and "." in pair.pred and "10^" in pair.pred and _exactly_equal(pair.gold, pair.pred):
        return "exact decimal arithmetic"
    if rk and _PLAIN_WORD_UNIT.fullmatch(pair.pred.strip()):
        return "plain-word unit"
    if rk and re.search(r"\d\}?\.\}?$", pair.pred.strip()):
        return "trailing period"
    if rk and any(c.isdigit() and not c.isascii() for c in pair.pred):
        return "Unicode digits"
    if rk and _SINGLE_VAR_EQ.match(pair.gold) and _SINGLE_VAR_EQ.match(pair.pred):
        return "variable name"
    if not rk and (result.reason or "").startswith("hedged"):
        return "hedged"
    if not rk and pair.form == "value_words":
        return "value words"
    return None


_SCIENTIFIC = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*\\(?:times|cdot)\s*10\^\{?([+-]?\d+)\}?")


def _exactly_equal(gold: str, pred: str) -> bool:
    """``pred`` is ``m \\times 10^{e}`` and equals the plain number ``gold`` exactly."""
    from decimal import Decimal, InvalidOperation

    m = _SCIENTIFIC.fullmatch(pred.strip())
    if m is None:
        return False
    try:
        value = Fraction(Decimal(m.group(1))) * Fraction(10) ** int(m.group(2))
        return value == Fraction(Decimal(gold.strip()))
    except (InvalidOperation, ValueError):
        return False


def explain_spelling(
    pair: Pair, spelling: str, mv: bool, mv_boxed: bool, result: Any
) -> str | None:
    """Why rewardkit's verdict on ``pair`` in ``spelling`` differs from math-verify's verdict
    ``mv`` on the same completion, else None (a bug).

    ``mv_boxed`` is math-verify's verdict on the same answer boxed. When rewardkit agrees with
    it, the difference is math-verify reading this spelling differently from the same answer
    boxed (it parses LaTeX only inside math delimiters, and its plain-expression fallback reads
    part of ``9.1 \\times 10^{-1}``); otherwise the boxed form's documented differences apply.
    """
    rk = result.outcome.value == "correct"
    if rk == mv:
        return None
    if spelling != "boxed" and rk == mv_boxed:
        return "math-verify reads the spelling differently"
    return explain(pair, mv_boxed, result)


def key_pair_explained(pair: Pair) -> bool:
    """Whether two math-verify-equal spellings may keep two answer keys (documented).

    Expressions (sympy's printed text is not a normal form: ``(x + 1)**2`` and
    ``x**2 + 2*x + 1``), decimals equal to a fraction only after rounding (``0.333333`` and
    ``1/3`` are different exact values), and the deliberate differences above.
    """
    return pair.form in ("expression", "rounded_decimal", "hedged", "value_words") or bool(
        _SPACED_GROUP.search(pair.gold) or _SPACED_GROUP.search(pair.pred)
    )
