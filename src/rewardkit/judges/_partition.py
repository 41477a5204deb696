"""Equivalence classes from pairwise judgements, and DARLING's diversity from the classes.

Two clusterings, as in the notes: union-find over every equivalent pair (DARLING: transitive
closure, so a chain a~b~c joins a and c even when a and c differ), and greedy leader clustering
(NoveltyBench: each item is compared only with the first member of each existing class).
Written by hand because both are a dozen lines and the libraries that have them (scipy,
networkx) would be a heavy import for a 16-item group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

__all__ = ["Clustering", "diversity_from_labels", "leader_labels", "partition", "union_find_labels"]

Clustering = Literal["union_find", "leader"]


def _canonical(roots: Sequence[int]) -> list[int]:
    """Relabel so that classes are numbered 0, 1, ... in order of their first member."""
    ids: dict[int, int] = {}
    return [ids.setdefault(r, len(ids)) for r in roots]


def union_find_labels(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """Class labels of ``n`` items joined by every ``(i, j)`` pair (transitive closure)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees flat
            x = parent[x]
        return x

    for i, j in pairs:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return _canonical([find(i) for i in range(n)])


def leader_labels(n: int, same: Callable[[int, int], bool]) -> list[int]:
    """Greedy leader clustering: item ``i`` joins the first class whose first member equals it."""
    leaders: list[int] = []
    labels: list[int] = []
    for i in range(n):
        for cls, leader in enumerate(leaders):
            if same(leader, i):
                labels.append(cls)
                break
        else:
            labels.append(len(leaders))
            leaders.append(i)
    return labels


def partition(n: int, same: Callable[[int, int], bool], clustering: Clustering) -> list[int]:
    """Class labels of ``n`` items under a symmetric pair judgement ``same(i, j)`` (i < j)."""
    if clustering == "leader":
        return leader_labels(n, same)
    return union_find_labels(n, ((i, j) for i in range(n) for j in range(i + 1, n) if same(i, j)))


def diversity_from_labels(labels: Sequence[int], floor: float = 0.1) -> list[float]:
    """DARLING's ``Div_i = (n - |C(i)|) / (n - 1)``, floored at ``floor``.

    ``|C(i)|`` is the size of rollout i's class: 1 (unique) gives 1, all-equal gives 0 before
    the floor, as ``partition`` in DARLING's code computes it. A group of one has nothing to be
    similar to, so its rollout gets 1: rewardkit's choice, since the reference divides by zero
    there.
    """
    n = len(labels)
    if n == 1:
        return [1.0]
    sizes: dict[int, int] = {}
    for lab in labels:
        sizes[lab] = sizes.get(lab, 0) + 1
    return [max(floor, (n - sizes[lab]) / (n - 1)) for lab in labels]
