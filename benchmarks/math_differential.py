"""The ``math`` verifier against its oracle, math-verify, on a fixed-seed corpus of answer pairs.

Generates ``--n`` (reference, answer) pairs across every answer form the fast path touches
(``tests/verifiers/math_pairs.py``: integers, signs, decimals, fractions, mixed numbers, digit
groups, scientific notation, surds, pi, degrees, percent, units, sets, tuples, intervals,
vectors and matrices, equations, expressions, text; equal and unequal variants, several
spellings), turns each into a completion ending in ``$\\boxed{answer}$``, and compares

* math-verify's own verdict: ``verify(parse(f"${gold}$"), parse(completion))`` with its default
  settings and generous timeouts, in plain processes (no rewardkit code involved), with
* rewardkit's ``math`` verdict through ``MathVerifier.score`` (fast path in this process, the rest
  in engine workers with a 30 s deadline).

Every disagreement is either one of the documented deliberate improvements
(``math_pairs.explain``; the table in docs/verifiers.md) or a bug. Prints a table by form, the
unexplained disagreements, and exits 1 when there is any.

Also reports the canonical-key rule: of the pairs math-verify calls equal, how many get
different answer keys from rewardkit when both are scored as wrong answers to an unrelated
reference.

    .venv/bin/python benchmarks/math_differential.py [--n 20000] [--seed 0] [--procs 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "verifiers"))

from math_pairs import (  # noqa: E402
    FORMS,
    Pair,
    completion_of,
    explain,
    key_pair_explained,
    make_pair,
    math_verify_verdict,
)


def corpus(n: int, seed: int) -> list[Pair]:
    """``n`` pairs, forms in turn (so every form gets its share), choices from ``seed``."""
    rng = random.Random(seed)
    forms = sorted(FORMS)
    return [make_pair(rng, forms[i % len(forms)]) for i in range(n)]


def _oracle(item: tuple[str, str]) -> bool | None:
    gold, completion = item
    try:
        return math_verify_verdict(gold, completion)
    except Exception:  # a math-verify crash: no oracle verdict for this pair
        return None


def oracle_verdicts(items: list[tuple[str, str]], procs: int) -> dict[tuple[str, str], bool | None]:
    """math-verify's verdict per distinct (gold, completion), ``procs`` processes."""
    distinct = sorted(set(items))
    if procs <= 1:
        return {it: _oracle(it) for it in distinct}
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(procs) as pool:
        return dict(zip(distinct, pool.map(_oracle, distinct, chunksize=32)))


def rewardkit_results(pairs: list[Pair], workers: int) -> list[object]:
    from rewardkit import EngineConfig, ExecutionEngine, Rollout, ScoringContext
    from rewardkit.verifiers import MathVerifier
    from rewardkit.verifiers._math import MathConfig

    rollouts = [
        Rollout(prompt="q", completion=completion_of(p.pred), reference=p.gold) for p in pairs
    ]
    with ExecutionEngine(EngineConfig(workers=workers, timeout_s=30.0)) as engine:
        return MathVerifier(MathConfig(timeout_s=30.0)).score(
            rollouts, ScoringContext(engine=engine)
        )


