"""Rollouts, groups and batches: the data every component reads."""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from rewardkit._errors import BatchError

__all__ = ["Batch", "Message", "Outcome", "RewardResult", "Rollout", "message_text", "prompt_hash"]

#: A chat message as TRL and verl pass them: ``{"role": "assistant", "content": "..."}``.
Message = Mapping[str, Any]
Text = str | Sequence[Message]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Outcome(str, Enum):
    """Why a rollout got its score. Never a silent 0: a failure says which kind it was."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    NO_ANSWER = "no_answer"
    TIMEOUT = "timeout"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class RewardResult:
    """One per-rollout component's verdict.

    ``score`` is what the pipeline weights and sums; ``outcome`` says why (``error`` and
    ``timeout`` carry a short ``reason``); ``answer`` is the canonical extracted answer when the
    component has one, the key that exploration, diversity and diagnostics group by.
    """

    score: float
    outcome: Outcome
    reason: str = ""
    answer: str | None = None

    def __repr__(self) -> str:
        parts = [f"score={self.score:g}", f"outcome={self.outcome.value}"]
        if self.answer is not None:
            parts.append(f"answer={self.answer!r}")
        if self.reason:
            parts.append(f"reason={self.reason!r}")
        return f"RewardResult({', '.join(parts)})"

    @classmethod
    def correct(cls, score: float = 1.0, answer: str | None = None) -> RewardResult:
        return cls(float(score), Outcome.CORRECT, "", answer)

    @classmethod
    def incorrect(
        cls, score: float = 0.0, answer: str | None = None, reason: str = ""
    ) -> RewardResult:
        return cls(float(score), Outcome.INCORRECT, reason, answer)

    @classmethod
    def no_answer(cls, reason: str = "no answer found", score: float = 0.0) -> RewardResult:
        return cls(float(score), Outcome.NO_ANSWER, reason, None)

    @classmethod
    def timeout(cls, reason: str = "deadline exceeded", score: float = 0.0) -> RewardResult:
        return cls(float(score), Outcome.TIMEOUT, reason, None)

    @classmethod
    def error(cls, reason: str, score: float = 0.0, answer: str | None = None) -> RewardResult:
        return cls(float(score), Outcome.ERROR, reason, answer)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written by ``rewardkit score``: outcome, answer, reason."""
        return {"outcome": self.outcome.value, "answer": self.answer, "reason": self.reason}


