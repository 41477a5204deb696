"""``AnswerCounts``: how often each answer was seen for each prompt, in bounded memory.

Keys are 64-bit content hashes, packed as one Python int ``prompt << 64 | answer`` in a flat
dict, so a (prompt, answer) pair costs about 150 bytes whatever the shape of the history (1M
pairs: ~150 MiB with one answer per prompt, ~90 MiB with eight; see docs/benchmarks.md). Nested
dicts would cost twice that when most prompts have one answer. Answer hashes are never 0: 0 is
each prompt's overflow counter (see :class:`AnswerCounts`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from rewardkit._errors import ArgumentError, StateError

__all__ = ["AnswerCounts", "answer_id", "prompt_id"]

_MASK64 = (1 << 64) - 1
_OVERFLOW = 0
_STATE_FORMAT = 1


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def answer_id(answer: str) -> int:
    """A stable non-zero 64-bit id of a canonical answer."""
    return _hash64(answer.encode("utf-8", "surrogatepass")) or 1


def prompt_id(value: Any) -> int:
    """A stable 64-bit id of a prompt key (a hex hash) or of a dataset id column's value."""
    if isinstance(value, str):
        return _hash64(b"s" + value.encode("utf-8", "surrogatepass"))
    return _hash64(b"j" + json.dumps(value, sort_keys=True, default=str).encode("utf-8"))


# Trainer columns that change every step: keying history on them would never match again.
PER_STEP_IDS = frozenset({"uid", "request_id", "rollout_id"})


def check_prompt_id_column(value: str | None) -> str | None:
    """A ``prompt_id_column`` validator: refuses a per-step id column (:data:`PER_STEP_IDS`).

    Called from pydantic field validators, which turn the ``ValueError`` (``ArgumentError`` is
    one) into a validation error with the field's path."""
    if value in PER_STEP_IDS:
        raise ArgumentError(
            f"{value!r} changes every step, so history keyed on it never matches; use a "
            "dataset id column (e.g. 'index') or leave unset to hash the prompt"
        )
    return value


def check_state_format(state: Mapping[str, Any], expected: int, where: str) -> None:
    """A term's state names the format it was written in: exactly the int ``expected``
    (``true`` and ``1.0`` equal 1 in Python but are not what rewardkit writes)."""
    found = state.get("format")
    if type(found) is not int or found != expected:
        raise StateError(f"{where} has format {found!r}; this rewardkit reads {expected}")


def pack_u64(values: Iterable[int]) -> str:
    """64-bit values as base64 of little-endian uint64 (8 bytes per value in a state file)."""
    arr = array("Q", values)
    if sys.byteorder != "little":
        arr.byteswap()
    return base64.b64encode(arr.tobytes()).decode("ascii")


def unpack_u64(text: Any, what: str) -> array:
    """The values :func:`pack_u64` wrote; ``what`` names the field in a :class:`StateError`."""
    if not isinstance(text, str):
        raise StateError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise StateError(f"{what} is not valid base64: {exc}") from None
    if len(raw) % 8:
        raise StateError(f"{what} has {len(raw)} bytes, not a multiple of 8")
    arr = array("Q")
    arr.frombytes(raw)
    if sys.byteorder != "little":
        arr.byteswap()
    return arr


