"""Finding the final answer in a completion, and normalising it into a canonical key.

Pure Python and linear-time on purpose: this runs in the trainer's process on every completion
(the answer key exploration and diversity terms group by, and the first step of every verifier),
so it must be cheap, must never hand user text to a backtracking regex or a parser, and must
survive megabyte inputs and thousands of nested braces. math-verify has an extractor, but it
parses with sympy under a signal-based timeout, which is neither cheap nor safe off the main
thread; the *semantic* comparison is left to math-verify inside the engine's workers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from rewardkit._errors import ArgumentError
from rewardkit.verifiers._closed_form import closed_form, format_closed_form

__all__ = [
    "AnswerSource",
    "canonical_answer",
    "completion_tail",
    "extract_answer",
    "extract_final_answer",
    "find_boxed",
    "last_boxed",
    "normalize_answer",
    "reference_answer",
]

#: Where a final answer may be taken from, in the order a verifier tries them.
AnswerSource = Literal["boxed", "answer_is", "hashes", "last_dollar", "last_number"]

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# The answer sits at the end; a long completion is only searched in its tail for the phrases.
_PHRASE_WINDOW = 4096
_PHRASE_LINES = 3
_MAX_ANSWER_CHARS = 1024

_ANSWER_IS = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\**\s*(?:is|:|=)\s*(?:[:=]\s*)?\**\s*", re.IGNORECASE
)
_HASHES = re.compile(r"####\s*")
# What a cue may leave when the math it opens does not close: no answer, so later sources run.
_BARE_DELIMITERS = frozenset(["$", "$$", "\\[", "\\("])
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


# --------------------------------------------------------------------------- boxes


def _braced(text: str, start: int, max_len: int = 4 * _MAX_ANSWER_CHARS) -> tuple[str, int] | None:
    """The content of the ``{...}`` group opening at ``text[start]`` and the index after it.

    A counter, not recursion or a regex, so 3000-deep nesting costs nothing; ``None`` when the
    group never closes (a truncated completion) or runs past ``max_len`` characters (no answer
    is that long, and the bound keeps a megabyte of unclosed braces cheap).
    """
    depth = 0
    i = start
    n = min(len(text), start + max_len)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2  # an escaped brace \{ does not open or close a group
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def _box_at(text: str, pos: int, command: str) -> str | None:
    """The argument of ``\\boxed`` at ``pos``: ``\\boxed{...}`` or the shorthand ``\\boxed 5``."""
    got = _box_span(text, pos, command)
    return None if got is None else got[0]


def _box_span(text: str, pos: int, command: str) -> tuple[str, int] | None:
    """:func:`_box_at` with the index just after the box."""
    i = pos + len(command)
    n = len(text)
    if i < n and (text[i].isalpha()):
        return None  # \boxedanswer or similar: another command
    while i < n and text[i] in " \t":
        i += 1
    if i >= n:
        return None
    if text[i] == "{":
        return _braced(text, i)
    # `\boxed 5` / `\boxed -3.5$`: a space-delimited token, as LaTeX would read it.
    j = i
    while j < n and text[j] not in " \t\r\n$":
        j += 1
    return (text[i:j], j) if j > i else None


def find_boxed(text: str, *, limit: int = 8) -> list[str]:
    """The contents of the last ``limit`` outermost ``\\boxed``/``\\fbox`` groups, in text order.

    A box inside another box (``\\boxed{\\boxed{2}}``) is part of that box's content, not a
    second answer.
    """
    found: list[tuple[int, int, str]] = []
    for command in _BOX_COMMANDS:
        end = len(text)
        # Scanning backwards meets a box's inner boxes before the box itself; they are dropped
        # once it is found, so they do not use up the budget of answers. The number of commands
        # looked at is capped too: thousands of nested boxes must stay cheap.
        for _ in range(16 * limit):
            if len(found) >= 2 * limit:
                break
            pos = text.rfind(command, 0, end)
            if pos < 0:
                break
            got = _box_span(text, pos, command)
            if got is not None:
                stop = got[1]
                found = [f for f in found if not (pos <= f[0] and f[1] <= stop)]
                found.append((pos, stop, got[0]))
            end = pos
    found.sort()
    outermost: list[str] = []
    reach = -1
    for pos, stop, content in found:
        if pos >= reach:
            outermost.append(content)
            reach = stop
    return outermost[-limit:]


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` (or ``\\boxed 5``) in ``text``."""
    best: tuple[int, str] | None = None
    for command in _BOX_COMMANDS:
        end = len(text)
        # A truncated last box is skipped in favour of the one before it; bounded so that a
        # completion made of thousands of unclosed boxes stays linear.
        for _ in range(8):
            pos = text.rfind(command, 0, end)
            if pos < 0 or (best is not None and pos < best[0]):
                break
            content = _box_at(text, pos, command)
            if content is not None:
                best = (pos, content)
                break
            end = pos
    return None if best is None else best[1]


