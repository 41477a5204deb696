"""Judges: which rollouts of a group are "the same" (DARLING's equivalence classes).

Every judge labels a whole batch at once, so embeddings are computed in one batched call, and
returns group-local class labels per rollout (0, 1, ... in order of first member).

* :class:`AnswerJudge` - canonical answers are equal. A rollout without an answer is its own
  class (it equals nothing).
* :class:`EmbeddingJudge` - cosine similarity of sentence embeddings >= threshold.
* :class:`ClassifierJudge` - a trained pair classifier's P(same) > threshold (strictly, as in
  DARLING's code), with DARLING's shortcut for very short texts.

Embedding-based judges score pairs from the fast (bf16) embeddings and re-score, from float32
embeddings, every pair whose score lies within ``margin`` of the threshold; with bf16 moving
scores by at most ~7e-3 (measured) and the default margin 0.01, the partitions equal float32's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from rewardkit._errors import JudgeUnavailableError
from rewardkit.judges._backends import Encoder, unavailable_floor_warning
from rewardkit.judges._classifier import EquivalenceClassifier
from rewardkit.judges._embedding import Precision
from rewardkit.judges._partition import Clustering, partition, union_find_labels

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "AnswerJudge",
    "ClassifierJudge",
    "EmbeddingJudge",
    "Judge",
    "JudgeStats",
    "short_text_equivalent",
]

Groups = Sequence[Sequence[int]]


class Judge(Protocol):
    """Labels the rollouts of every group with group-local equivalence classes."""

    stats: JudgeStats

    def labels(
        self, texts: Sequence[str], answers: Sequence[str | None], groups: Groups
    ) -> list[int]: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class JudgeStats:
    """What the last call did: pairs scored, pairs re-scored in float32, and whether a remote
    backend was unavailable (``on_unavailable: floor`` then put every group in one class)."""

    pairs: int = 0
    rechecked_pairs: int = 0
    rechecked_texts: int = 0
    unavailable: bool = False


class AnswerJudge:
    """Equal canonical answers are the same; no answer equals nothing."""

    def __init__(self, clustering: Clustering = "union_find") -> None:
        self.clustering = clustering
        self.stats = JudgeStats()

    def __repr__(self) -> str:
        return f"AnswerJudge(clustering={self.clustering!r})"

    def close(self) -> None:
        """Nothing held."""

    def labels(
        self, texts: Sequence[str], answers: Sequence[str | None], groups: Groups
    ) -> list[int]:
        out = [0] * len(answers)
        for members in groups:
            ans = [answers[i] for i in members]
            # Answer equality is already transitive; both clusterings give the same classes.
            ids: dict[str, int] = {}
            next_id = 0
            for i, a in zip(members, ans):
                if a is None:
                    out[i] = next_id
                    next_id += 1
                elif a in ids:
                    out[i] = ids[a]
                else:
                    ids[a] = out[i] = next_id
                    next_id += 1
        return out


def short_text_equivalent(a: str, b: str, max_words: int = 5) -> bool | None:
    """DARLING's shortcut (``maybe_test_equality`` in its ``partition_reward_vllm_serve.py``).

    Both texts are stripped and lowercased, then split on whitespace. When the longer has at
    most ``max_words`` words, they are the same iff twice the number of *distinct* words they
    share reaches that length (two empty texts are the same); otherwise ``None`` (the judge
    decides). Word counts include repeats, the overlap does not, as in the reference.
    """
    wa, wb = a.strip().lower().split(), b.strip().lower().split()
    longer = max(len(wa), len(wb))
    if longer > max_words:
        return None
    return 2 * len(set(wa) & set(wb)) >= longer


class _PairScoreJudge:
    """Shared machinery: score within-group pairs from embeddings, re-check near the threshold."""

    #: Same when the score is strictly above the threshold (True) or at or above it (False).
    strict: bool = False

    def __init__(
        self,
        embedder: Encoder | None,
        threshold: float,
        *,
        margin: float,
        clustering: Clustering,
        precision: Precision | None = None,
        on_unavailable: Literal["error", "floor"] = "error",
    ) -> None:
        #: Where embeddings come from: a local TextEmbedder, a Ray pool or an HTTP server.
        self.embedder = embedder
        self.on_unavailable = on_unavailable
        #: The fast path's precision, passed to every encode() call (None: the embedder's own),
        #: so judges and diagnostics that differ only in precision share one embedder.
        self.precision = precision
        self.threshold = threshold
        self.margin = margin
        self.clustering = clustering
        self.stats = JudgeStats()

    def _scores(self, e: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _override(self, texts: Sequence[str], i: int, j: int) -> bool | None:
        return None

    def _undecided(
        self, texts: Sequence[str], members: Sequence[int], s: np.ndarray
    ) -> list[tuple[int, int]]:
        """Pairs whose fast score is too close to the threshold to trust *and* whose verdict
        can change the partition.

        Under union-find, a close pair inside a class already joined by confident pairs cannot
        change anything, so only close pairs between such classes are re-scored; that skips most
        re-checks when many solutions are near-paraphrases of each other. Leader clustering
        depends on every comparison, so there all close pairs are re-scored.
        """
        import numpy as np

        lo, hi = self.threshold - self.margin, self.threshold + self.margin
        ii, jj = np.triu_indices(len(members), k=1)
        vals = s[ii, jj]
        close, sure = [], []
        for i, j, v in zip(ii.tolist(), jj.tolist(), vals.tolist()):
            if self._override(texts, members[i], members[j]) is not None:
                continue
            if v >= hi:
                sure.append((i, j))
            elif v >= lo:
                close.append((i, j))
        if self.clustering == "leader" or not close:
            return close
        joined = union_find_labels(len(members), sure)
        return [(i, j) for i, j in close if joined[i] != joined[j]]

    def score_matrices(self, texts: Sequence[str], groups: Groups) -> list[np.ndarray]:
        """Per group, the n x n pair scores the partition uses (after re-checks)."""

        embedder = self.embedder
        assert embedder is not None, "pair scores from embeddings need an embedder"
        stats = JudgeStats()
        emb = embedder.encode(texts, precision=self.precision)
        mats = [self._scores(emb[list(m)]) for m in groups]
        stats.pairs = sum(len(m) * (len(m) - 1) // 2 for m in groups)
        if embedder.resolve(self.precision) != "float32" and self.margin > 0:
            todo = [
                (g, i, j)
                for g, (members, s) in enumerate(zip(groups, mats))
                for i, j in self._undecided(texts, members, s)
            ]
            if todo:
                need = sorted(
                    {groups[g][i] for g, i, _ in todo} | {groups[g][j] for g, _, j in todo}
                )
                exact = embedder.encode([texts[k] for k in need], exact=True)
                row = {k: r for r, k in enumerate(need)}
                for g, i, j in todo:
                    pair = exact[[row[groups[g][i]], row[groups[g][j]]]]
                    mats[g][i, j] = mats[g][j, i] = float(self._scores(pair)[0, 1])
                stats.rechecked_pairs = len(todo)
                stats.rechecked_texts = len(need)
        self.stats = stats
        return mats

    def close(self) -> None:
        """Release the backend (a Ray pool's actors; nothing for local or http)."""
        if self.embedder is not None:
            self.embedder.close()

    def labels(
        self, texts: Sequence[str], answers: Sequence[str | None], groups: Groups
    ) -> list[int]:
        out = [0] * len(texts)
        try:
            mats = self.score_matrices(texts, groups)
        except JudgeUnavailableError as exc:
            if self.on_unavailable == "error":
                raise
            # One class per group: every partitioned rollout gets Div = the floor.
            unavailable_floor_warning(repr(self), exc)
            self.stats = JudgeStats(unavailable=True)
            return out
        for members, s in zip(groups, mats):
            same = self._same(texts, members, s)
            for i, lab in zip(members, partition(len(members), same, self.clustering)):
                out[i] = lab
        return out

    def _same(
        self, texts: Sequence[str], members: Sequence[int], s: np.ndarray
    ) -> Callable[[int, int], bool]:
        threshold, strict = self.threshold, self.strict

        def same(i: int, j: int) -> bool:
            forced = self._override(texts, members[i], members[j])
            if forced is not None:
                return forced
            v = s[i, j]
            return bool(v > threshold if strict else v >= threshold)

        return same


class EmbeddingJudge(_PairScoreJudge):
    """Cosine similarity of sentence embeddings at or above ``threshold``."""

    def __repr__(self) -> str:
        return (
            f"EmbeddingJudge(threshold={self.threshold}, precision={self.precision!r}, "
            f"embedder={self.embedder!r})"
        )

    def _scores(self, e: np.ndarray) -> np.ndarray:
        return e @ e.T


class ClassifierJudge(_PairScoreJudge):
    """A trained pair classifier's P(same) strictly above its threshold (DARLING's
    ``prob_sim > THRESHOLD``), with DARLING's short-text shortcut.

    A ``pair_head`` reads embeddings (``embedder``, default: the classifier's encoder); a
    ``cross_encoder`` scores text pairs itself and has no embedder.
    """

    strict = True

    def __init__(
        self,
        classifier: EquivalenceClassifier,
        embedder: Encoder | None,
        threshold: float,
        *,
        margin: float,
        clustering: Clustering,
        short_text_rule: bool = True,
        precision: Precision | None = None,
        on_unavailable: Literal["error", "floor"] = "error",
    ) -> None:
        if classifier.kind == "cross_encoder":
            embedder = None  # never used: don't load, or even resolve, the manifest's encoder
        elif embedder is None:
            embedder = classifier.embedder()
        super().__init__(
            embedder,
            threshold,
            margin=margin,
            clustering=clustering,
            precision=precision,
            on_unavailable=on_unavailable,
        )
        self.classifier = classifier
        self.short_text_rule = short_text_rule

    def __repr__(self) -> str:
        return f"ClassifierJudge({self.classifier!r}, threshold={self.threshold})"

    def _scores(self, e: np.ndarray) -> np.ndarray:
        return self.classifier.proba_matrix(e)

    def _override(self, texts: Sequence[str], i: int, j: int) -> bool | None:
        return short_text_equivalent(texts[i], texts[j]) if self.short_text_rule else None

    def score_matrices(self, texts: Sequence[str], groups: Groups) -> list[np.ndarray]:
        if self.classifier.kind == "pair_head":
            return super().score_matrices(texts, groups)
        import numpy as np

        # Cross-encoder: every within-group pair through the model, in one batched call.
        pairs: list[tuple[str, str]] = []
        where: list[tuple[int, int, int]] = []
        for g, members in enumerate(groups):
            for i in range(len(members)):
                for j in range(i + 1, len(members)):
                    pairs.append((texts[members[i]], texts[members[j]]))
                    where.append((g, i, j))
        probs = self.classifier.proba_pairs(pairs)
        mats = [np.ones((len(m), len(m)), dtype=np.float32) for m in groups]
        for (g, i, j), p in zip(where, probs):
            mats[g][i, j] = mats[g][j, i] = p
        self.stats = JudgeStats(pairs=len(pairs))
        return mats
