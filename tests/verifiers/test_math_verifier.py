"""The ``math`` verifier: equivalences, false-positive traps, bad input, deadlines."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from engine_fns import MARGIN_S, TEST_DEADLINE_S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewardkit import ExecutionEngine, Outcome, RewardPipeline, Rollout, ScoringContext
from rewardkit.verifiers import MathVerifier
from rewardkit.verifiers._math import MathConfig, _fast_verdict, verify_math_answer


def _score(context: ScoringContext, pairs: list[tuple[object, object]], **cfg: object):  # type: ignore[no-untyped-def]
    # Verdict tests get a generous deadline: sympy may take a second on a busy 2-core box.
    # Deadline tests pass timeout_s=None (the engine's TEST_DEADLINE_S).
    cfg.setdefault("timeout_s", 30.0)
    verifier = MathVerifier(MathConfig(**cfg))
    rollouts = [Rollout(prompt="q", completion=c, reference=r) for c, r in pairs]
    return verifier.score(rollouts, context)


EQUIVALENT = [
    # (completion, reference as datasets store it)
    ("so \\boxed{\\frac13}", "\\frac{1}{3}"),
    ("\\boxed{\\dfrac{1}{3}}", "$\\frac{1}{3}$"),
    ("\\boxed{0.5}", "\\frac{1}{2}"),
    ("\\boxed{2 \\sqrt 3}", "2\\sqrt{3}"),
    ("\\boxed{\\sqrt{12}}", "2\\sqrt{3}"),
    ("\\boxed{5, 3}", "3, 5"),  # unordered solution set
    ("\\boxed{\\left(-\\infty, 2\\right]}", "(-\\infty, 2]"),
    ("\\boxed{x = 5}", "5"),
    ("\\boxed{5}", "x=5"),
    ("\\boxed{1,000}", "1000"),
    ("\\boxed{\\$1,000}", "1000"),
    ("\\boxed{10\\text{ cm}}", "10"),
    ("\\boxed{30^\\circ}", "30"),
    ("\\boxed{\\frac{\\pi}{2}}", "\\pi/2"),
    ("\\boxed{(x+3)^2}", "x^2+6x+9"),
    ("The answer is $\\frac{3}{4}$.", "0.75"),
    ("Final answer: 12", "#### 12"),
    ("\\boxed 7$", "7"),
    ("\\boxed{7}.", "Worked solution: 3+4 gives $\\boxed{7}$."),
    ([{"role": "assistant", "content": "\\boxed{42}"}], "42"),
]


@pytest.mark.parametrize(("completion", "reference"), EQUIVALENT)
def test_equivalent_answers_are_correct(
    context: ScoringContext, completion: object, reference: object
) -> None:
    (result,) = _score(context, [(completion, reference)])
    assert result.outcome is Outcome.CORRECT, result
    assert result.score == 1.0 and result.answer


TRAPS = [
    # gold in the reasoning, not in the final box
    ("First I got $12$. Checking again, the answer is \\boxed{15}.", "12"),
    # a bare two-element gold must not match one of its elements (TRL parses '3, 5' as 5)
    ("\\boxed{5}", "3, 5"),
    # ordered tuples and intervals are not sets
    ("\\boxed{(5, 3)}", "(3, 5)"),
    ("\\boxed{(-\\infty, 2)}", "(-\\infty, 2]"),
    # shotgun list
    ("\\boxed{1, 2, 3, 4, 5}", "3"),
    # hedged: two boxed answers in the final paragraph
    ("It is either \\boxed{3} or \\boxed{5}.", "3"),
    ("\\boxed{\\pm 2}", "2"),
    ("\\boxed{\\frac{2\\pi}{2}}", "\\frac{\\pi}{2}"),
    ("\\boxed{2\\sqrt{3}}", "3\\sqrt{2}"),
    ("\\boxed{x^2+3x+9}", "x^2+6x+9"),
    # words after a number that change its value are not units
    ("\\boxed{3 million}", "3"),
    ("\\boxed{2 thirds}", "2"),
    ("\\boxed{3 squared}", "3"),
    ("\\boxed{2 dozen}", "2"),
    ("\\boxed{5\\text{ million}}", "5"),
]


@pytest.mark.parametrize(("completion", "reference"), TRAPS)
def test_false_positive_traps_are_incorrect(
    context: ScoringContext, completion: str, reference: str
) -> None:
    (result,) = _score(context, [(completion, reference)])
    assert result.outcome is Outcome.INCORRECT, result
    assert result.score == 0.0


def test_hedge_reason_and_multi_part_answers(context: ScoringContext) -> None:
    hedged, parts = _score(
        context,
        [("maybe \\boxed{3} or \\boxed{5}", "3"), ("(a) \\boxed{3} and (b) \\boxed{5}", "3, 5")],
    )
    assert "hedged" in hedged.reason
    assert parts.outcome is Outcome.CORRECT


def test_never_from_an_earlier_line_of_reasoning(context: ScoringContext) -> None:
    text = "If the answer is 5 then the sum is odd.\nIt is not.\nSo we continue.\nThe end.\n"
    (result,) = _score(context, [(text, "5")])
    assert result.outcome is Outcome.NO_ANSWER


def test_fallbacks_are_configurable(context: ScoringContext) -> None:
    text = "Working... therefore the answer is 12."
    boxed_only, default = (
        _score(context, [(text, "12")], answer_sources=["boxed"])[0],
        _score(context, [(text, "12")])[0],
    )
    assert boxed_only.outcome is Outcome.NO_ANSWER
    assert default.outcome is Outcome.CORRECT


@pytest.mark.parametrize(
    "completion",
    [None, "", 42, ["not", "messages"], {"role": "assistant"}, "no answer here", "\x00\x01\x02"],
)
def test_bad_completions_get_no_answer(context: ScoringContext, completion: object) -> None:
    (result,) = _score(context, [(completion, "3")])
    assert result.outcome is Outcome.NO_ANSWER


def test_missing_reference_is_an_error_outcome(context: ScoringContext) -> None:
    (result,) = _score(context, [("\\boxed{3}", None)])
    assert result.outcome is Outcome.ERROR and "reference" in result.reason


def test_huge_and_deeply_nested_inputs(context: ScoringContext) -> None:
    pairs: list[tuple[object, object]] = [
        ("x" * 1_000_000 + " so \\boxed{7}", "7"),
        ("{" * 3000 + "}" * 3000, "1"),
        ("\\boxed{" + "{" * 3000 + "1" + "}" * 3001, "1"),
        ("\\boxed{" * 5000, "1"),
        ("\\boxed{\x00 5 \x07}", "5"),
    ]
    t0 = time.monotonic()
    results = _score(context, pairs)
    assert time.monotonic() - t0 < 5
    assert results[0].outcome is Outcome.CORRECT  # the tail (where the answer is) is kept
    assert [r.outcome for r in results[1:4]] == [Outcome.NO_ANSWER] * 3
    assert results[4].outcome in (Outcome.CORRECT, Outcome.INCORRECT)


TOWERS = ["\\boxed{9^{9^{9^{9}}}}", "\\boxed{(10^{10^{10}})!}"]


def _warm(context: ScoringContext) -> None:
    # A worker replaced after a timeout imports math-verify again (seconds on a busy box);
    # the deadline is about the item, so the timing starts with warm workers.
    assert context.engine.warmup(verify_math_answer)


def test_power_towers_time_out_within_the_deadline(context: ScoringContext) -> None:
    _warm(context)
    t0 = time.monotonic()
    results = _score(context, [(t, "3") for t in TOWERS] + [("\\boxed{3}", "3")], timeout_s=None)
    elapsed = time.monotonic() - t0
    assert [r.outcome for r in results] == [Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.CORRECT]
    assert results[0].answer == "9^{9^{9^{9}}}"  # the answer is still reported
    assert elapsed < TEST_DEADLINE_S + MARGIN_S


def test_power_tower_from_a_non_main_thread(context: ScoringContext) -> None:
    box: dict[str, object] = {}
    _warm(context)

    def run() -> None:
        t0 = time.monotonic()
        box["result"] = _score(context, [(TOWERS[0], "3")], timeout_s=None)[0]
        box["elapsed"] = time.monotonic() - t0

    thread = threading.Thread(target=run, name="verl-reward-loop-like")
    thread.start()
    thread.join(timeout=60)
    assert box["result"].outcome is Outcome.TIMEOUT  # type: ignore[attr-defined]
    assert box["elapsed"] < TEST_DEADLINE_S + MARGIN_S  # type: ignore[operator]


def test_power_tower_from_an_asyncio_task(context: ScoringContext) -> None:
    verifier = MathVerifier()
    _warm(context)

    async def main() -> tuple[object, float]:
        t0 = time.monotonic()
        task = asyncio.create_task(
            verifier.ascore([Rollout(prompt="q", completion=TOWERS[1], reference="3")], context)
        )
        (result,) = await task
        return result, time.monotonic() - t0

    result, elapsed = asyncio.run(main())
    assert result.outcome is Outcome.TIMEOUT  # type: ignore[attr-defined]
    assert elapsed < TEST_DEADLINE_S + MARGIN_S


def test_collapsed_group_is_verified_once(context: ScoringContext) -> None:
    # Eight samples with one (sympy-requiring) answer: one engine item, served from the cache.
    pairs = [("\\boxed{(x+1)^2}", "x^2+2x+1")] * 8
    results = _score(context, pairs)
    assert all(r.outcome is Outcome.CORRECT for r in results)
    key = ("x^2+2x+1", "(x+1)^2", 6, 15, True)
    assert any(k[1] == key for k in context.engine._cache)


def test_fast_path_agrees_with_math_verify_on_simple_forms() -> None:
    pairs = [
        ("\\frac{1}{2}", "0.5"),
        ("2\\sqrt{3}", "\\sqrt{12}"),
        ("3,5", "5,3"),
        ("(1,2]", "(1,2)"),
        ("\\frac{\\pi}{2}", "\\frac{2\\pi}{4}"),
        ("7", "8"),
        ("3,5", "5"),
        ("-\\frac{3}{4}", "\\frac{-3}{4}"),
    ]
    for gold, pred in pairs:
        fast = _fast_verdict(gold, pred, strict=True)
        assert fast is not None
        slow = verify_math_answer((gold, pred, 6, 15, True)).outcome is Outcome.CORRECT
        assert fast == slow, (gold, pred)


def test_decimals_that_differ_go_to_math_verify() -> None:
    assert _fast_verdict("\\frac{1}{3}", "0.333333", strict=True) is None


def test_pipeline_with_math_reports_outcome_metrics() -> None:
    config = {"rewards": [{"type": "math"}], "engine": {"workers": 1}}
    with RewardPipeline(config) as pipe:
        scored = pipe.score(
            [
                Rollout(prompt="a", completion="\\boxed{2}", reference="2"),
                Rollout(prompt="a", completion="\\boxed{3}", reference="2"),
                Rollout(prompt="a", completion="nothing", reference="2"),
            ]
        )
    assert scored.rewards == [1.0, 0.0, 0.0]
    assert scored.answers("math") == ["2", "3", None]
    assert scored.metrics["rewardkit/math/frac_no_answer"] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- canonical answers


HALF_SPELLINGS = ["0.5", "1/2", "\\frac{1}{2}", ".5", "\\frac{2}{4}", "0.50", "\\frac12", "2^{-1}"]


def test_equivalent_correct_answers_share_one_answer_key(context: ScoringContext) -> None:
    # Exploration and repetition terms key on `answer`: a re-spelling must not be a new answer.
    results = _score(context, [(f"\\boxed{{{a}}}", "\\frac{1}{2}") for a in HALF_SPELLINGS])
    assert [r.outcome for r in results] == [Outcome.CORRECT] * len(HALF_SPELLINGS)
    assert {r.answer for r in results} == {"1/2"}


def test_correct_answers_report_the_references_key(context: ScoringContext) -> None:
    results = _score(
        context,
        [("\\boxed{(x+1)^2}", "x^2+2x+1"), ("\\boxed{x^2+2x+1}", "$x^2 + 2x + 1$")],
    )
    assert [r.outcome for r in results] == [Outcome.CORRECT] * 2
    assert results[0].answer == results[1].answer == "x^2+2x+1"


@pytest.mark.parametrize(
    ("spellings", "key"),
    [
        (["0.3", "3/10", "\\frac{3}{10}", "\\dfrac{6}{20}", ".30"], "3/10"),
        (["-3", "-3.0", "\\frac{-6}{2}", "-\\frac{3}{1}"], "-3"),
        (["\\sqrt{12}", "2\\sqrt{3}", "2 \\sqrt 3"], "2*sqrt(3)"),
        (["5, 3", "3,5", "\\{5, 3\\}"], "{3, 5}"),
        (["(3, 5)", "\\left(3,5\\right)"], "(3, 5)"),
        (["x+1", "1+x", "x + 1"], "x + 1"),  # not a closed form: sympy's text, from the worker
        (["0.5", "2^{-1}", "\\frac{1}{2}"], "1/2"),  # the closed-form and sympy keys agree
        (["2^{100}"], "1267650600228229401496703205376"),  # small: the key of its value
        (["2^{100000}"], "2**100000"),  # not evaluated: the key must not cost more than the verdict
    ],
)
def test_wrong_answers_spelled_differently_share_one_key(
    context: ScoringContext, spellings: list[str], key: str
) -> None:
    results = _score(context, [(f"\\boxed{{{a}}}", "7") for a in spellings])
    assert [r.outcome for r in results] == [Outcome.INCORRECT] * len(spellings)
    assert {r.answer for r in results} == {key}


def test_sets_tuples_and_intervals_keep_distinct_keys(context: ScoringContext) -> None:
    answers = ["3, 5", "(3, 5)", "(3, 5]", "[3, 5]", "(5, 3)"]
    results = _score(context, [(f"\\boxed{{{a}}}", "7") for a in answers])
    assert [r.answer for r in results] == ["{3, 5}", "(3, 5)", "(3, 5]", "[3, 5]", "(5, 3)"]


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("completion", "reference"),
    [
        ("so \\boxed{\\boxed{2}}", "2"),  # TRL's accuracy_reward gets these three right too
        ("The answer is \\[ 42 \\]", "42"),
        ("the answer is **10**.", "10"),
        ("The answer is \\( \\frac12 \\).", "0.5"),
        ("\\boxed{12 apples}", "12"),
        ("The answer is 12 apples.", "12"),
    ],
)
def test_wrapped_answers_are_found(
    context: ScoringContext, completion: str, reference: str
) -> None:
    (result,) = _score(context, [(completion, reference)])
    assert result.outcome is Outcome.CORRECT, result


def test_a_unit_is_not_algebra(context: ScoringContext) -> None:
    (result,) = _score(context, [("\\boxed{2x}", "2")])
    assert result.outcome is Outcome.INCORRECT


# --------------------------------------------------------------------------- references


def test_a_list_reference_is_several_accepted_answers(context: ScoringContext) -> None:
    results = _score(
        context,
        [
            ("\\boxed{3}", ["3", "4"]),
            ("\\boxed{4}", ("3", "4")),
            ("\\boxed{0.5}", ["\\frac{1}{3}", "\\frac{1}{2}"]),
            ("\\boxed{(x+1)^2}", ["7", "x^2+2x+1"]),  # a math-verify verdict on the second
            ("\\boxed{5}", ["3", "4"]),
        ],
    )
    assert [r.outcome for r in results] == [Outcome.CORRECT] * 4 + [Outcome.INCORRECT]
    assert [r.answer for r in results] == ["3", "4", "1/2", "x^2+2x+1", "5"]


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ({"answer": "3"}, "unsupported reference type dict"),
        (["3", {"answer": "3"}], "unsupported reference type dict"),
        ([], "missing reference"),
        (["", None], "missing reference"),
    ],
)
def test_unusable_references_say_why(
    context: ScoringContext, reference: object, reason: str
) -> None:
    (result,) = _score(context, [("\\boxed{3}", reference)])
    assert result.outcome is Outcome.ERROR
    assert result.reason == reason


# --------------------------------------------------------------------------- fuzzing end to end


_SOUP = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            ["\\boxed{", "}", "{", "\\frac", "^{", "\\sqrt", "\\[", "\\]", "**", "$", "^{9}"]
        ),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    completions=st.lists(
        st.one_of(
            _SOUP,
            st.text(max_size=300),
            st.integers(0, 5000).map(lambda d: "\\boxed{" + "{" * d + "1" + "}" * (d + 1)),
            st.integers(0, 200_000).map(lambda n: "x" * n + "\\boxed{7}"),
        ),
        min_size=1,
        max_size=8,
    ),
    reference=st.one_of(st.sampled_from(["7", "\\frac{1}{2}", "x^2+1", "(1, 2]"]), _SOUP),
    where=st.integers(0, 8),
)
def test_fuzz_score_end_to_end(
    engine: ExecutionEngine, completions: list[str], reference: str, where: int
) -> None:
    context = ScoringContext(engine=engine)  # the session engine: no per-example fixture
    rollouts = [Rollout(prompt="q", completion=c, reference=reference) for c in completions]
    where = min(where, len(rollouts))
    # A marker rollout with a known verdict at a random place: order must be kept.
    rollouts.insert(where, Rollout(prompt="q", completion="\\boxed{0.25}", reference="1/4"))
    verifier = MathVerifier()
    _warm(context)
    t0 = time.monotonic()
    results = verifier.score(rollouts, context)
    elapsed = time.monotonic() - t0
    assert len(results) == len(rollouts)
    assert all(isinstance(r.outcome, Outcome) for r in results)
    assert all(r.answer is None or isinstance(r.answer, str) for r in results)
    assert (results[where].outcome, results[where].answer) == (Outcome.CORRECT, "1/4")
    # Engine items run two at a time, each within the deadline; a killed worker is replaced.
    stuck = sum(r.outcome in (Outcome.TIMEOUT, Outcome.ERROR) for r in results)
    assert elapsed < (1 + stuck) * TEST_DEADLINE_S + MARGIN_S, results