# --------------------------------------------------------------------------- phrases


def _math_spans(line: str) -> list[tuple[int, int, int]]:
    """The complete ``$...$`` / ``$$...$$`` spans of ``line``, left to right, as (content start,
    content end, end of the closing delimiter). A backslash escapes the next character, so
    ``\\$`` is a dollar sign, not a delimiter; an inline span closes at its first ``$``; a
    lone ``$`` inside ``$$...$$`` is literal; an unclosed opener ends no span. Linear in the
    line (callers pass at most a few kilobytes)."""
    spans: list[tuple[int, int, int]] = []
    opener, content, i, n = "", 0, 0, len(line)
    while i < n:
        char = line[i]
        if char == "\\":
            i += 2
            continue
        if char != "$":
            i += 1
            continue
        token = "$$" if line.startswith("$$", i) else "$"
        if not opener:
            opener, content = token, i + len(token)
            i += len(token)
        elif opener == "$" or token == "$$":
            spans.append((content, i, i + len(opener)))
            i += len(opener)
            opener = ""
        else:
            i += 1
    return spans


#: A matrix (``\\begin{pmatrix}`` ... ``\\end{pmatrix}``) or display math (``$$`` ... ``$$``,
#: ``\\[`` ... ``\\]``) written over several lines is one line of the answer, up to this many
#: lines; a block still open past them (or an unbalanced ``\\end{pmatrix}``) merges nothing.
_MAX_BLOCK_LINES = 24
_MATRIX_BEGIN = re.compile(r"\\begin\{(?:[pbBvV]?matrix|smallmatrix|array)\*?\}")
_MATRIX_END = re.compile(r"\\end\{(?:[pbBvV]?matrix|smallmatrix|array)\*?\}")
# `\[` / `\]` not preceded by another backslash: `\\[2pt]` is a row break with spacing.
_DISPLAY_OPEN = re.compile(r"(?<!\\)(?:\\\\)*\\\[")
_DISPLAY_CLOSE = re.compile(r"(?<!\\)(?:\\\\)*\\\]")


def _block_marks(line: str) -> tuple[int, int, bool]:
    """(matrix environments opened minus closed, ``\\[`` minus ``\\]``, whether the line has an
    odd number of unescaped ``$$``) on ``line``. Derivations (``align``, ``cases``) are not
    blocks here: their lines stay lines, so a cue above them stays out of the last lines."""
    matrices = len(_MATRIX_BEGIN.findall(line)) - len(_MATRIX_END.findall(line))
    brackets = len(_DISPLAY_OPEN.findall(line)) - len(_DISPLAY_CLOSE.findall(line))
    doubles, i, n = 0, 0, len(line)
    while i < n:
        if line[i] == "\\":
            i += 2
        elif line.startswith("$$", i):
            doubles += 1
            i += 2
        else:
            i += 1
    return matrices, brackets, doubles % 2 == 1


def _statement_line(text: str) -> str:
    """The first line of ``text``, extended over the lines of a matrix or display math it opens
    and does not close (at most :data:`_MAX_BLOCK_LINES` more; else the line alone)."""
    lines = text.split("\n", _MAX_BLOCK_LINES + 1)
    matrices, brackets, display = _block_marks(lines[0])
    for taken in range(1, min(len(lines), _MAX_BLOCK_LINES + 1)):
        if matrices <= 0 and brackets <= 0 and not display:
            return "\n".join(lines[:taken])
        m, b, d = _block_marks(lines[taken])
        matrices, brackets, display = matrices + m, brackets + b, display != d
    if matrices <= 0 and brackets <= 0 and not display:
        return "\n".join(lines[: _MAX_BLOCK_LINES + 1])
    return lines[0]