def key_results(preds: list[str], workers: int) -> dict[str, str | None]:
    """rewardkit's answer key of each answer scored as a wrong answer (reference ``\\text{zz}``)."""
    from rewardkit import EngineConfig, ExecutionEngine, Rollout, ScoringContext
    from rewardkit.verifiers import MathVerifier
    from rewardkit.verifiers._math import MathConfig

    distinct = sorted(set(preds))
    rollouts = [
        Rollout(prompt="q", completion=completion_of(p), reference="\\text{zz}") for p in distinct
    ]
    with ExecutionEngine(EngineConfig(workers=workers, timeout_s=30.0)) as engine:
        results = MathVerifier(MathConfig(timeout_s=30.0)).score(
            rollouts, ScoringContext(engine=engine)
        )
    return {p: r.answer for p, r in zip(distinct, results)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="pairs in the corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--procs", type=int, default=2, help="processes for math-verify's verdicts")
    ap.add_argument("--workers", type=int, default=2, help="rewardkit engine workers")
    ap.add_argument("--show", type=int, default=40, help="unexplained disagreements to print")
    args = ap.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    t0 = time.perf_counter()
    pairs = corpus(args.n, args.seed)
    items = [(p.gold, completion_of(p.pred)) for p in pairs]
    oracle = oracle_verdicts(items, args.procs)
    t_oracle = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = rewardkit_results(pairs, args.workers)
    t_rk = time.perf_counter() - t1
    print(
        f"corpus: {len(pairs)} pairs ({len(set(items))} distinct), {len(FORMS)} forms, seed "
        f"{args.seed}; math-verify {t_oracle:.1f} s ({args.procs} procs), rewardkit {t_rk:.1f} s "
        f"({args.workers} workers); cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.2f}"
    )

    rows: dict[str, Counter[str]] = defaultdict(Counter)
    unexplained: list[tuple[Pair, bool | None, object]] = []
    explained_by: Counter[str] = Counter()
    for pair, item, result in zip(pairs, items, results):
        mv = oracle[item]
        rk = result.outcome.value  # type: ignore[attr-defined]
        row = rows[pair.form]
        row["pairs"] += 1
        row["mv_equal"] += bool(mv)
        if mv is None:
            row["no_oracle"] += 1
            continue
        if (rk == "correct") == mv:
            row["agree"] += 1
            continue
        why = explain(pair, mv, result)
        if why is not None:
            row["explained"] += 1
            explained_by[why] += 1
        else:
            row["unexplained"] += 1
            unexplained.append((pair, mv, result))

    cols = ["pairs", "mv_equal", "agree", "explained", "unexplained", "no_oracle"]
    print(f"\n{'form':<16}" + "".join(f"{c:>12}" for c in cols))
    total: Counter[str] = Counter()
    for form in sorted(rows):
        total.update(rows[form])
        print(f"{form:<16}" + "".join(f"{rows[form][c]:>12}" for c in cols))
    print(f"{'TOTAL':<16}" + "".join(f"{total[c]:>12}" for c in cols))
    if explained_by:
        print("\nexplained (documented deliberate differences, docs/verifiers.md):")
        for why, count in explained_by.most_common():
            print(f"  {count:6d}  {why}")

    # ---- answer keys: pairs math-verify calls equal must share one key
    equal_pairs = [p for p, it in zip(pairs, items) if oracle[it]]
    keys = key_results([p.pred for p in equal_pairs] + [p.gold for p in equal_pairs], args.workers)
    split = [p for p in equal_pairs if keys[p.pred] != keys[p.gold] and not key_pair_explained(p)]
    distinct_split = sorted({(p.form, p.gold, p.pred) for p in split})
    print(
        f"\nanswer keys: {len(equal_pairs)} pairs math-verify calls equal; "
        f"{len(split)} get two different keys ({len(distinct_split)} distinct)"
    )
    for form, gold, pred in distinct_split[: args.show]:
        print(f"  [{form}] {gold!r} -> {keys[gold]!r}   {pred!r} -> {keys[pred]!r}")

    print(f"\nunexplained disagreements: {len(unexplained)}")
    seen = set()
    for pair, mv, result in unexplained:
        if (pair.gold, pair.pred) in seen:
            continue
        seen.add((pair.gold, pair.pred))
        if len(seen) > args.show:
            break
        print(
            f"  [{pair.form}] gold={pair.gold!r} pred={pair.pred!r} math-verify={mv} "
            f"rewardkit={result.outcome.value} answer={result.answer!r} {result.reason or ''}"  # type: ignore[attr-defined]
        )
    return 1 if unexplained or split else 0


if __name__ == "__main__":
    sys.exit(main())
