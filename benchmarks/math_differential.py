"""The ``math`` verifier against its oracle, math-verify, on a fixed-seed corpus of answer pairs.

Generates ``--n`` (reference, answer) pairs across every answer form the fast path touches
(``tests/verifiers/math_pairs.py``: integers, signs, decimals, fractions, mixed numbers, digit
groups, scientific notation, surds, pi, degrees, percent, units, sets, tuples, intervals,
vectors and matrices, equations, expressions, text; equal and unequal variants, several
spellings), turns each into a completion ending in ``$\\boxed{answer}$`` (``--spelling``: another
ending, ``math_pairs.SPELLINGS``, or ``all`` of them in turn), and compares

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
        [--spelling boxed|display_boxed|dollar_statement|final_answer_colon|answer_is_plain|
         hashes|all]
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
    SPELLING_FORMS,
    SPELLING_SOURCES,
    SPELLINGS,
    Pair,
    completion_of,
    explain_spelling,
    key_pair_explained,
    make_pair,
    math_verify_verdict,
)


def corpus(n: int, seed: int, forms: list[str] | None = None) -> list[Pair]:
    """``n`` pairs, forms in turn (so every form gets its share), choices from ``seed``."""
    rng = random.Random(seed)
    forms = forms or sorted(FORMS)
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


def rewardkit_results(pairs: list[Pair], workers: int, spelling: str = "boxed") -> list[object]:
    from rewardkit import EngineConfig, ExecutionEngine, Rollout, ScoringContext
    from rewardkit.verifiers import MathVerifier
    from rewardkit.verifiers._math import MathConfig

    rollouts = [
        Rollout(prompt="q", completion=completion_of(p.pred, spelling=spelling), reference=p.gold)
        for p in pairs
    ]
    sources = SPELLING_SOURCES.get(spelling)
    config = MathConfig(timeout_s=30.0, **({"answer_sources": sources} if sources else {}))
    with ExecutionEngine(EngineConfig(workers=workers, timeout_s=30.0)) as engine:
        return MathVerifier(config).score(rollouts, ScoringContext(engine=engine))


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


def run_spelling(spelling: str, args: argparse.Namespace) -> tuple[bool, list[Pair]]:
    """Compare one spelling over the corpus; print its table. Returns (clean, equal pairs)."""
    forms = sorted(FORMS) if spelling == "boxed" else SPELLING_FORMS
    t0 = time.perf_counter()
    pairs = corpus(args.n, args.seed, forms)
    items = [(p.gold, completion_of(p.pred, spelling=spelling)) for p in pairs]
    boxed = [(p.gold, completion_of(p.pred)) for p in pairs]
    oracle = oracle_verdicts(items + (boxed if spelling != "boxed" else []), args.procs)
    t_oracle = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = rewardkit_results(pairs, args.workers, spelling)
    t_rk = time.perf_counter() - t1
    print(
        f"\n== spelling {spelling!r}, e.g. {completion_of('5', spelling=spelling)[-30:]!r}\n"
        f"corpus: {len(pairs)} pairs ({len(set(items))} distinct), {len(forms)} forms, seed "
        f"{args.seed}; math-verify {t_oracle:.1f} s ({args.procs} procs), rewardkit {t_rk:.1f} s "
        f"({args.workers} workers); cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.2f}"
    )

    rows: dict[str, Counter[str]] = defaultdict(Counter)
    unexplained: list[tuple[Pair, bool | None, object]] = []
    explained_by: Counter[str] = Counter()
    for pair, item, box, result in zip(pairs, items, boxed, results):
        mv, mv_boxed = oracle[item], oracle[box]
        rk = result.outcome.value  # type: ignore[attr-defined]
        row = rows[pair.form]
        row["pairs"] += 1
        row["mv_equal"] += bool(mv)
        if mv is None or mv_boxed is None:
            row["no_oracle"] += 1
            continue
        if (rk == "correct") == mv:
            row["agree"] += 1
            continue
        why = explain_spelling(pair, spelling, mv, mv_boxed, result)
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
    print(f"\nunexplained disagreements ({spelling}): {len(unexplained)}")
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
    # rewardkit reads one answer one way whatever the ending: its verdict and answer key here
    # equal its own on the boxed ending. (Where math-verify cannot read an ending it "agrees"
    # with any rewardkit miss, so this is the check that covers those endings.)
    inconsistent = []
    if spelling != "boxed":
        for pair, result, own in zip(pairs, results, rewardkit_results(pairs, args.workers)):
            here = (result.outcome.value, result.answer)  # type: ignore[attr-defined]
            boxed_verdict = (own.outcome.value, own.answer)  # type: ignore[attr-defined]
            if here != boxed_verdict:
                inconsistent.append((pair, here, boxed_verdict))
        print(f"rewardkit here vs its own boxed verdict ({spelling}): {len(inconsistent)} differ")
        for pair, here, boxed_verdict in inconsistent[: args.show]:
            print(
                f"  [{pair.form}] gold={pair.gold!r} pred={pair.pred!r} {here} boxed {boxed_verdict}"
            )
    equal_pairs = [p for p, it in zip(pairs, items) if oracle[it]]
    return not unexplained and not inconsistent, equal_pairs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="pairs in the corpus (per spelling)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--procs", type=int, default=2, help="processes for math-verify's verdicts")
    ap.add_argument("--workers", type=int, default=2, help="rewardkit engine workers")
    ap.add_argument("--show", type=int, default=40, help="unexplained disagreements to print")
    ap.add_argument(
        "--spelling",
        default="boxed",
        choices=[*SPELLINGS, "all"],
        help="how completions state the answer (math_pairs.SPELLINGS); the key check runs on boxed",
    )
    args = ap.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    clean = True
    for spelling in SPELLINGS if args.spelling == "all" else [args.spelling]:
        ok, equal_pairs = run_spelling(spelling, args)
        clean = clean and ok
        if spelling != "boxed":
            continue
        # ---- answer keys: pairs math-verify calls equal must share one key
        keys = key_results(
            [p.pred for p in equal_pairs] + [p.gold for p in equal_pairs], args.workers
        )
        split = [
            p for p in equal_pairs if keys[p.pred] != keys[p.gold] and not key_pair_explained(p)
        ]
        distinct_split = sorted({(p.form, p.gold, p.pred) for p in split})
        print(
            f"\nanswer keys: {len(equal_pairs)} pairs math-verify calls equal; "
            f"{len(split)} get two different keys ({len(distinct_split)} distinct)"
        )
        for form, gold, pred in distinct_split[: args.show]:
            print(f"  [{form}] {gold!r} -> {keys[gold]!r}   {pred!r} -> {keys[pred]!r}")
        clean = clean and not split
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