def _rest_of_statement(text: str) -> str:
    """From just after a cue to the end of its line or sentence (a period then a space); a
    multi-line environment opened on the line (a matrix) belongs to it."""
    line = _statement_line(text)
    for opener, closer in (("\\[", "\\]"), ("\\(", "\\)")):
        if line.startswith(opener):
            close = line.find(closer, 2)
            if close > 0:
                return line[: close + 2]
    if line.startswith("$"):
        spans = _math_spans(line)
        if spans:  # the first span is the one the line opens with
            return line[: spans[0][2]]
    cut = len(line)
    for stop in (". ", ".\t"):
        k = line.find(stop)
        if 0 <= k < cut:
            cut = k
    return line[:cut]


def final_lines(text: str, count: int) -> str:
    """The last ``count`` non-empty lines of ``text`` (of its last few kilobytes); a matrix or
    display math written over several lines counts as one line with the line that opens it
    (:data:`_MAX_BLOCK_LINES`; a block that does not close within them merges nothing)."""
    tail = text[-_PHRASE_WINDOW:]
    merged = _final_lines(tail, count, merge_blocks=True)
    return merged if merged is not None else _final_lines(tail, count, merge_blocks=False) or tail


def _final_lines(tail: str, count: int, *, merge_blocks: bool) -> str | None:
    """:func:`final_lines` on ``tail``; ``None`` when a block (read upwards) never opens."""
    end = len(tail)
    found = 0
    matrices = brackets = inside = 0  # blocks still open above this line; lines spent in them
    display = open_above = False
    while end > 0:
        start = tail.rfind("\n", 0, end)
        line = tail[start + 1 : end]
        if merge_blocks:
            m, b, d = _block_marks(line)
            # read upwards, a closing mark opens the block and an opening mark closes it
            matrices, brackets, display = max(matrices - m, 0), max(brackets - b, 0), display != d
            open_above = matrices > 0 or brackets > 0 or display
            inside = inside + 1 if open_above else 0
            if inside > _MAX_BLOCK_LINES:
                return None
        else:
            open_above = False
        if line.strip() and not open_above:
            found += 1
            if found == count:
                return tail[start + 1 :]
        if start < 0:
            break
        end = start
    return None if merge_blocks and open_above else tail


