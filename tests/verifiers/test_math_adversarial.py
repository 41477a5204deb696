"""Regression cases from an adversarial review of the ``math`` verifier against math-verify.

Each pair below is one math-verify calls equal that rewardkit used to score as incorrect, or
two spellings math-verify calls equal that used to get two answer keys.
"""

from __future__ import annotations

import time

import pytest
from math_pairs import completion_of, math_verify_verdict

from rewardkit import ExecutionEngine, Outcome, Rollout, ScoringContext
from rewardkit.verifiers import MathVerifier
from rewardkit.verifiers._extract import extract_final_answer
from rewardkit.verifiers._math import MathConfig


def _score(engine: ExecutionEngine, rows: list[tuple[str, str]]) -> list:  # type: ignore[type-arg]
    rollouts = [Rollout(prompt="q", completion=c, reference=r) for r, c in rows]
    return MathVerifier(MathConfig(timeout_s=30.0)).score(rollouts, ScoringContext(engine=engine))


# (reference, model's boxed answer): math-verify says correct; rewardkit said incorrect.
WAS_INCORRECT = [
    ("2xy", "2 xy"),  # a two-letter word after a number was dropped as a unit
    ("2AB", "2 AB"),  # `ab` is a unit to math-verify, `AB` is not
    ("5", "5\\text{ cm}^2"),  # a squared unit
    ("5", "5\\,\\text{cm}^{2}"),
    ("\\{1,2\\}", "(1,2)"),  # a set reference and a tuple answer compare as lists
    ("(1,2)", "\\{1,2\\}"),
    ("1,2", "(1,2)"),
    ("(1,2,3)", "\\{1,2,3\\}"),
    ("(1, \\infty)", "(1, \\infty]"),  # an infinite end is never in an interval
    ("[-\\infty, 1)", "(-\\infty, 1)"),
]


@pytest.mark.parametrize(("gold", "pred"), WAS_INCORRECT)
def test_never_incorrect_where_math_verify_says_correct(
    engine: ExecutionEngine, gold: str, pred: str
) -> None:
    completion = completion_of(pred)
    assert math_verify_verdict(gold, completion)
    (result,) = _score(engine, [(gold, completion)])
    assert result.outcome is Outcome.CORRECT, result


# Spellings math-verify calls equal that used to get two keys, and the key they share.
ONE_KEY = [
    (["5", "\\{5\\}", "5,5"], "5"),
    (["(1, \\infty)", "(1, \\infty]", "\\left(1,\\infty\\right]"], "(1, oo)"),
    (["1267650600228229401496703205376", "2^{100}"], "1267650600228229401496703205376"),
    (["120", "5!"], "120"),
    (["2xy", "2 xy"], "2*x*y"),
    (["5", "5\\text{ cm}^2"], "5"),
]


@pytest.mark.parametrize(("spellings", "key"), ONE_KEY)
def test_equal_spellings_share_one_key(
    engine: ExecutionEngine, spellings: list[str], key: str
) -> None:
    for a in spellings:
        for b in spellings:
            assert math_verify_verdict(a, completion_of(b)), (a, b)
    results = _score(engine, [("\\text{zz}", completion_of(s)) for s in spellings])
    assert [r.outcome for r in results] == [Outcome.INCORRECT] * len(spellings)
    assert {r.answer for r in results} == {key}, results


@pytest.mark.parametrize(
    ("gold", "pred"),
    [("2", "2 xy"), ("4", "4 dog"), ("(1,2)", "(2,1)"), ("(1, \\infty)", "[1, \\infty)")],
)
def test_still_incorrect_where_math_verify_says_incorrect(
    engine: ExecutionEngine, gold: str, pred: str
) -> None:
    completion = completion_of(pred)
    assert not math_verify_verdict(gold, completion)
    (result,) = _score(engine, [(gold, completion)])
    assert result.outcome is Outcome.INCORRECT, result


def test_big_worker_keys_stay_bounded(engine: ExecutionEngine) -> None:
    # Still not evaluated for a key: a huge power and a big factorial keep their LaTeX.
    results = _score(engine, [("7", completion_of("2^{100000}")), ("7", completion_of("500!"))])
    assert [r.outcome for r in results] == [Outcome.INCORRECT] * 2
    assert all(len(r.answer or "") < 64 for r in results), results


ADVERSARIAL_TEXTS = [
    "\\boxed{" + "\\cdot".join(["9^{64}"] * 30) + "}",
    "\\boxed{" + "\\text{" * 400 + "5" + "}" * 400 + "}",
    "\\boxed{" + "\\left(" * 300 + "5" + "\\right)" * 300 + "}",
    "\\boxed{1" + " 000" * 300 + "}",
    "\\boxed{" + "1 " * 500 + "x}",
    "\\boxed{5" + "\\text{ cm}" * 200 + "^2}",
    "\\boxed{\\{" + ",".join(["\\sqrt{999999999989}"] * 12) + "\\}}",
    "\\boxed{(" + ",".join(["\\infty"] * 300) + "]}",
    "\\boxed{5" + " ab" * 300 + "}",
]


@pytest.mark.parametrize("text", ADVERSARIAL_TEXTS)
def test_in_process_work_is_bounded(text: str) -> None:
    verifier = MathVerifier(MathConfig())
    start = time.perf_counter()
    extract_final_answer(text)
    verifier._triage(Rollout(prompt="q", completion=text, reference="5"), 0, 200_000)
    assert time.perf_counter() - start < 1.0
