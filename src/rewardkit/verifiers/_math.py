"""The ``math`` verifier: math-verify comparisons in the engine's workers, cheap checks first.

Per rollout, in the trainer's process (pure Python, linear time): take the reference's answer
(bare LaTeX, ``$...$``, ``\\boxed{}`` or a worked solution), extract the completion's final
answer (last box, then the configured fallbacks), and normalise both (:func:`normalize_answer`).
Identical normalised strings are correct, and two plain numbers are compared exactly, without
sympy. Everything else goes to math-verify in a worker process, keyed by (reference, answer) so
that a group whose samples collapsed onto one answer is verified once, with the engine's hard
deadline instead of math-verify's signal-based timeout (which works only on the main thread and
cannot interrupt C code).

Both strings reach math-verify wrapped in ``$...$``: bare gold like ``3, 5`` otherwise parses as
``5``, and shorthand like ``\\frac13`` is only understood inside math delimiters. ``verify`` is
called gold first, as it is asymmetric.

The reported answer (``RewardResult.answer``, the key exploration, diversity and diagnostics
group by) is canonical, so that re-spelling an answer cannot dodge a repetition penalty or farm
an exploration bonus: a correct answer reports the canonical form of the reference it matched;
any other answer reports :func:`canonical_answer` of itself when that is a closed form, else the
text of its sympy value (made in the worker, under the deadline), else its normalised LaTeX.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._rollout import Outcome, RewardResult, Rollout
from rewardkit.verifiers._closed_form import closed_form
from rewardkit.verifiers._extract import (
    canonical_answer,
    completion_tail,
    extract_answer,
    find_boxed,
    normalize_answer,
    reference_answer,
)
from rewardkit.verifiers._scores import VerdictScoresConfig

__all__ = ["MathConfig", "MathVerifier", "verify_math_answer"]


# --------------------------------------------------------------------------- worker side


_MAX_KEY_CHARS = 256


def _is_cheap_to_evaluate(expr: Any) -> bool:
    """Whether ``doit()`` is safe: factorials only of integers up to 100, powers only with small
    literal exponents or an integer result of at most 800 bits (``2^{100}``, ``5!`` get the key
    of their value, as their closed-form spellings do).

    The deadline bounds it anyway; this keeps a wrong answer like ``2^{10^{9}}`` from turning
    into a timeout just to compute its key.
    """
    import sympy

    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.factorial, sympy.factorial2)):
            arg = node.args[0]
            if not (arg.is_Integer and 0 <= arg <= 100):  # 100! has 158 digits
                return False
            continue
        if isinstance(node, (sympy.gamma, sympy.binomial)):
            return False
        if isinstance(node, sympy.Pow):
            e = node.exp
            small = e.is_Integer and node.base.is_Integer  # 2^{100}: as long as a key may be
            if small and abs(e) * int(node.base).bit_length() <= 800:
                continue
            if not e.free_symbols and not (e.is_Number and abs(e) <= 64):
                return False
    return True


def _sympy_key(parsed: tuple[Any, ...]) -> str | None:
    """The canonical text of a parsed answer: its evaluated sympy value, printed.

    Intervals print like closed forms (``(1, 2]``, ``(-oo, 2)``), vectors and matrices as
    ``Matrix([[1], [2]])`` whatever their brackets; ``None`` when there is no sympy value or its
    text is long (then the normalised LaTeX is the key).
    """
    import sympy

    expr = next((x for x in parsed if isinstance(x, (sympy.Basic, sympy.MatrixBase))), None)
    if expr is None:
        return None
    if isinstance(expr, sympy.MatrixBase):  # pmatrix and bmatrix alike: Matrix([[1], [2]])
        expr = sympy.ImmutableMatrix(expr)
    try:
        if _is_cheap_to_evaluate(expr):
            expr = expr.doit()
        if isinstance(expr, sympy.Interval):
            text = (
                f"{'(' if expr.left_open else '['}{expr.start}, "
                f"{expr.end}{')' if expr.right_open else ']'}"
            )
        else:
            text = str(expr)
    except Exception:  # e.g. an integer too long to print; the LaTeX key will do
        return None
    return text if len(text) <= _MAX_KEY_CHARS else None


@lru_cache(maxsize=8192)
def _parse(latex: str) -> tuple[Any, ...]:
    from math_verify import LatexExtractionConfig, parse

    # parsing_timeout=None: the engine keeps the deadline; math-verify's SIGALRM would raise
    # off the main thread and could not stop C code anyway.
    return tuple(parse(f"${latex}$", [LatexExtractionConfig()], parsing_timeout=None))


def verify_math_answer(item: tuple[str, str, int, int, bool]) -> RewardResult:
    """Worker function: is the normalised ``pred`` equal to the normalised ``gold``?

    An incorrect verdict carries the canonical text of ``pred``'s sympy value as its answer.
    """
    from math_verify import verify

    gold, pred, float_rounding, numeric_precision, strict = item
    gold_parsed = _parse(gold)
    if not gold_parsed:
        return RewardResult.error(f"math-verify cannot parse the reference {gold[:60]!r}")
    pred_parsed = _parse(pred)
    if not pred_parsed:
        return RewardResult.incorrect(reason="math-verify cannot parse the answer")
    ok = verify(
        list(gold_parsed),
        list(pred_parsed),
        float_rounding=float_rounding,
        numeric_precision=numeric_precision,
        strict=strict,
        timeout_seconds=None,
    )
    return RewardResult.correct() if ok else RewardResult.incorrect(answer=_sympy_key(pred_parsed))


def _warmup() -> None:
    """Import math-verify and sympy and exercise the parser once, outside any item's deadline."""
    for name in ("math_verify", "math_verify.parser", "math_verify.grader"):
        # "Timeout is disabled" is expected here: the engine enforces the deadline.
        logging.getLogger(name).setLevel(logging.ERROR)
    verify_math_answer(("\\frac{1}{2}", "0.5", 6, 15, True))
    verify_math_answer(("(1,2]", "x^2+\\sqrt{3}", 6, 15, True))