def _after_last(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for m in pattern.finditer(text):
        last = m
    if last is None:
        return None
    got = _rest_of_statement(text[last.end() :]).strip()
    return got or None


_ENDING = re.compile(r"[\s.,;:!?)*_]*")


def _last_dollar(text: str) -> str | None:
    """The ``$...$`` span the text ends with (punctuation aside): "... which gives $x = 5$."."""
    text = text.rstrip()
    end = len(text)
    while end > 0 and _ENDING.fullmatch(text[end - 1]):
        end -= 1
    if end < 2 or text[end - 1] != "$":
        return None
    spans = _math_spans(text[:end])
    if spans and spans[-1][2] == end:
        inner = text[spans[-1][0] : spans[-1][1]]
    else:
        # Paired from the left, the last `$` closes nothing: an unescaped currency sign earlier
        # ("pays $5 per apple, so the total is $20$.") took an opener. Pair it with the `$`
        # before it, unless it is escaped itself.
        close = end - 1
        if _backslashes_before(text, close) % 2:
            return None
        start = close - 1
        while start >= 0 and (text[start] != "$" or _backslashes_before(text, start) % 2):
            start -= 1
        if start < 0:
            return None
        inner = text[start + 1 : close]
    inner = inner.strip()
    return inner or None


def _backslashes_before(text: str, pos: int) -> int:
    run = 0
    while pos - run - 1 >= 0 and text[pos - run - 1] == "\\":
        run += 1
    return run


def _last_number(text: str) -> str | None:
    """The number the text ends with (punctuation and a few words of unit aside)."""
    last = None
    for m in _NUMBER.finditer(text[-200:]):
        last = m
    if last is None:
        return None
    rest = text[-200:][last.end() :]
    if not re.fullmatch(r"[\s.,;:!?)*_$%]*(?:[A-Za-z]+[\s.,;:!?)*_]*){0,2}", rest):
        return None
    return last.group(0)


def extract_answer(
    text: str, sources: Sequence[AnswerSource] = ("boxed", "answer_is", "hashes")
) -> str | None:
    """The raw (unnormalised) final answer, from the first of ``sources`` that finds one.

    * ``boxed``: the last ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed 5``;
    * ``answer_is``: the last "the answer is ...", "final answer: ...", "answer = ..."
      statement in the last three non-empty lines, up to the end of its line or sentence;
    * ``hashes``: the last ``#### ...`` in the last three non-empty lines (GSM8K);
    * ``last_dollar``: the ``$...$`` math span the text ends with (punctuation aside);
    * ``last_number``: the number the text ends with (punctuation and a short unit aside).

    Phrase fallbacks look only at the end of the text, so an answer is never taken from an
    earlier line of reasoning ("if the answer were 5, ...").
    """
    if not isinstance(text, str) or not text:
        return None
    for source in sources:
        if source == "boxed":
            got = last_boxed(text)
        elif source == "answer_is":
            got = _after_last(_ANSWER_IS, final_lines(text, _PHRASE_LINES))
        elif source == "hashes":
            got = _after_last(_HASHES, final_lines(text, _PHRASE_LINES))
        elif source == "last_dollar":
            got = _last_dollar(final_lines(text, 1))
        elif source == "last_number":
            got = _last_number(final_lines(text, 1))
        else:
            raise ArgumentError(f"unknown answer source {source!r}")
        if got is not None and got.strip() and got.strip() not in _BARE_DELIMITERS:
            got = got.strip()
            if len(got) > _MAX_ANSWER_CHARS:  # cut only after redundant braces are gone
                got = _strip_grouping_braces(got)[:_MAX_ANSWER_CHARS]
            return got
    return None


# --------------------------------------------------------------------------- normalisation

_WRAPPERS = ("\\text", "\\textbf", "\\textit", "\\mathrm", "\\mathbf", "\\mbox", "\\operatorname")
# `\\` (a matrix row break) is matched first so that `\\ 6` does not read as `\ ` + `6`.
_SPACING = re.compile(r"\\\\|\\[,;:! ]|\\quad|\\qquad|~")
# Digits separated by whitespace (spaces, `\,`, `\ `, thin spaces, after _SPACING): one number
# when the groups are thousands groups (`1 234 567`), else the space stays (math-verify decides).
_SPACED_DIGITS = re.compile(r"(?<![\d.])\d+(?:\s+\d+)+")
_DIGIT_GROUPS = re.compile(r"\d{1,3}(?:\s+\d{3})+")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])")
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![A-Za-z])")
_CURRENCY = re.compile(r"\\\$|\$")
_PERCENT = re.compile(r"\\?%$")
# `\frac13`, `\frac1{3}`, `\frac{1}3`: LaTeX reads one token per missing brace group.
_FRAC_SHORT = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d|[A-Za-z](?![A-Za-z]))")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# `{,}` is a comma, as math-verify reads it; `1{,}000{,}000` then passes the thousands check.
_LATEX_COMMA = re.compile(r"\{\s*,\s*\}")
# A number then one to three plain words: `12 apples`, `5 square feet` (whitespace required, so
# `2x` stays algebra). Function names are not units.
_PLAIN_UNIT = re.compile(r"^([+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+))(?:\s+([A-Za-z]{2,})){1,3}$")
_NOT_UNITS = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "log",
        "ln",
        "exp",
        "lg",
        "sqrt",
        "pi",
        "and",
        "or",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
    ]
)
_SINGLE_VAR_LHS = re.compile(r"^\\?[A-Za-z]\w*(?:_\{?\w+\}?)?\s*=(?!=)")
_COMMAND_SPACE = re.compile(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])")
# Not "!": it is a factorial.
_TRAILING = ".,;:?。 \t\n"


def _unwrap_text_commands(s: str) -> str:
    """Drop ``\\text{...}``-style wrappers, keeping their content, in one linear pass.

    A trailing wrapper after a number is a unit (``5\\text{ cm}``) and goes entirely.
    """
    if "\\" not in s:
        return s
    out: list[str] = []
    closers: list[bool] = []  # per open brace: drop its matching `}`?
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            for w in _WRAPPERS:
                if s.startswith(w, i):
                    j = i + len(w)
                    while j < n and s[j] == " ":
                        j += 1
                    if j < n and s[j] == "{":
                        closers.append(True)
                        i = j + 1
                        break
            else:
                out.append(s[i : i + 2])
                i += 2
                continue
            continue
        if c == "{":
            closers.append(False)
        elif c == "}" and closers and closers.pop():
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