class AnswerCounts:
    """N(prompt, answer) over training history, with at most ``max_answers`` answers per prompt.

    Once a prompt tracks ``max_answers`` distinct answers, a further new answer is not tracked on
    its own: it is counted in the prompt's overflow counter, and its count is that counter's. So
    untracked answers of a saturated prompt share one decaying bonus instead of each getting the
    full bonus of a first sighting (which cycling through many rare answers could farm). Tracked
    answers stay; when :meth:`merge` leaves a prompt with more than ``max_answers``, the least
    frequent ones (ties: smaller hash) are evicted into the overflow counter.
    """

    __slots__ = ("_counts", "_tracked", "max_answers")

    def __init__(self, max_answers: int = 64) -> None:
        if max_answers < 1:
            raise ArgumentError("max_answers must be at least 1")
        self.max_answers = max_answers
        self._counts: dict[int, int] = {}
        self._tracked: dict[int, int] = {}

    def __repr__(self) -> str:
        return (
            f"AnswerCounts({len(self._counts)} pairs, {len(self._tracked)} prompts, "
            f"max_answers={self.max_answers})"
        )

    def __len__(self) -> int:
        """Number of stored counters (tracked pairs plus overflow counters)."""
        return len(self._counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AnswerCounts):
            return NotImplemented
        return self.max_answers == other.max_answers and self._counts == other._counts

    __hash__ = None  # type: ignore[assignment]

    @property
    def num_prompts(self) -> int:
        return len(self._tracked)

    def add(self, prompt: int, answer: int, count: int = 1) -> None:
        """Count ``answer`` for ``prompt`` ``count`` more times."""
        key = (prompt << 64) | answer
        counts = self._counts
        if key in counts:
            counts[key] += count
            return
        tracked = self._tracked.get(prompt, 0)
        if tracked < self.max_answers:
            counts[key] = count
            self._tracked[prompt] = tracked + 1
        else:
            over = prompt << 64
            counts[over] = counts.get(over, 0) + count

    def get(self, prompt: int, answer: int) -> int:
        """How often ``answer`` was seen for ``prompt`` (its overflow count when untracked)."""
        found = self._counts.get((prompt << 64) | answer)
        if found is not None:
            return found
        if self._tracked.get(prompt, 0) >= self.max_answers:
            return self._counts.get(prompt << 64, 0)
        return 0

    def items(self) -> Iterable[tuple[int, int, int]]:
        """``(prompt, answer, count)`` for every counter; answer 0 is an overflow counter."""
        for key, count in self._counts.items():
            yield key >> 64, key & _MASK64, count

    def merge(self, other: AnswerCounts) -> None:
        """Add another process's counts (the per-prompt bound is enforced afterwards)."""
        counts = self._counts
        for key, count in other._counts.items():
            counts[key] = counts.get(key, 0) + count
        self._rebuild()

    def _rebuild(self) -> None:
        by_prompt: dict[int, list[tuple[int, int]]] = {}
        for key, count in self._counts.items():
            if key & _MASK64 != _OVERFLOW:
                by_prompt.setdefault(key >> 64, []).append((count, key))
        self._tracked = {}
        for prompt, entries in by_prompt.items():
            if len(entries) > self.max_answers:
                entries.sort(key=lambda e: (-e[0], e[1]))
                evicted = entries[self.max_answers :]
                over = prompt << 64
                for count, key in evicted:
                    del self._counts[key]
                    self._counts[over] = self._counts.get(over, 0) + count
            self._tracked[prompt] = min(len(entries), self.max_answers)

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """A compact JSON-serialisable form: three base64 arrays of little-endian uint64."""
        keys = list(self._counts)
        return {
            "format": _STATE_FORMAT,
            "max_answers": self.max_answers,
            "prompts": pack_u64(k >> 64 for k in keys),
            "answers": pack_u64(k & _MASK64 for k in keys),
            "counts": pack_u64(self._counts.values()),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], max_answers: int | None = None) -> AnswerCounts:
        """Rebuild from :meth:`to_state`; ``max_answers`` overrides the saved bound."""
        if not isinstance(state, Mapping):
            raise StateError(f"ucb state must be a mapping, got {type(state).__name__}")
        check_state_format(state, _STATE_FORMAT, "ucb state")
        saved_max = state.get("max_answers")
        if type(saved_max) is not int or saved_max < 1:
            raise StateError(f"ucb state: invalid max_answers {saved_max!r}")
        prompts = unpack_u64(state.get("prompts"), "ucb state: 'prompts'")
        answers = unpack_u64(state.get("answers"), "ucb state: 'answers'")
        counts = unpack_u64(state.get("counts"), "ucb state: 'counts'")
        if not len(prompts) == len(answers) == len(counts):
            raise StateError(
                f"ucb state: array lengths differ ({len(prompts)}, {len(answers)}, {len(counts)})"
            )
        out = cls(max_answers or saved_max)
        out._counts = {(p << 64) | a: c for p, a, c in zip(prompts, answers, counts)}
        if len(out._counts) != len(counts):
            raise StateError("ucb state: duplicate (prompt, answer) entries")
        out._rebuild()
        return out
