"""The fixed key set of ``reward_extra_info`` that every scored sample returns to verl.

verl assembles a batch's extra info from the *first* sample's keys: a key missing on a later
sample raises ``KeyError``, a key only later samples have is dropped. So a sample that timed
out or failed returns exactly the keys of one that scored, and the keys depend on the config
alone. The same dict travels to the driver (``extra_fields["reward_extra_info"]`` in
TransferQueue), where :meth:`ExtraInfoLayout.decode` turns it back into :class:`RewardResult`\\ s
for the shaping terms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rewardkit import BatchError, ConfigError, Outcome, RewardKitConfig, RewardResult

__all__ = ["OUTCOME_CODES", "SCORE_KEY", "ExtraInfoError", "ExtraInfoLayout"]

#: Key of the weighted total of the rewards (before shaping): verl's ``score``.
SCORE_KEY = "score"

#: Outcome -> the integer logged under ``<reward>_outcome`` (numbers, so verl's validation
#: metrics accept the key); stable across versions, new outcomes get new codes.
OUTCOME_CODES: Mapping[Outcome, int] = {
    Outcome.CORRECT: 0,
    Outcome.INCORRECT: 1,
    Outcome.NO_ANSWER: 2,
    Outcome.TIMEOUT: 3,
    Outcome.ERROR: 4,
}
_OUTCOME_OF_CODE = {code: outcome for outcome, code in OUTCOME_CODES.items()}

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class ExtraInfoError(BatchError, KeyError):
    """A sample's ``reward_extra_info`` lacks rewardkit's keys: it was scored by another reward
    manager, or with another rewardkit config. A :class:`~rewardkit.BatchError` (so a
    ``ValueError``) and, as it was before it had a class, a ``KeyError``."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _key_prefix(reward_name: str) -> str:
    # Extra-info keys become TransferQueue/TensorDict field names on the colocated reward path,
    # where '.' means nesting; keep them to identifier characters.
    return _UNSAFE.sub("_", reward_name)


@dataclass(frozen=True, slots=True)
class ExtraInfoLayout:
    """Which keys a config's samples carry, and how results map to and from them.

    Per reward ``r`` (named by the config entry, ``.``/``-`` replaced by ``_``): ``r`` (the
    unweighted score), ``r_outcome`` (:data:`OUTCOME_CODES`), ``r_answer`` (canonical answer,
    ``""`` when none) and ``r_reason`` (why, for ``timeout``/``error``/``no_answer``); plus
    ``score``, the weighted total before shaping.
    """

    reward_names: tuple[str, ...]
    prefixes: tuple[str, ...]

    @classmethod
    def for_config(cls, config: RewardKitConfig) -> ExtraInfoLayout:
        names = tuple(e.name for e in config.rewards)
        prefixes = tuple(_key_prefix(n) for n in names)
        seen: dict[str, str] = {}
        for name, prefix in zip(names, prefixes):
            if prefix == SCORE_KEY:
                raise ConfigError(
                    f"rewards: a reward named {name!r} would collide with verl's {SCORE_KEY!r} "
                    "extra-info key; rename it"
                )
            if prefix in seen:
                raise ConfigError(
                    f"rewards: names {seen[prefix]!r} and {name!r} both become verl extra-info key "
                    f"{prefix!r} ('.' and '-' map to '_'); rename one"
                )
            seen[prefix] = name
        return cls(names, prefixes)

    def __repr__(self) -> str:
        return f"ExtraInfoLayout(keys={list(self.keys)})"

    @property
    def keys(self) -> tuple[str, ...]:
        """Every extra-info key, in order (``score`` first)."""
        out = [SCORE_KEY]
        for p in self.prefixes:
            out += [p, f"{p}_outcome", f"{p}_answer", f"{p}_reason"]
        return tuple(out)

    def encode(self, total: float, results: Mapping[str, RewardResult]) -> dict[str, Any]:
        """The extra-info dict of one sample: its weighted total and every reward's result."""
        info: dict[str, Any] = {SCORE_KEY: _finite(total)}
        for name, p in zip(self.reward_names, self.prefixes):
            r = results[name]
            info[p] = _finite(r.score)
            info[f"{p}_outcome"] = OUTCOME_CODES[r.outcome]
            info[f"{p}_answer"] = "" if r.answer is None else str(r.answer)
            info[f"{p}_reason"] = r.reason
        return info

    def failed(self, outcome: Outcome, reason: str) -> dict[str, Any]:
        """The extra-info dict of a sample no reward could score (every reward gets ``outcome``)."""
        result = RewardResult(0.0, outcome, reason)
        return self.encode(0.0, dict.fromkeys(self.reward_names, result))

    def decode(self, info: Mapping[str, Any]) -> dict[str, RewardResult]:
        """Every reward's result from one sample's extra info (the inverse of :meth:`encode`)."""
        missing = [k for k in self.keys if k not in info]
        if missing:
            raise ExtraInfoError(
                f"reward_extra_info lacks rewardkit keys {missing}; was this sample scored by "
                "reward manager 'rewardkit' (or compute_score pkg://rewardkit_verl.scoring) with "
                "the same rewardkit config?"
            )
        out: dict[str, RewardResult] = {}
        for name, p in zip(self.reward_names, self.prefixes):
            answer = info[f"{p}_answer"]
            out[name] = RewardResult(
                float(info[p]),
                _OUTCOME_OF_CODE.get(int(info[f"{p}_outcome"]), Outcome.ERROR),
                str(info[f"{p}_reason"] or ""),
                str(answer) if answer not in (None, "") else None,
            )
        return out

    def decode_batch(
        self, infos: Sequence[Mapping[str, Any]]
    ) -> tuple[list[float], dict[str, list[RewardResult]]]:
        """Totals and per-reward results of many samples, in order."""
        totals = [float(info[SCORE_KEY]) for info in infos]
        results: dict[str, list[RewardResult]] = {n: [] for n in self.reward_names}
        for info in infos:
            for name, r in self.decode(info).items():
                results[name].append(r)
        return totals, results


def _finite(x: float) -> float:
    # A NaN reward would poison the whole batch's advantages; 0 with the outcome kept is honest.
    x = float(x)
    return x if math.isfinite(x) else 0.0