# Words after a number that change its value: `3 million` is not `3`, `2 thirds` is not `2`.
# Such an answer keeps its words, so it never equals the bare number.
_VALUE_WORDS = frozenset(
    [
        "hundred",
        "hundreds",
        "thousand",
        "thousands",
        "million",
        "millions",
        "billion",
        "billions",
        "trillion",
        "trillions",
        "dozen",
        "dozens",
        "score",
        "half",
        "halves",
        "third",
        "thirds",
        "quarter",
        "quarters",
        "fourth",
        "fourths",
        "fifth",
        "fifths",
        "sixth",
        "sixths",
        "seventh",
        "sevenths",
        "eighth",
        "eighths",
        "ninth",
        "ninths",
        "tenth",
        "tenths",
        "hundredth",
        "hundredths",
        "thousandth",
        "thousandths",
        "squared",
        "cubed",
        "factorial",
        "power",
        "powers",
        "times",
        "plus",
        "minus",
        "over",
        "divided",
    ]
)


# Words of at most three letters are units only when known: `2 xy` is 2xy to math-verify.
_SHORT_UNITS = frozenset(
    [
        "ab",
        "am",
        "bc",
        "by",
        "cc",
        "cm",
        "cu",
        "day",
        "deg",
        "dm",
        "ft",
        "g",
        "gal",
        "gm",
        "hr",
        "in",
        "kg",
        "km",
        "kmh",
        "l",
        "lb",
        "lt",
        "m",
        "mg",
        "mi",
        "min",
        "ml",
        "mm",
        "mp",
        "mph",
        "mt",
        "mtr",
        "oz",
        "pm",
        "rd",
        "rs",
        "s",
        "sec",
        "sq",
        "st",
        "t",
        "th",
        "yd",
        "yr",
    ]
)


def _is_short_unit(word: str) -> bool:
    # Case matters, as to math-verify: `2 AB` is a product, `2 ab` a unit.
    return word in _SHORT_UNITS or (word.endswith("s") and word[:-1] in _SHORT_UNITS)


def _is_unit(words: str) -> bool:
    """Whether the words after a number only name a unit (``apples``, ``cm``, not ``xy``)."""
    return not any(
        w.lower() in _NOT_UNITS
        or w.lower() in _VALUE_WORDS
        or (len(w) <= 3 and not _is_short_unit(w))
        for w in words.split()
    )


def _drop_plain_unit(s: str) -> str:
    """``12 apples`` -> ``12``: a number followed by words only (not ``2 \\sin x`` or ``2x``)."""
    m = _PLAIN_UNIT.match(s)
    if m is None or not _is_unit(s[m.end(1) :]):
        return s
    return m.group(1)


_EMPHASIS = ("**", "__", "*", "_")
_MATH_DELIMITERS = (("\\[", "\\]"), ("\\(", "\\)"))


def _strip_wrappers(s: str) -> str:
    """Strip what only wraps an answer: markdown emphasis (``**10**``, ``_x_``, a dangling
    ``**`` left by a cue that took the opening one), ``\\[...\\]`` / ``\\(...\\)`` / ``$...$``
    math delimiters, a whole ``\\boxed{...}`` (nested boxes), and trailing punctuation."""
    for _ in range(8):  # each round strips one layer; real answers have one or two
        before = s
        s = s.strip().rstrip(_TRAILING).strip()
        for marker in _EMPHASIS:
            if len(s) > 2 * len(marker) and s.startswith(marker) and s.endswith(marker):
                s = s[len(marker) : -len(marker)]
                break
        else:
            for marker in ("**", "__"):
                if s.endswith(marker) and marker not in s[:-2]:
                    s = s[:-2]
                elif s.startswith(marker) and marker not in s[2:]:
                    s = s[2:]
            # `*x*` after a cue that took the opening star; `x^*` is a conjugate, not emphasis
            if s.endswith("*") and "*" not in s[:-1] and not s.endswith(("^*", "_*")):
                s = s[:-1]
        for opener, closer in _MATH_DELIMITERS:
            if s.startswith(opener) and s.endswith(closer) and len(s) >= 4:
                s = s[2:-2]
        if s.startswith("$"):  # one `$...$` / `$$...$$` around all of it, as a box would be
            spans = _math_spans(s)
            if len(spans) == 1 and spans[0][0] <= 2 and spans[0][2] == len(s):
                s = s[spans[0][0] : spans[0][1]]
        for command in _BOX_COMMANDS:
            if s.startswith(command):
                got = _box_span(s, 0, command)
                if got is not None and got[1] == len(s):
                    s = got[0]
        if s == before:
            break
    return s


