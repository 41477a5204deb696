"""Throughput of the ``math`` verifier against TRL's ``accuracy_reward``, same input, same run.

Builds a GRPO-like batch (default 4096 math completions: 256 prompts x 16 samples, long
reasoning text, about 8 samples per distinct answer; correct, wrong, unboxed, shorthand and
junk answers mixed) whose correct verdicts are known by construction, then scores it

* with rewardkit's ``math`` verifier through :class:`rewardkit.RewardPipeline` (worker
  processes, ``engine.workers`` = 2 by default), and
* with ``trl.rewards.accuracy_reward`` (math-verify, one process; gold wrapped in ``$...$`` so
  that bare references parse, which is the fair setting for the baseline).

Both are warmed up on a separate batch first (imports, worker start-up, math-verify's parse
cache), then timed once on the main batch. It prints both rates, their ratio, per-item latency
percentiles (single-rollout calls), and every rollout on which the two verdicts differ, marked
with which of them agrees with the known truth.

    .venv/bin/python benchmarks/verify_throughput.py [--n 4096] [--workers 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import time
from dataclasses import dataclass

# --------------------------------------------------------------------------- the batch


@dataclass(frozen=True)
class Case:
    prompt: str
    gold: str  # bare, as datasets store it
    completion: str
    truth: float  # 1.0 when the final answer is right
    kind: str


_FILLER = [
    "Let us set up the problem carefully.",
    "First we write down what is given and what is asked.",
    "We can simplify the expression step by step.",
    "Substituting the values, we get ${a} + {b} = {c}$.",
    "Multiplying both sides by ${a}$ gives ${d}$.",
    "Note that ${a}^2 = {e}$, which we will use below.",
    "We check the case $n = {a}$ separately.",
    "Hence the intermediate value is $x = {b}$, but we are not done yet.",
    "Wait, let me re-check the arithmetic: ${c} - {a} = {b}$.",
    "Using the identity $(u+v)^2 = u^2 + 2uv + v^2$ we expand the square.",
    "The discriminant is $\\Delta = {e} - 4 \\cdot {a} = {f}$.",
    "So the sum of the first {a} terms is $\\frac{{{a}({a}+1)}}{{2}}$.",
]


def _reasoning(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        out.append(rng.choice(_FILLER).format(a=a, b=b, c=a + b, d=a * b, e=a * a, f=a * a - 4 * a))
        if rng.random() < 0.15:
            out.append("\n\n")
    return " ".join(out)


def _problem(rng: random.Random) -> tuple[str, list[str], list[str], list[str]]:
    """(gold, correct spellings, shorthand/alternative spellings, wrong answers)."""
    kind = rng.randrange(14)
    if kind == 0:
        n = rng.randint(2, 999)
        return str(n), [str(n)], [f"{n}.0"], [str(n + rng.randint(1, 9))]
    if kind == 1:
        n = rng.randint(1000, 99999)
        return str(n), [str(n)], [f"{n:,}"], [str(n - rng.randint(1, 99))]
    if kind == 2:
        a, b = rng.choice([(1, 3), (2, 3), (3, 4), (1, 7), (5, 9), (4, 7), (2, 9)])
        return (
            f"\\frac{{{a}}}{{{b}}}",
            [f"\\frac{{{a}}}{{{b}}}"],
            [f"\\frac{a}{b}", f"\\dfrac{{{a}}}{{{b}}}"],
            [f"\\frac{{{b}}}{{{a}}}"],
        )
    if kind == 3:
        a, b = rng.choice([(1, 2), (3, 4), (1, 4), (3, 8), (5, 8)])
        return f"\\frac{{{a}}}{{{b}}}", [f"\\frac{{{a}}}{{{b}}}"], [str(a / b)], [str(b / a)]
    if kind == 4:
        k, m = rng.choice([2, 3, 4, 5]), rng.choice([2, 3, 5, 6, 7])
        return (
            f"{k}\\sqrt{{{m}}}",
            [f"{k}\\sqrt{{{m}}}"],
            [f"{k}\\sqrt {m}", f"\\sqrt{{{k * k * m}}}"],
            [f"{k}\\sqrt{{{m + 1}}}"],
        )
    if kind == 5:
        r1, r2 = sorted(rng.sample(range(-9, 10), 2))
        return f"{r1}, {r2}", [f"{r1}, {r2}"], [f"{r2}, {r1}"], [f"{r2}"]
    if kind == 6:
        a = rng.randint(-9, 9)
        return (
            f"(-\\infty, {a}]",
            [f"(-\\infty, {a}]"],
            [f"\\left(-\\infty, {a}\\right]"],
            [f"(-\\infty, {a})"],
        )
    if kind == 7:
        k, m = rng.choice([(1, 2), (1, 3), (2, 3), (3, 4), (1, 6)])
        return (
            f"\\frac{{{k}\\pi}}{{{m}}}" if k > 1 else f"\\frac{{\\pi}}{{{m}}}",
            [f"\\frac{{{k}\\pi}}{{{m}}}" if k > 1 else f"\\frac{{\\pi}}{{{m}}}"],
            [f"\\dfrac{{{k}\\pi}}{{{m}}}" if k > 1 else f"\\dfrac{{\\pi}}{{{m}}}"],
            [f"\\frac{{{k + 1}\\pi}}{{{m}}}"],
        )
    if kind == 8:
        d = rng.choice([30, 45, 60, 120, 135])
        return str(d), [str(d)], [f"{d}^\\circ"], [str(180 - d)]
    if kind == 9:
        a, b = rng.randint(1, 9), rng.randint(10, 20)
        return f"({a}, {b})", [f"({a}, {b})"], [f"\\left( {a}, {b} \\right)"], [f"({b}, {a})"]
    if kind == 11:  # vectors and matrices: other spacing, other brackets
        a, b, c, d = (rng.randint(-9, 9) for _ in range(4))
        if rng.random() < 0.5:
            return (
                f"\\begin{{pmatrix}} {a} \\\\ {b} \\end{{pmatrix}}",
                [f"\\begin{{pmatrix}} {a} \\\\ {b} \\end{{pmatrix}}"],
                [
                    f"\\begin{{pmatrix}}{a}\\\\{b}\\end{{pmatrix}}",
                    f"\\begin{{bmatrix}} {a}\\\\ {b} \\end{{bmatrix}}",
                ],
                [f"\\begin{{pmatrix}} {a} \\\\ {b + 1} \\end{{pmatrix}}"],
            )
        return (
            f"\\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d} \\end{{pmatrix}}",
            [f"\\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d} \\end{{pmatrix}}"],
            [f"\\begin{{pmatrix}}{a}&{b}\\\\{c}&{d}\\end{{pmatrix}}"],
            [f"\\begin{{pmatrix}} {a} & {b} \\\\ {d} & {c + 1} \\end{{pmatrix}}"],
        )
    if kind == 12:  # digit groups
        n = rng.randint(10**6, 10**8)
        return (
            str(n),
            [str(n)],
            [f"{n:,}".replace(",", "{,}"), f"{n:,}".replace(",", "\\,")],
            [f"{n + rng.randint(1, 99):,}".replace(",", "{,}")],
        )
    if kind == 13:  # mixed numbers
        w, b = rng.randint(1, 9), rng.choice([2, 3, 4, 5, 7, 8])
        return (
            f"\\frac{{{w * b + 1}}}{{{b}}}",
            [f"\\frac{{{w * b + 1}}}{{{b}}}"],
            [f"{w}\\frac{{1}}{{{b}}}", f"{w}\\tfrac1{b}"],
            [f"\\frac{{{w}}}{{{b}}}"],
        )
    # An expression: only sympy can tell the equivalent and the wrong ones apart.
    a = rng.randint(2, 9)
    return (
        f"x^2 + {2 * a}x + {a * a}",
        [f"x^2 + {2 * a}x + {a * a}"],
        [f"(x+{a})^2"],
        [f"x^2 + {a}x + {a * a}"],
    )


def _completion(rng: random.Random, answer: str | None, style: str) -> str:
    body = _reasoning(rng, rng.randint(25, 60))
    if answer is None:  # junk: ran out of tokens mid-thought
        return body + " So we need to consider the remaining case where"
    if style == "boxed":
        return f"{body}\n\nTherefore, the final answer is $\\boxed{{{answer}}}$."
    if style == "unboxed":
        return f"{body}\n\nThe answer is ${answer}$."
    return f"{body}\n\nSo the answer is \\boxed{{{answer}}}."


def build_batch(n: int, group: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    p = 0
    while len(cases) < n:
        gold, right, alt, wrong = _problem(rng)
        prompt = f"Problem {seed}-{p}: compute the requested quantity."
        p += 1
        # Per group about two distinct answers: mostly one correct spelling, one wrong answer,
        # plus some shorthand, unboxed and junk samples.
        for _ in range(group):
            r = rng.random()
            if r < 0.40:
                case = Case(prompt, gold, _completion(rng, right[0], "boxed"), 1.0, "correct")
            elif r < 0.50:
                # Shorthand and alternative spellings.
                a = rng.choice(alt)
                case = Case(prompt, gold, _completion(rng, a, "boxed2"), 1.0, "shorthand")
            elif r < 0.60:
                case = Case(prompt, gold, _completion(rng, right[0], "unboxed"), 1.0, "unboxed")
            elif r < 0.97:
                case = Case(prompt, gold, _completion(rng, wrong[0], "boxed"), 0.0, "wrong")
            else:
                case = Case(prompt, gold, _completion(rng, None, "boxed"), 0.0, "junk")
            cases.append(case)
    return cases[:n]


# --------------------------------------------------------------------------- scorers


def baseline_scores(cases: list[Case]) -> list[float]:
    from trl.rewards import accuracy_reward

    completions = [[{"role": "assistant", "content": c.completion}] for c in cases]
    solutions = [f"${c.gold}$" for c in cases]
    return [0.0 if r is None else float(r) for r in accuracy_reward(completions, solutions)]


def rewardkit_pipeline(workers: int):  # type: ignore[no-untyped-def]
    from rewardkit import RewardPipeline

    return RewardPipeline({"rewards": [{"type": "math"}], "engine": {"workers": workers}})


def rewardkit_scores(pipeline, cases: list[Case]) -> tuple[list[float], list[str]]:  # type: ignore[no-untyped-def]
    from rewardkit import Rollout

    rollouts = [Rollout(prompt=c.prompt, completion=c.completion, reference=c.gold) for c in cases]
    scored = pipeline.score(rollouts)
    return scored.components["math"], [r.outcome.value for r in scored.details["math"]]


def agreement_with_math_verify(n: int, seed: int, workers: int) -> None:
    """Verdicts next to speed: agreement with math-verify's own verdicts on the fixed-seed
    differential corpus of benchmarks/math_differential.py (every answer form)."""
    import math_differential as md

    pairs = md.corpus(n, seed)
    items = [(p.gold, md.completion_of(p.pred)) for p in pairs]
    oracle = md.oracle_verdicts(items, workers)
    results = md.rewardkit_results(pairs, workers)
    agree = explained = unexplained = 0
    for pair, item, result in zip(pairs, items, results):
        mv = oracle[item]
        if mv is None or (result.outcome.value == "correct") == mv:  # type: ignore[attr-defined]
            agree += 1
        elif md.explain(pair, mv, result) is not None:
            explained += 1
        else:
            unexplained += 1
    print(
        f"agreement with math-verify on the differential corpus ({n} pairs, seed {seed}, "
        f"{len(md.FORMS)} answer forms): {agree} agree ({100 * agree / n:.2f} %), {explained} "
        f"documented deliberate differences, {unexplained} unexplained"
    )


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="completions in the timed batch")
    parser.add_argument("--group", type=int, default=16, help="samples per prompt")
    parser.add_argument("--workers", type=int, default=2, help="rewardkit engine workers")
    parser.add_argument("--latency-items", type=int, default=200, help="single-item calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--diff-n",
        type=int,
        default=2000,
        help="pairs of the differential corpus (benchmarks/math_differential.py) on which "
        "agreement with math-verify is reported; 0 skips it",
    )
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    cases = build_batch(args.n, args.group, args.seed)
    warm = build_batch(256, args.group, args.seed + 1)
    single = build_batch(args.latency_items, args.group, args.seed + 2)
    from rewardkit.verifiers import extract_final_answer

    answers = [(c.prompt, extract_final_answer(c.completion)) for c in cases]
    with_answer = [a for a in answers if a[1] is not None]
    chars = statistics.mean(len(c.completion) for c in cases)
    print(
        f"batch: {len(cases)} completions, {len({c.prompt for c in cases})} prompts, "
        f"{len(with_answer) / len(set(with_answer)):.1f} samples per distinct final answer, "
        f"mean {chars:.0f} chars; cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.2f}"
    )

    # ---- baseline: warm, then timed
    baseline_scores(warm)
    t0 = time.perf_counter()
    base = baseline_scores(cases)
    t_base = time.perf_counter() - t0

    # ---- rewardkit: warm (starts and warms the workers), then timed
    with rewardkit_pipeline(args.workers) as pipeline:
        rewardkit_scores(pipeline, warm)
        t0 = time.perf_counter()
        rk, outcomes = rewardkit_scores(pipeline, cases)
        t_rk = time.perf_counter() - t0

        # ---- per-item latency: one rollout per call, fresh inputs
        lat_rk, lat_base = [], []
        for c in single:
            t0 = time.perf_counter()
            rewardkit_scores(pipeline, [c])
            lat_rk.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            baseline_scores([c])
            lat_base.append(time.perf_counter() - t0)
        # ---- per-item latency on the worker path: fresh expressions only sympy can compare
        rng = random.Random(args.seed + 3)
        hard = []
        for _ in range(max(10, args.latency_items // 4)):
            a = rng.randint(10, 10**6)
            gold = f"x^2 + {2 * a}x + {a * a}"
            hard.append(Case("hard", gold, _completion(rng, f"(x+{a})^2", "boxed"), 1.0, "expr"))
        lat_rk_hard, lat_base_hard, hard_rk, hard_base = [], [], [], []
        for c in hard:
            t0 = time.perf_counter()
            hard_rk += rewardkit_scores(pipeline, [c])[0]
            lat_rk_hard.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            hard_base += baseline_scores([c])
            lat_base_hard.append(time.perf_counter() - t0)
        deadline = pipeline.config.engine.timeout_s

    rate_base, rate_rk = len(cases) / t_base, len(cases) / t_rk
    truth = [c.truth for c in cases]
    acc_base = sum(b == t for b, t in zip(base, truth)) / len(cases)
    acc_rk = sum(r == t for r, t in zip(rk, truth)) / len(cases)
    print(f"baseline  trl.rewards.accuracy_reward: {rate_base:9.1f} completions/s ({t_base:.2f} s)")
    print(
        f"rewardkit math ({args.workers} workers):        {rate_rk:9.1f} completions/s ({t_rk:.2f} s)"
    )
    print(f"ratio: {rate_rk / rate_base:.1f}x")
    print(f"agreement with known truth: baseline {acc_base:.4f}, rewardkit {acc_rk:.4f}")
    print(
        f"latency per item (single-rollout calls, n={len(single)}): "
        f"rewardkit p50 {1e3 * _pct(lat_rk, 0.5):.2f} ms p99 {1e3 * _pct(lat_rk, 0.99):.2f} ms; "
        f"baseline p50 {1e3 * _pct(lat_base, 0.5):.2f} ms p99 {1e3 * _pct(lat_base, 0.99):.2f} ms; "
        f"deadline {deadline:g} s"
    )
    print(
        f"latency per item, math-verify path (fresh expressions, n={len(hard)}): "
        f"rewardkit p50 {1e3 * _pct(lat_rk_hard, 0.5):.1f} ms p99 {1e3 * _pct(lat_rk_hard, 0.99):.1f} ms "
        f"(correct {sum(hard_rk):g}/{len(hard)}); baseline p50 {1e3 * _pct(lat_base_hard, 0.5):.1f} ms "
        f"p99 {1e3 * _pct(lat_base_hard, 0.99):.1f} ms (correct {sum(hard_base):g}/{len(hard)})"
    )
    from collections import Counter

    from rewardkit import EngineConfig, ExecutionEngine, Rollout, ScoringContext
    from rewardkit.verifiers import MathVerifier

    # Not timed: how many verdicts needed math-verify (the rest were exact closed-form checks).
    rollouts = [Rollout(prompt=c.prompt, completion=c.completion, reference=c.gold) for c in cases]
    with ExecutionEngine(EngineConfig(workers=1)) as idle:
        _, pending = MathVerifier()._triage_all(rollouts, ScoringContext(engine=idle))
    print(
        f"sent to math-verify workers: {len(pending)} rollouts, "
        f"{len({item for p in pending for item in p.items})} distinct (reference, answer) pairs"
    )
    print("rewardkit outcomes:", dict(Counter(outcomes)))
    if args.diff_n:
        agreement_with_math_verify(args.diff_n, args.seed, args.workers)
    differ = [i for i in range(len(cases)) if base[i] != rk[i]]
    base_right = [i for i in differ if base[i] == truth[i]]
    print(
        f"verdicts differ on {len(differ)} rollouts: rewardkit right on "
        f"{len(differ) - len(base_right)}, baseline right on {len(base_right)}"
    )
    for i in differ:
        c = cases[i]
        final = c.completion.rsplit("\n\n", 1)[-1]
        who = "BASELINE right" if i in base_right else "rewardkit right"
        print(
            f"  [{who}] #{i} {c.kind:9s} gold={c.gold!r} final={final[-60:]!r} "
            f"baseline={base[i]:g} rewardkit={rk[i]:g} ({outcomes[i]})"
        )


if __name__ == "__main__":
    main()