verify_math_answer.rewardkit_warmup = _warmup  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- fast path


def _fast_verdict(gold: str, pred: str, *, strict: bool) -> bool | None:
    """The verdict when both answers are simple closed forms (exact arithmetic), else None.

    Only verdicts math-verify would give too: equal exact values are equal; unequal ones are
    left to math-verify when a decimal point is involved (its rounding may call 0.333333 and
    1/3 equal) or when the two are different kinds of object that it might still relate
    (a one-element set and a number, a set and a tuple, lists with different brackets).
    """
    g, p = closed_form(gold), closed_form(pred)
    if g is None or p is None:
        return None
    if g == p:
        return True
    if "." in gold or "." in pred:
        return None
    if g[0] == "mat" or p[0] == "mat":
        # Same shape, different entries: unequal. Anything else is math-verify's call.
        same_shape = g[0] == p[0] and [len(r) for r in g[1]] == [len(r) for r in p[1]]  # type: ignore[arg-type]
        return False if same_shape else None
    if g[0] != p[0]:
        # Different kinds of object: math-verify may still relate them (a set reference and a
        # tuple answer compare as lists, ``\\{1,2\\}`` = ``(1,2)``; a one-element set and a
        # number). A number is never a set of several values.
        kinds = {g[0], p[0]}
        several = all(len(x[1]) > 1 for x in (g, p) if x[0] == "set")  # type: ignore[arg-type]
        return False if kinds == {"num", "set"} and several else None
    if g[0] == "seq" and (g[1], g[2]) != (p[1], p[2]) and (len(g[3]) > 2 or len(p[3]) > 2):  # type: ignore[arg-type]
        return None
    return False


# --------------------------------------------------------------------------- component


AnswerSourceName = Literal["boxed", "answer_is", "last_dollar", "hashes", "last_number"]


class MathConfig(VerdictScoresConfig):
    answer_sources: list[AnswerSourceName] = Field(
        default_factory=lambda: ["boxed", "answer_is", "last_dollar"],
        min_length=1,
        description="Where to find the model's final answer, in order: the last \\boxed{} "
        "('boxed'), a 'the answer is ...' statement in the last lines ('answer_is'), the last "
        "$...$ of the last line ('last_dollar'), a '#### n' line ('hashes'), the last number of "
        "the last line ('last_number'). Never an earlier line of reasoning.",
    )
    reject_hedged: bool = Field(
        default=True,
        description="Score as incorrect a final paragraph that boxes several different answers "
        "('\\boxed{3} or \\boxed{5}'), unless the reference itself lists several answers.",
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Deadline per verification in seconds; default: the engine's timeout_s.",
    )
    float_rounding: int = Field(
        default=6, ge=0, le=50, description="math-verify: decimal places floats are rounded to."
    )
    numeric_precision: int = Field(
        default=15, ge=1, le=100, description="math-verify: significant digits in numeric checks."
    )
    strict: bool = Field(
        default=True,
        description="math-verify strict mode: variables matter and sets never equal tuples.",
    )


class _Pending:
    """A rollout whose verdict needs math-verify: one engine item per reference it may match."""

    __slots__ = ("answer", "gold_keys", "index", "items", "local_key")

    def __init__(
        self, index: int, answer: str, local_key: str | None, items: list[tuple[Any, ...]]
    ) -> None:
        self.index = index
        self.answer = answer  # normalised LaTeX
        self.local_key = local_key  # the closed-form key, when the answer is one
        self.items = items  # (gold, pred, options...): exactly what determines the verdict
        self.gold_keys = [canonical_answer(item[0]) for item in items]


def _golds(reference: object) -> list[str] | str:
    """The normalised accepted answers of a reference, or the reason there are none.

    A list or tuple is several acceptable answers (as for ``exact``), any of which is correct.
    """
    if reference is None:
        return "missing reference"
    refs = reference if isinstance(reference, (list, tuple)) else (reference,)
    golds: list[str] = []
    for ref in refs:
        if ref is not None and not isinstance(ref, (str, int, float)):
            return f"unsupported reference type {type(ref).__name__}"
        raw = reference_answer(ref)
        gold = normalize_answer(raw) if raw is not None else ""
        if gold and gold not in golds:
            golds.append(gold)
    return golds or "missing reference"