# A squared or cubed unit: `5\text{ cm}^2`, `5\text{ m}^{3}` (math-verify drops it too).
_UNIT_POWER = re.compile(r"\}\s*\^\s*(?:\d|\{\s*\d\s*\})$")


def _drop_trailing_unit(s: str) -> str:
    m = _UNIT_POWER.search(s)
    if m is not None:
        head = _drop_trailing_unit_text(s[: m.start() + 1])
        return head if head != s[: m.start() + 1] else s
    return _drop_trailing_unit_text(s)


def _drop_trailing_unit_text(s: str) -> str:
    for w in ("\\text", "\\mbox", "\\mathrm"):
        k = s.rfind(w + "{")
        if k > 0 and s.endswith("}") and _braced(s, k + len(w)) == (s[k + len(w) + 1 : -1], len(s)):
            head = s[:k].rstrip()
            unit = s[k + len(w) + 1 : -1].strip()
            if (
                head
                and unit.replace(" ", "").isalpha()
                and _is_unit(unit)
                and _NUMBER.fullmatch(head.strip("$ "))
            ):
                return head
    return s


@lru_cache(maxsize=1 << 14)  # a group's samples repeat answers, and every rollout its reference
def normalize_answer(answer: str) -> str:
    """The LaTeX of an extracted answer with its notation cleaned up (see :func:`canonical_answer`).

    Strips ``$``, ``\\[...\\]``/``\\(...\\)``, markdown emphasis (``**10**``), a whole
    ``\\boxed{}``, spacing commands, ``\\left``/``\\right``, degrees, currency, a trailing ``%``
    and punctuation, a trailing unit (``\\text{ cm}``, ``12 apples``); unwraps other ``\\text{}``;
    rewrites ``\\dfrac``/``\\tfrac`` as ``\\frac`` and the shorthand ``\\frac13``/``\\sqrt3``
    with braces; drops thousands separators from plain numbers and a ``x =`` in front; removes
    whitespace. Different strings may still be equal mathematically.
    """
    s = answer.strip()
    if len(s) > _MAX_ANSWER_CHARS:
        s = _strip_grouping_braces(s)[:_MAX_ANSWER_CHARS]
    s = s.replace("\x00", "").replace("\x01", "").replace("\\displaystyle", "")
    s = _strip_wrappers(s)
    s = _SPACING.sub(_spacing, s)
    s = _SPACED_DIGITS.sub(_spaced_digits, s)
    s = _drop_trailing_unit(s)
    s = _CURRENCY.sub("", s)
    s = _unwrap_text_commands(s)
    s = _LEFT_RIGHT.sub("", s)
    s = _FRAC_VARIANTS.sub(r"\\frac", s)
    s = _DEGREES.sub("", s)
    s = _LATEX_COMMA.sub(",", s)
    s = s.strip().rstrip(_TRAILING).strip()
    s = _PERCENT.sub("", s).strip()
    s = _strip_wrappers(s)
    if s.count("=") == 1:
        s = _SINGLE_VAR_LHS.sub("", s).strip()
    s = _drop_plain_unit(s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    # Whitespace goes, except where it ends a command name before a letter (`\\pi r`).
    s = _COMMAND_SPACE.sub("\\1\x00", s)
    s = "".join(s.split()).replace("\x00", " ").replace("\x01", " ")
    s = _FRAC_SHORT.sub(_brace_frac, s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = s.rstrip(_TRAILING)
    return _strip_grouping_braces(s)


def _spacing(m: re.Match[str]) -> str:
    token = m.group()
    if token == "\\\\":
        return token  # a row break, not a space
    return "" if token == "\\!" else " "  # `\!` is a negative space: math-verify drops it


def _spaced_digits(m: re.Match[str]) -> str:
    """``1 234 567`` -> ``1234567``; other spaced digits keep one (protected) space each."""
    text = m.group()
    if _DIGIT_GROUPS.fullmatch(text):
        return "".join(text.split())
    return "\x01".join(text.split())


def _strip_grouping_braces(s: str) -> str:
    """``{{x}}`` -> ``x``: outer braces that enclose everything are grouping, not a set.

    One pass with a stack, however deep: sympy's parser recurses on every level and would
    spend the whole deadline on a few hundred of them.
    """
    lead = len(s) - len(s.lstrip("{"))
    if not lead or not s.endswith("}"):
        return s
    opened: list[int] = []
    strip = lead
    last = len(s) - 1
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            opened.append(i)
        elif c == "}":
            if not opened:
                return s
            start = opened.pop()
            # the brace opened at `start` (< lead) must close at the mirror position
            if start < lead and start != last - i:
                strip = min(strip, start)
        i += 1
    if opened:
        return s
    return s[strip : len(s) - strip]


def _brace_frac(m: re.Match[str]) -> str:
    a, b = m.group(1), m.group(2)
    a = a if a.startswith("{") else "{" + a + "}"
    b = b if b.startswith("{") else "{" + b + "}"
    return f"\\frac{a}{b}"


@lru_cache(maxsize=1 << 14)
def canonical_answer(normalized: str) -> str:
    """The answer key of a normalised answer: one string per value for the simple forms.

    Integers, decimals, fractions (``\\frac``, ``a/b``), surds, multiples of ``\\pi``, and
    sets, tuples and intervals of those become the text sympy would print for their exact
    value: ``1/2`` for ``0.5``, ``.5``, ``\\frac{2}{4}``, ``\\frac12``; ``2*sqrt(3)`` for
    ``\\sqrt{12}``; ``{3, 5}`` for ``5, 3``; ``(-oo, 2]``. Anything else is returned as it is.
    Microseconds and linear-time (:func:`~rewardkit.verifiers._closed_form.closed_form`), so it
    runs in the trainer's process; sympy-level canonical forms are made in engine workers.
    """
    value = closed_form(normalized)
    return normalized if value is None else format_closed_form(value)


def extract_final_answer(text: str) -> str | None:
    """The canonical final answer of a completion, or ``None`` when it states none.

    The last ``\\boxed{...}`` (or ``\\boxed 5``); else the last "the answer is ..." statement;
    else the last ``#### n`` line; then :func:`normalize_answer` and :func:`canonical_answer`.
    This is the answer key that exploration and diversity terms use when no ``answer_from``
    reward is named. Linear-time, pure Python, safe on megabyte inputs and deep nesting; never
    raises.
    """
    if not isinstance(text, str):
        return None
    raw = extract_answer(text, ("boxed", "answer_is", "hashes"))
    if raw is None:
        return None
    norm = normalize_answer(raw)
    return canonical_answer(norm) if norm else None


def completion_tail(completion: object, max_chars: int) -> str:
    """A completion's text (string or chat messages), cut to its last ``max_chars`` characters.

    The answer is at the end, so a runaway completion keeps its tail; NUL characters go, since
    no answer contains them and C-level parsers choke on them.
    """
    from rewardkit._rollout import message_text

    text = message_text(completion)
    if len(text) > max_chars:
        text = text[-max_chars:]
    return text.replace("\x00", "") if "\x00" in text else text


def reference_answer(reference: object) -> str | None:
    """The answer a reference states, whatever form the dataset stores it in.

    Bare LaTeX (``3, 5``), ``$...$``, ``\\boxed{...}``, a GSM8K ``#### n`` solution or a full
    worked solution (its last box, else its "the answer is ..." statement); numbers become their
    text; anything else (None, lists, dicts) gives ``None``.
    """
    if isinstance(reference, bool):
        return None
    if isinstance(reference, (int, float)):
        return repr(reference)
    if not isinstance(reference, str):
        return None
    text = reference.strip()
    if not text:
        return None
    if "\\boxed" in text or "\\fbox" in text:
        got = last_boxed(text)
        if got is not None:
            return got.strip() or None
    if "####" in text:
        got = extract_answer(text, ("hashes",))
        if got is not None:
            return got
    if "\n" in text or len(text) > 200:  # a worked solution rather than an answer
        got = extract_answer(text, ("answer_is", "last_dollar"))
        if got is not None:
            return got
    if len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    return text or None
