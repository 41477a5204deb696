"""Generate ``src/rewardkit/data/equivalence_pairs.jsonl``: labelled math-solution pairs.

Each row is ``{"text_a", "text_b", "same", "problem", "family"}``; ``same`` says whether the two
solutions take the same approach (DARLING's "different strategy?" label), not whether their
answers agree - here both always reach the same correct answer, so an answer judge cannot tell
them apart. Problem families have two to three strategies; each strategy is a sequence of steps
with several phrasings, so two renderings of one strategy differ in wording, connectives,
asides and variable names while two strategies can share much of their vocabulary.

Deterministic (seeded). Run: ``python scripts/make_equivalence_pairs.py [-o PATH]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Step = list[str]  # alternative phrasings of one step, formatted with the problem's values


@dataclass(frozen=True)
class Family:
    name: str
    problem: str
    params: Callable[[random.Random], dict[str, object]]
    strategies: dict[str, list[Step]]


def _quad(r: random.Random) -> dict[str, object]:
    a, b = r.sample(range(1, 10), 2)
    return {
        "s": a + b,
        "p": a * b,
        "r1": min(a, b),
        "r2": max(a, b),
        "d": abs(a - b),
        "disc": (a - b) ** 2,
    }


def _gauss(r: random.Random) -> dict[str, object]:
    n = r.choice([20, 40, 50, 60, 80, 100, 200])
    return {
        "n": n,
        "half": n // 2,
        "pair": n + 1,
        "ans": n * (n + 1) // 2,
        "prev": (n - 1) * n // 2,
    }


def _diag(r: random.Random) -> dict[str, object]:
    n = r.randint(6, 15)
    return {
        "n": n,
        "c2": n * (n - 1) // 2,
        "m": n - 3,
        "ans": n * (n - 3) // 2,
        "prev": (n - 1) * (n - 4) // 2,
        "add": n - 2,
    }


def _coins(r: random.Random) -> dict[str, object]:
    k = r.randint(3, 6)
    tot = 2**k
    return {"k": k, "tot": tot, "none": 1, "ans": f"{tot - 1}/{tot}", "half": f"1/{tot}"}


def _system(r: random.Random) -> dict[str, object]:
    x, y = r.randint(10, 19), r.randint(1, 9)
    return {"a": x + y, "b": x - y, "x": x, "y": y, "two_x": 2 * x, "two_y": 2 * y}


def _mod(r: random.Random) -> dict[str, object]:
    k = r.randint(20, 120)
    q, rem = divmod(k, 3)
    return {"k": k, "q": q, "rem": rem, "ans": pow(2, k, 7), "pw": 2**rem}


def _triangle(r: random.Random) -> dict[str, object]:
    b, h = r.randint(3, 12), r.randint(2, 10)
    return {"b": b, "h": h, "ans": b * h / 2, "bh": b * h}


def _gcd(r: random.Random) -> dict[str, object]:
    g = r.choice([6, 8, 12, 14, 15, 18, 21])
    m, n = r.sample([5, 7, 11, 13], 2)
    a, b = g * m, g * n
    big, small = max(a, b), min(a, b)
    return {"a": a, "b": b, "g": g, "big": big, "small": small, "rem": big % small}


def _speed(r: random.Random) -> dict[str, object]:
    u, v = r.sample([30, 40, 45, 60, 90, 120], 2)
    ans = 2 * u * v / (u + v)
    d = u * v
    return {
        "u": u,
        "v": v,
        "ans": f"{ans:g}",
        "d": d,
        "t1": d // u,
        "t2": d // v,
        "tt": d // u + d // v,
        "dd": 2 * d,
    }


def _letters(r: random.Random) -> dict[str, object]:
    word, counts = r.choice(
        [
            ("LEVEL", (2, 2, 1)),
            ("BANANA", (3, 2, 1)),
            ("COOKBOOK", (4, 2, 2)),
            ("PEPPER", (3, 2, 1)),
        ]
    )
    n = len(word)
    denom = math.prod(math.factorial(c) for c in counts)
    return {
        "w": word,
        "n": n,
        "nf": math.factorial(n),
        "den": denom,
        "ans": math.factorial(n) // denom,
        "c1": counts[0],
    }


def _angles(r: random.Random) -> dict[str, object]:
    n = r.randint(5, 14)
    return {"n": n, "t": n - 2, "ans": (n - 2) * 180, "ext": 360, "full": n * 180}


def _vertex(r: random.Random) -> dict[str, object]:
    h = r.randint(1, 6)
    c = r.randint(1, 12)
    return {"b": 2 * h, "c": c, "h": h, "ans": h * h + c, "hh": h * h}


FAMILIES = [
    Family(
        "quadratic_roots",
        "Find the sum of the roots of x^2 - {s}x + {p} = 0.",
        _quad,
        {
            "factor": [
                [
                    "We factor the quadratic.",
                    "Let's try to factor x^2 - {s}x + {p}.",
                    "Factoring is easiest here.",
                ],
                [
                    "We need two numbers that multiply to {p} and add to {s}: {r1} and {r2}.",
                    "Which pair of numbers has product {p} and sum {s}? {r1} and {r2} work.",
                    "Look for factors of {p} summing to {s}; that gives {r1}, {r2}.",
                ],
                [
                    "So x^2 - {s}x + {p} = (x - {r1})(x - {r2}) and the roots are {r1} and {r2}.",
                    "Hence the equation is (x-{r1})(x-{r2}) = 0, giving x = {r1} or x = {r2}.",
                ],
                ["Adding them, {r1} + {r2} = {s}.", "Their sum is {s}."],
            ],
            "vieta": [
                [
                    "By Vieta's formulas, for ax^2 + bx + c the sum of the roots is -b/a.",
                    "Recall Vieta: the roots of x^2 + bx + c add up to -b.",
                    "We can use Vieta's relations without solving.",
                ],
                [
                    "Here a = 1 and b = -{s}.",
                    "The linear coefficient is -{s} and the leading coefficient is 1.",
                ],
                [
                    "So the sum is -(-{s})/1 = {s}.",
                    "Therefore the roots sum to {s}, and we never needed the roots themselves.",
                ],
            ],
            "formula": [
                [
                    "Apply the quadratic formula x = (-b ± sqrt(b^2 - 4ac)) / (2a).",
                    "Use the quadratic formula to get both roots.",
                    "Let's just solve with the quadratic formula.",
                ],
                [
                    "The discriminant is {s}^2 - 4*{p} = {disc}.",
                    "b^2 - 4ac = {s}^2 - 4({p}) = {disc}.",
                ],
                [
                    "So x = ({s} ± {d})/2, i.e. x = {r2} or x = {r1}.",
                    "The roots are ({s}+{d})/2 = {r2} and ({s}-{d})/2 = {r1}.",
                ],
                ["The sum of the roots is {r1} + {r2} = {s}.", "Adding, we get {s}."],
            ],
        },
    ),
    Family(
        "arithmetic_sum",
        "Compute 1 + 2 + ... + {n}.",
        _gauss,
        {
            "pairing": [
                [
                    "Pair the first and last terms: 1 + {n} = {pair}.",
                    "Gauss's trick: write the terms in pairs from both ends, 1 and {n}, 2 and {n}-1, and so on.",
                    "Match the smallest with the largest number.",
                ],
                [
                    "Each pair sums to {pair}, and there are {half} pairs.",
                    "There are {half} such pairs, each adding up to {pair}.",
                ],
                [
                    "So the total is {half} * {pair} = {ans}.",
                    "Multiplying, {half} x {pair} = {ans}.",
                ],
            ],
            "formula": [
                [
                    "The sum of the first n positive integers is n(n+1)/2.",
                    "Use the formula for triangular numbers, n(n+1)/2.",
                    "We know the closed form 1 + ... + n = n(n+1)/2 (provable by induction).",
                ],
                ["With n = {n}: {n} * {pair} / 2.", "Substituting n = {n} gives {n}({pair})/2."],
                ["That equals {ans}.", "= {ans}."],
            ],
            "recursive": [
                [
                    "Let S(n) be the sum up to n, so S(n) = S(n-1) + n.",
                    "Build the sum step by step: each new term adds n to the previous total.",
                    "Think recursively: the sum to {n} is the sum to {n}-1 plus {n}.",
                ],
                [
                    "The sum up to {n}-1 is {prev}.",
                    "From the previous partial sum, S({n}-1) = {prev}.",
                ],
                ["Adding {n} gives {prev} + {n} = {ans}.", "So S({n}) = {prev} + {n} = {ans}."],
            ],
        },
    ),
    Family(
        "polygon_diagonals",
        "How many diagonals does a convex polygon with {n} sides have?",
        _diag,
        {
            "choose": [
                [
                    "Any two vertices determine a segment: C({n},2) = {c2} segments.",
                    "Count all pairs of vertices first: {n} choose 2 is {c2}.",
                    "Choose 2 of the {n} vertices in C({n},2) = {c2} ways.",
                ],
                [
                    "Of these, {n} are sides of the polygon.",
                    "Subtract the {n} sides, which are not diagonals.",
                ],
                ["So there are {c2} - {n} = {ans} diagonals.", "That leaves {ans} diagonals."],
            ],
            "per_vertex": [
                [
                    "From each vertex we can draw a diagonal to every vertex except itself and its two neighbours.",
                    "Each vertex connects by a diagonal to {n} - 3 = {m} other vertices.",
                    "Fix a vertex: it cannot join itself or its 2 neighbours, leaving {m} diagonals.",
                ],
                [
                    "That is {m} diagonals per vertex, {n} * {m} in total counting each twice.",
                    "Over all {n} vertices this counts {n} x {m}, but every diagonal is counted from both ends.",
                ],
                ["Dividing by 2 gives {ans}.", "So the number is {n}*{m}/2 = {ans}."],
            ],
            "induction": [
                [
                    "Go from an ({n}-1)-gon to an {n}-gon by adding one vertex.",
                    "Use a recurrence: inserting a new vertex into a polygon with {n}-1 sides.",
                    "Let D(k) be the number of diagonals of a k-gon and relate D({n}) to D({n}-1).",
                ],
                ["The ({n}-1)-gon has {prev} diagonals.", "D({n}-1) = {prev}."],
                [
                    "The new vertex adds {n}-3 diagonals and the old side between its neighbours becomes a diagonal, {add} more in all.",
                    "Adding the vertex creates {add} new diagonals (its own {m} plus the former side).",
                ],
                ["So D({n}) = {prev} + {add} = {ans}.", "Total: {ans}."],
            ],
        },
    ),
    Family(
        "coin_flips",
        "A fair coin is flipped {k} times. What is the probability of at least one head?",
        _coins,
        {
            "complement": [
                [
                    "Use the complement: the only way to get no heads is all tails.",
                    "It is easier to compute P(no heads) and subtract from 1.",
                    "Consider the complementary event, all {k} flips tails.",
                ],
                ["P(all tails) = (1/2)^{k} = {half}.", "That has probability 1/{tot}."],
                [
                    "So P(at least one head) = 1 - {half} = {ans}.",
                    "Therefore the answer is 1 - 1/{tot} = {ans}.",
                ],
            ],
            "enumerate": [
                [
                    "There are 2^{k} = {tot} equally likely sequences of flips.",
                    "List the sample space: {tot} outcomes, each with probability 1/{tot}.",
                    "Count outcomes: each flip has 2 results, so {tot} sequences in total.",
                ],
                [
                    "Exactly one of them, TT...T, has no head; the other {tot} - 1 all contain a head.",
                    "All sequences but the all-tails one contain at least one head.",
                ],
                ["So the probability is ({tot} - 1)/{tot} = {ans}.", "That gives {ans}."],
            ],
            "cases": [
                [
                    "Split by the number of heads j = 1, ..., {k}.",
                    "Sum over the possible numbers of heads, from 1 to {k}.",
                    "Add up P(exactly j heads) for every j >= 1.",
                ],
                [
                    "P(exactly j heads) = C({k}, j)/{tot}.",
                    "Each case contributes C({k},j)(1/2)^{k}.",
                ],
                [
                    "The binomial coefficients for j >= 1 sum to {tot} - 1, so the probability is {ans}.",
                    "Summing C({k},1) + ... + C({k},{k}) = {tot} - 1 gives {ans}.",
                ],
            ],
        },
    ),
    Family(
        "linear_system",
        "Solve x + y = {a}, x - y = {b}. What is x?",
        _system,
        {
            "elimination": [
                [
                    "Add the two equations to eliminate y.",
                    "Adding the equations cancels y.",
                    "Eliminate y by summing both equations.",
                ],
                [
                    "(x + y) + (x - y) = {a} + {b}, so 2x = {two_x}.",
                    "We get 2x = {a} + {b} = {two_x}.",
                ],
                ["Hence x = {x}.", "Dividing by 2, x = {x}."],
            ],
            "substitution": [
                [
                    "From the second equation, x = y + {b}.",
                    "Solve the second equation for x: x = {b} + y.",
                    "Express x in terms of y using x - y = {b}.",
                ],
                [
                    "Substitute into the first: (y + {b}) + y = {a}, so 2y = {a} - {b} = {two_y}.",
                    "Plugging in gives 2y + {b} = {a}, hence y = {y}.",
                ],
                ["Then y = {y} and x = {y} + {b} = {x}.", "So x = {x}."],
            ],
            "cramer": [
                [
                    "Write the system as a matrix equation with coefficient matrix [[1, 1], [1, -1]].",
                    "Use Cramer's rule on the 2x2 system.",
                    "Treat it as A (x, y)^T = ({a}, {b})^T with A = [[1,1],[1,-1]].",
                ],
                ["det A = 1*(-1) - 1*1 = -2.", "The determinant of the coefficient matrix is -2."],
                [
                    "For x, replace the first column: det [[{a}, 1], [{b}, -1]] = -{a} - {b} = -{two_x}.",
                    "The x-determinant is {a}(-1) - {b}(1) = -{two_x}.",
                ],
                ["So x = -{two_x} / -2 = {x}.", "x = {x}."],
            ],
        },
    ),
    Family(
        "power_mod",
        "Find the remainder when 2^{k} is divided by 7.",
        _mod,
        {
            "cycle": [
                [
                    "Compute the first powers of 2 mod 7: 2, 4, 1, 2, 4, 1, ...",
                    "Look at the pattern of 2^n mod 7: it goes 2, 4, 1 and repeats.",
                    "List 2^1, 2^2, 2^3 mod 7: 2, 4, 1. The cycle has length 3.",
                ],
                [
                    "Since {k} = 3*{q} + {rem}, 2^{k} has the same remainder as 2^{rem}.",
                    "{k} mod 3 = {rem}, so we are at position {rem} in the cycle.",
                ],
                ["So the remainder is {ans}.", "Answer: {ans}."],
            ],
            "fermat": [
                [
                    "By Fermat's little theorem 2^6 = 1 mod 7.",
                    "Fermat: since 7 is prime, 2^(7-1) is congruent to 1 mod 7.",
                    "Use Fermat's little theorem to reduce the exponent mod 6.",
                ],
                [
                    "Reduce the exponent: {k} mod 6 determines the answer.",
                    "So 2^{k} = 2^({k} mod 6) mod 7.",
                ],
                ["Working it out, 2^{k} mod 7 = {ans}.", "This gives remainder {ans}."],
            ],
            "binomial": [
                [
                    "Note that 2^3 = 8 = 7 + 1.",
                    "Write 8 as 7 + 1, since 2^3 = 8.",
                    "The key observation is 2^3 = 1 + 7.",
                ],
                [
                    "Then 2^{k} = 8^{q} * 2^{rem} = (7 + 1)^{q} * {pw}.",
                    "So 2^{k} = (1 + 7)^{q} * 2^{rem}.",
                ],
                [
                    "Expanding (7 + 1)^{q} by the binomial theorem, every term but 1 is a multiple of 7.",
                    "By the binomial theorem (1 + 7)^{q} = 1 mod 7.",
                ],
                ["So the remainder is {pw} mod 7 = {ans}.", "Hence the remainder is {ans}."],
            ],
        },
    ),
    Family(
        "triangle_area",
        "A triangle has vertices (0, 0), ({b}, 0) and (2, {h}). Find its area.",
        _triangle,
        {
            "base_height": [
                [
                    "Take the side on the x-axis as the base; its length is {b}.",
                    "The base from (0,0) to ({b},0) has length {b}.",
                    "Use base times height over two, with the base along the x-axis.",
                ],
                [
                    "The height is the y-coordinate of the third vertex, {h}.",
                    "The third vertex is {h} units above the base, so the height is {h}.",
                ],
                ["Area = (1/2)*{b}*{h} = {ans:g}.", "So the area is {bh}/2 = {ans:g}."],
            ],
            "shoelace": [
                [
                    "Use the shoelace formula with the three vertices in order.",
                    "Apply the shoelace (surveyor's) formula.",
                    "Area = |x1(y2 - y3) + x2(y3 - y1) + x3(y1 - y2)|/2.",
                ],
                [
                    "Plugging in: |0*(0 - {h}) + {b}*({h} - 0) + 2*(0 - 0)| / 2.",
                    "The cross terms give 0 + {b}*{h} + 0 = {bh}.",
                ],
                ["So the area is {bh}/2 = {ans:g}.", "Area = {ans:g}."],
            ],
            "vectors": [
                [
                    "Form the vectors u = ({b}, 0) and v = (2, {h}) from the origin.",
                    "Use the cross product of two edge vectors from (0,0).",
                    "The area is half the magnitude of the cross product of two sides.",
                ],
                ["Their cross product is {b}*{h} - 0*2 = {bh}.", "u x v = {b}({h}) - 0(2) = {bh}."],
                ["Half of that is {ans:g}.", "So the area is {ans:g}."],
            ],
        },
    ),
    Family(
        "gcd",
        "Find gcd({a}, {b}).",
        _gcd,
        {
            "euclid": [
                [
                    "Use the Euclidean algorithm.",
                    "Apply Euclid's algorithm: repeatedly replace the larger number by the remainder.",
                    "Run the Euclidean algorithm on {big} and {small}.",
                ],
                [
                    "{big} = q*{small} + {rem}, so gcd({big}, {small}) = gcd({small}, {rem}).",
                    "The remainder of {big} divided by {small} is {rem}.",
                ],
                [
                    "Continuing until the remainder is 0, the last nonzero remainder is {g}.",
                    "Repeating the division steps ends with {g}.",
                ],
            ],
            "factor": [
                [
                    "Factor both numbers into primes.",
                    "Write the prime factorisations of {a} and {b}.",
                    "Prime factorisation makes this quick.",
                ],
                [
                    "The common prime factors multiply to {g}.",
                    "Taking the minimum power of each shared prime gives {g}.",
                ],
                ["So gcd({a}, {b}) = {g}.", "The gcd is {g}."],
            ],
            "divisors": [
                [
                    "List the divisors of {small} and check which divide {big}.",
                    "Go through the divisors of the smaller number, {small}, from largest down.",
                    "Enumerate common divisors.",
                ],
                [
                    "The largest divisor of {small} that also divides {big} is {g}.",
                    "Checking each candidate, {g} is the biggest that divides both.",
                ],
                ["Hence the gcd is {g}.", "Answer: {g}."],
            ],
        },
    ),
    Family(
        "average_speed",
        "A car drives to a town at {u} km/h and returns along the same road at {v} km/h. What is its average speed?",
        _speed,
        {
            "harmonic": [
                [
                    "For equal distances the average speed is the harmonic mean, 2uv/(u+v).",
                    "Over two equal legs, average speed = 2*u*v/(u + v).",
                    "Use the harmonic mean of the two speeds, since the distances are equal.",
                ],
                ["That is 2*{u}*{v}/({u}+{v}).", "Plug in u = {u} and v = {v}."],
                ["= {ans} km/h.", "So the average speed is {ans} km/h."],
            ],
            "assume_distance": [
                [
                    "Pick a convenient distance, say {d} km each way.",
                    "Suppose the town is {d} km away (any distance works).",
                    "Let the one-way distance be {d} km to make the numbers clean.",
                ],
                [
                    "Going takes {t1} h and returning takes {t2} h, {tt} h in total.",
                    "Time out: {d}/{u} = {t1} h; time back: {d}/{v} = {t2} h.",
                ],
                [
                    "Average speed = total distance / total time = {dd}/{tt} = {ans} km/h.",
                    "So {dd} km in {tt} hours is {ans} km/h.",
                ],
            ],
            "variable": [
                [
                    "Let the distance each way be D.",
                    "Call the one-way distance D and work symbolically.",
                    "Set up the algebra with an unknown distance D.",
                ],
                [
                    "Total time is D/{u} + D/{v} and total distance is 2D.",
                    "Time = D/{u} + D/{v}; distance = 2D.",
                ],
                [
                    "So the average is 2D / (D/{u} + D/{v}); the D cancels, leaving {ans} km/h.",
                    "Simplifying, D cancels and the average speed is {ans} km/h.",
                ],
            ],
        },
    ),
    Family(
        "word_arrangements",
        "How many distinct arrangements of the letters of {w} are there?",
        _letters,
        {
            "multinomial": [
                [
                    "Use the formula for permutations with repeated letters: n! divided by the factorials of the multiplicities.",
                    "Count with the multinomial coefficient.",
                    "The number of distinct words is {n}! over the product of the repeat counts' factorials.",
                ],
                [
                    "{n}! = {nf}, and the repeats contribute a factor {den}.",
                    "Here {n}! = {nf} and the denominator is {den}.",
                ],
                ["So there are {nf}/{den} = {ans} arrangements.", "That gives {ans}."],
            ],
            "positions": [
                [
                    "Place the letters one kind at a time by choosing positions.",
                    "First choose where the most repeated letter goes, then fill the rest.",
                    "Build the word by choosing slots for each letter type.",
                ],
                [
                    "Choose positions for the {c1} copies of the most common letter out of {n}, then choose positions for the next letter among the remaining slots.",
                    "C({n},{c1}) ways for the first letter, then binomial choices for the others.",
                ],
                [
                    "Multiplying the binomial coefficients gives {ans}.",
                    "The product of these choices is {ans}.",
                ],
            ],
            "overcount": [
                [
                    "If all letters were distinct there would be {n}! = {nf} orderings.",
                    "Start by pretending the letters are all different: {nf} permutations.",
                    "Label the repeated letters to make them distinct, then correct for overcounting.",
                ],
                [
                    "Each distinct word is counted {den} times, once for each way of permuting identical letters.",
                    "Swapping identical letters gives the same word, so every word appears {den} times.",
                ],
                ["So the count is {nf}/{den} = {ans}.", "Dividing out the overcount: {ans}."],
            ],
        },
    ),
    Family(
        "polygon_angles",
        "What is the sum of the interior angles of a convex polygon with {n} sides?",
        _angles,
        {
            "triangulate": [
                [
                    "Draw all diagonals from one vertex; they split the polygon into triangles.",
                    "Triangulate from a single vertex.",
                    "Pick a vertex and connect it to all non-adjacent vertices.",
                ],
                ["That gives {n} - 2 = {t} triangles.", "There are {t} triangles."],
                [
                    "Each has angle sum 180, so the total is {t}*180 = {ans} degrees.",
                    "Their angles add to {ans} degrees.",
                ],
            ],
            "formula": [
                [
                    "The interior angle sum of an n-gon is (n - 2)*180 degrees.",
                    "Recall the formula (n-2)180.",
                    "Use the standard result S = 180(n - 2).",
                ],
                ["With n = {n}, that is {t}*180.", "Substituting n = {n}."],
                ["= {ans} degrees.", "So the sum is {ans} degrees."],
            ],
            "exterior": [
                [
                    "The exterior angles of a convex polygon always add up to 360 degrees.",
                    "Use exterior angles: they sum to 360 for any convex polygon.",
                    "Walk around the polygon: the turning angles total one full turn, 360 degrees.",
                ],
                [
                    "Each interior angle is 180 minus its exterior angle, so the interior sum is {n}*180 - 360.",
                    "Interior + exterior = 180 at every vertex, giving {full} in total.",
                ],
                ["{full} - 360 = {ans} degrees.", "Subtracting 360 gives {ans} degrees."],
            ],
        },
    ),
    Family(
        "quadratic_max",
        "Find the maximum value of f(x) = -x^2 + {b}x + {c}.",
        _vertex,
        {
            "complete_square": [
                [
                    "Complete the square.",
                    "Rewrite f by completing the square.",
                    "Let's complete the square in x.",
                ],
                [
                    "f(x) = -(x^2 - {b}x) + {c} = -(x - {h})^2 + {hh} + {c}.",
                    "-x^2 + {b}x = -(x - {h})^2 + {hh}.",
                ],
                [
                    "The squared term is at most 0, so the maximum is {hh} + {c} = {ans}.",
                    "Since -(x-{h})^2 <= 0, f is at most {ans}.",
                ],
            ],
            "vertex_formula": [
                [
                    "The vertex of ax^2 + bx + c is at x = -b/(2a).",
                    "A downward parabola peaks at its vertex, x = -b/(2a).",
                    "Use the vertex formula.",
                ],
                ["Here x = -{b}/(2*(-1)) = {h}.", "So the vertex is at x = {h}."],
                ["f({h}) = -{hh} + {b}*{h} + {c} = {ans}.", "Evaluating, the maximum is {ans}."],
            ],
            "derivative": [
                [
                    "Differentiate: f'(x) = -2x + {b}.",
                    "Take the derivative and set it to zero.",
                    "Use calculus: critical points come from f'(x) = 0.",
                ],
                [
                    "f'(x) = 0 gives x = {h}; f''(x) = -2 < 0, so it is a maximum.",
                    "Solving -2x + {b} = 0 gives x = {h}, a maximum since f'' < 0.",
                ],
                ["The maximum value is f({h}) = {ans}.", "So max f = {ans}."],
            ],
        },
    ),
]

_OPENERS = [
    "",
    "",
    "Let me think step by step. ",
    "Okay, so we want to solve this. ",
    "Let's work through it. ",
]
_CONNECT = [" ", " ", "\n", " Next, ", " Then "]
_CLOSERS = ["The answer is \\boxed{{{ans}}}.", "Final answer: \\boxed{{{ans}}}", "\\boxed{{{ans}}}"]


def render(steps: list[Step], values: dict[str, object], answer: str, r: random.Random) -> str:
    parts = [r.choice(alts).format(**values) for alts in steps]
    text = r.choice(_OPENERS) + parts[0]
    for p in parts[1:]:
        text += r.choice(_CONNECT) + p
    return text + " " + r.choice(_CLOSERS).format(ans=answer)


def _answer(values: dict[str, object], family: Family) -> str:
    for key in ("ans", "s", "x", "g"):
        if key in values:
            v = values[key]
            return f"{v:g}" if isinstance(v, float) else str(v)
    raise KeyError(family.name)


def make_pairs(
    seed: int = 0, problems_per_family: int = 3, renders: int = 4
) -> list[dict[str, object]]:
    r = random.Random(seed)
    rows: list[dict[str, object]] = []
    for family in FAMILIES:
        for k in range(problems_per_family):
            values = family.params(r)
            answer = _answer(values, family)
            pid = f"{family.name}-{k}"
            texts = {
                name: [render(steps, values, answer, r) for _ in range(renders)]
                for name, steps in family.strategies.items()
            }
            same = []
            for _name, ts in texts.items():
                same += [(a, b) for a, b in itertools.combinations(ts, 2) if a != b]
            diff = []
            for (_n1, t1), (_n2, t2) in itertools.combinations(texts.items(), 2):
                diff += [(a, b) for a in t1 for b in t2]
            r.shuffle(same)
            r.shuffle(diff)
            m = min(len(same), len(diff), 8)
            for a, b in same[:m]:
                rows.append(
                    {"text_a": a, "text_b": b, "same": True, "problem": pid, "family": family.name}
                )
            for a, b in diff[:m]:
                rows.append(
                    {"text_a": a, "text_b": b, "same": False, "problem": pid, "family": family.name}
                )
    r.shuffle(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "src/rewardkit/data/equivalence_pairs.jsonl"
    parser.add_argument("-o", "--output", type=Path, default=default)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = make_pairs(args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    n_same = sum(1 for row in rows if row["same"])
    print(
        f"wrote {len(rows)} pairs ({n_same} same, {len(rows) - n_same} different) to {args.output}"
    )


if __name__ == "__main__":
    main()