class MathVerifier(RewardComponent):
    """Math answers checked with math-verify (gold-first, LaTeX-normalised) under a hard deadline."""

    type: ClassVar[str] = "math"
    Config: ClassVar[type[ComponentConfig]] = MathConfig
    requires_reference: ClassVar[bool] = True
    provides_answers: ClassVar[bool] = True
    config: MathConfig

    # ------------------------------------------------------------------ per rollout, in process

    @staticmethod
    def _final_boxes(text: str) -> list[str]:
        """Normalised contents of the boxes in the paragraph of the last box."""
        last = text.rfind("\\boxed")
        if last < 0:
            return []
        paragraph = text[text.rfind("\n\n", 0, last) + 1 :]
        return [b for b in (normalize_answer(x) for x in find_boxed(paragraph)) if b]

    def _triage(self, rollout: Any, index: int, max_chars: int) -> RewardResult | _Pending:
        cfg = self.config
        golds = _golds(rollout.reference)
        if isinstance(golds, str):
            return RewardResult.error(golds)
        text = completion_tail(rollout.completion, max_chars)
        raw = extract_answer(text, cfg.answer_sources)
        if raw is None:
            return RewardResult.no_answer(score=cfg.no_answer_score)
        pred = normalize_answer(raw)
        if not pred:
            return RewardResult.no_answer("empty final answer", score=cfg.no_answer_score)
        if cfg.reject_hedged and text.count("\\boxed") > 1:
            boxes = self._final_boxes(text)
            if len(set(boxes)) > 1:
                if not any("," in gold for gold in golds):
                    return RewardResult.incorrect(
                        cfg.incorrect_score,
                        answer=canonical_answer(pred),
                        reason="hedged: several boxed answers",
                    )
                pred = ",".join(dict.fromkeys(boxes))  # a multi-part answer boxed part by part
        items = []
        for gold in golds:
            fast = True if pred == gold else _fast_verdict(gold, pred, strict=cfg.strict)
            if fast is True:  # every correct spelling reports the reference's key
                return RewardResult.correct(cfg.correct_score, answer=canonical_answer(gold))
            if fast is None:
                items.append((gold, pred, cfg.float_rounding, cfg.numeric_precision, cfg.strict))
        if not items:
            return RewardResult.incorrect(cfg.incorrect_score, answer=canonical_answer(pred))
        local_key = canonical_answer(pred) if closed_form(pred) is not None else None
        return _Pending(index, pred, local_key, items)

    def _triage_all(
        self, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> tuple[list[RewardResult | None], list[_Pending]]:
        max_chars = context.engine.config.max_input_chars
        out: list[RewardResult | None] = []
        pending: list[_Pending] = []
        for i, r in enumerate(rollouts):
            try:
                got = self._triage(r, i, max_chars)
            except Exception as exc:  # one odd rollout must not fail the batch
                got = RewardResult.error(f"{type(exc).__name__}: {exc}"[:300])
            if isinstance(got, _Pending):
                pending.append(got)
                out.append(None)
            else:
                out.append(got)
        return out, pending

    def _merge(
        self,
        out: list[RewardResult | None],
        pending: list[_Pending],
        verdicts: Sequence[RewardResult],
    ) -> list[RewardResult]:
        cfg = self.config
        at = 0
        for p in pending:
            mine = verdicts[at : at + len(p.items)]
            at += len(p.items)
            correct = next(
                (k for k, v in zip(p.gold_keys, mine) if v.outcome is Outcome.CORRECT), None
            )
            if correct is not None:
                out[p.index] = RewardResult.correct(cfg.correct_score, answer=correct)
                continue
            unsure = next((v for v in mine if v.outcome is not Outcome.INCORRECT), None)
            if unsure is not None:  # timeout / error: keep the outcome and the answer it was about
                answer = p.local_key or p.answer
                out[p.index] = RewardResult(unsure.score, unsure.outcome, unsure.reason, answer)
                continue
            answer = p.local_key or mine[0].answer or p.answer
            out[p.index] = RewardResult.incorrect(
                cfg.incorrect_score, answer=answer, reason=mine[0].reason
            )
        return out  # type: ignore[return-value]

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        out, pending = self._triage_all(rollouts, context)
        if not pending:
            return out  # type: ignore[return-value]
        items = [item for p in pending for item in p.items]
        verdicts = context.engine.map(
            verify_math_answer, items, keys=items, timeout_s=self.config.timeout_s
        )
        return self._merge(out, pending, verdicts)

    async def ascore(
        self, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        out, pending = self._triage_all(rollouts, context)
        if not pending:
            return out  # type: ignore[return-value]
        items = [item for p in pending for item in p.items]
        verdicts = await context.engine.amap(
            verify_math_answer, items, keys=items, timeout_s=self.config.timeout_s
        )
        return self._merge(out, pending, verdicts)