def message_text(value: Any) -> str:
    """The text of a completion or prompt given as a string or as chat messages.

    For messages, the content of the last message (the assistant's turn for completions; the
    last user turn for prompts). Content given as a list of parts keeps its text parts. Anything
    else (None, numbers, a part whose text is not a string) becomes ``""`` so that verifiers
    report ``no_answer`` instead of raising.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        content = value.get("content", "")
        if isinstance(content, list):
            texts = (p.get("text") for p in content if isinstance(p, Mapping))
            return "".join(t for t in texts if isinstance(t, str))
        return content if isinstance(content, str) else ""
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)) and value:
        return message_text(value[-1])
    return ""


def encodable_text(text: str) -> str:
    """``text`` with lone surrogates (``"\\ud800"``) replaced by ``?``.

    Python strings may hold them, but they are not UTF-8, and Rust tokenizers (Hugging Face
    ``tokenizers``) raise on such input; a completion must not carry them into one.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _prompt_fingerprint(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        return "\x1e".join(
            f"{m.get('role', '')}\x1f{message_text(m)}" for m in prompt if isinstance(m, Mapping)
        )
    return repr(prompt)


def prompt_hash(prompt: Any) -> str:
    """A stable key for a prompt (string or chat messages), the same in every process and step.

    Python's ``hash`` is salted per process, and trainers' per-step uids change every step, so
    history keyed by either would never match; a content hash does.
    """
    return hashlib.blake2b(
        _prompt_fingerprint(prompt).encode("utf-8", "replace"), digest_size=12
    ).hexdigest()


def checked_logprobs(values: Any) -> tuple[float, ...]:
    """``values`` as a tuple of finite floats: a rollout's per-token log-probabilities.

    Accepts any sequence of real numbers (lists, tuples, numpy arrays, 1-d tensors via
    ``tolist``); anything else, or a NaN or infinite value, raises :class:`BatchError`.
    """
    tolist = getattr(values, "tolist", None)
    if callable(tolist) and not isinstance(values, (list, tuple)):
        values = tolist()
    if (
        isinstance(values, (list, tuple))
        and all(type(v) is float for v in values)
        and all(map(math.isfinite, values))
    ):
        return tuple(values)  # the common case (``tolist()`` of a float tensor), checked fast
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise BatchError(
            f"completion_logprobs must be a sequence of numbers, got {type(values).__name__}"
        )
    out = []
    for j, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise BatchError(f"completion_logprobs[{j}] must be a number, got {type(v).__name__}")
        f = float(v)
        if not math.isfinite(f):
            raise BatchError(f"completion_logprobs[{j}] is {f}; log-probabilities must be finite")
        out.append(f)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Rollout:
    """One sampled completion for one prompt.

    ``group`` says which rollouts were sampled for the same prompt (a GRPO group); when it is
    None the prompt's content hash is used. ``reference`` is the ground truth a verifier checks
    against; ``metadata`` carries dataset columns (ids, step, data source, ...).
    ``completion_logprobs`` optionally holds the sampling policy's log-probability of each
    sampled completion token (natural log, one finite float per token, stored as a tuple); terms
    that declare ``needs_logprobs`` (``unlikeliness``) read it, and a value that is not a
    sequence of finite numbers raises :class:`BatchError`.
    """

    prompt: Text
    completion: Any
    group: Hashable | None = None
    reference: Any = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    completion_logprobs: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.completion_logprobs is not None:
            object.__setattr__(
                self, "completion_logprobs", checked_logprobs(self.completion_logprobs)
            )

    def __repr__(self) -> str:
        text = self.completion_text
        short = text if len(text) <= 40 else text[:37] + "..."
        return (
            f"Rollout(group={self.group_key!r}, completion={short!r}, reference={self.reference!r})"
        )

    @property
    def completion_text(self) -> str:
        """The completion as text (the last message's content for chat completions)."""
        return message_text(self.completion)

    @property
    def prompt_text(self) -> str:
        """The prompt as text (the last message's content for chat prompts)."""
        return message_text(self.prompt)

    @property
    def prompt_key(self) -> str:
        """A stable content hash of the whole prompt; see :func:`prompt_hash`."""
        return prompt_hash(self.prompt)

    @property
    def group_key(self) -> Hashable:
        """The group this rollout belongs to: ``group`` or, when unset, the prompt's hash."""
        return self.group if self.group is not None else self.prompt_key

    @property
    def mean_logprob(self) -> float | None:
        """The mean of ``completion_logprobs`` (None without them; 0.0 for an empty completion,
        as the unlikeliness reference's ``masked_mean`` gives)."""
        lps = self.completion_logprobs
        if lps is None:
            return None
        return math.fsum(lps) / len(lps) if lps else 0.0


class Batch(Sequence[Rollout]):
    """An ordered, non-empty list of rollouts and the groups they form.

    Groups keep first-appearance order and members keep batch order, so outputs computed per
    group can be written back by index. A batch that cannot be formed (no rollouts, an item
    that is no :class:`Rollout`, an unhashable ``group``) raises :class:`BatchError`.
    """

    __slots__ = ("_groups", "_rollouts")

    def __init__(self, rollouts: Sequence[Rollout]) -> None:
        rollouts = tuple(rollouts)
        if not rollouts:
            raise BatchError("empty batch: a batch needs at least one rollout")
        for i, r in enumerate(rollouts):
            if not isinstance(r, Rollout):
                raise BatchError(f"rollout {i}: expected a Rollout, got {type(r).__name__}")
        self._rollouts = rollouts
        groups: dict[Hashable, list[int]] = {}
        for i, r in enumerate(rollouts):
            try:
                groups.setdefault(r.group_key, []).append(i)
            except TypeError:  # unhashable: no group can be formed, so no group term can run
                raise BatchError(
                    f"rollout {i}: group {repr(r.group)[:60]} is not hashable; use a str or int "
                    "group id"
                ) from None
        self._groups: Mapping[Hashable, tuple[int, ...]] = MappingProxyType(
            {k: tuple(v) for k, v in groups.items()}
        )

    @classmethod
    def from_columns(
        cls,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        *,
        references: Sequence[Any] | None = None,
        groups: Sequence[Hashable] | None = None,
        metadata: Mapping[str, Sequence[Any]] | None = None,
        completion_logprobs: Sequence[Sequence[float] | None] | None = None,
    ) -> Batch:
        """Build a batch from parallel columns, checking that every column has one value per rollout."""
        n = len(completions)
        columns: dict[str, Sequence[Any] | None] = {
            "prompts": prompts,
            "references": references,
            "groups": groups,
            "completion_logprobs": completion_logprobs,
        }
        columns.update({f"metadata[{k!r}]": v for k, v in (metadata or {}).items()})
        for col, values in columns.items():
            if values is not None and len(values) != n:
                raise BatchError(f"length mismatch: {n} completions but {len(values)} {col}")
        meta_cols = dict(metadata or {})
        return cls(
            [
                Rollout(
                    prompt=prompts[i],
                    completion=completions[i],
                    group=None if groups is None else groups[i],
                    reference=None if references is None else references[i],
                    metadata=MappingProxyType({k: v[i] for k, v in meta_cols.items()})
                    if meta_cols
                    else _EMPTY,
                    completion_logprobs=None
                    if completion_logprobs is None
                    else completion_logprobs[i],
                )
                for i in range(n)
            ]
        )

    def __len__(self) -> int:
        return len(self._rollouts)

    def __getitem__(self, index: int) -> Rollout:  # type: ignore[override]
        return self._rollouts[index]

    def __iter__(self) -> Iterator[Rollout]:
        return iter(self._rollouts)

    def __repr__(self) -> str:
        return f"Batch({len(self._rollouts)} rollouts in {len(self._groups)} groups)"

    @property
    def rollouts(self) -> tuple[Rollout, ...]:
        return self._rollouts

    @property
    def groups(self) -> Mapping[Hashable, tuple[int, ...]]:
        """Group key -> indices of its rollouts, in batch order."""
        return self._groups
