"""The ``format`` reward: tag structure (``<think>...</think><answer>...</answer>``) or a regex.

Tag checks are plain ``str.find`` scans in the trainer's process. A user regex, though, can
backtrack for hours on a long completion (``(a+)+$``), and Python cannot interrupt ``re``, so
regex checks run in the engine's workers under the hard deadline.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._rollout import RewardResult, Rollout
from rewardkit.verifiers._extract import completion_tail

__all__ = ["FormatReward", "check_pattern", "check_tags"]


def check_tags(
    text: str, tags: Sequence[str], *, allow_outside_text: bool, opened_by_prompt: bool
) -> list[tuple[str, bool]]:
    """Named structure checks: each tag opened and closed exactly once, in order, and (unless
    allowed) nothing but whitespace outside them. Returns ``(check, passed)`` pairs."""
    if opened_by_prompt and tags:
        # Chat templates such as Qwen3's end the prompt with "<think>\n"; the completion then
        # starts inside the first tag.
        text = f"<{tags[0]}>" + text
    checks: list[tuple[str, bool]] = []
    spans: list[tuple[int, int] | None] = []
    for tag in tags:
        open_t, close_t = f"<{tag}>", f"</{tag}>"
        ok = text.count(open_t) == 1 and text.count(close_t) == 1
        start, end = text.find(open_t), text.find(close_t)
        ok = ok and start < end
        checks.append((f"<{tag}> once", ok))
        spans.append((start, end + len(close_t)) if ok else None)
    if len(tags) > 1:
        found = [s for s in spans if s is not None]
        ordered = len(found) == len(tags) and all(
            a[1] <= b[0] for a, b in itertools.pairwise(found)
        )
        checks.append(("tags in order", ordered))
    if not allow_outside_text:
        outside_ok = all(s is not None for s in spans)
        if outside_ok:
            pos = 0
            for s in sorted(spans):  # type: ignore[type-var]
                assert s is not None
                if text[pos : s[0]].strip():
                    outside_ok = False
                pos = s[1]
            outside_ok = outside_ok and not text[pos:].strip()
        checks.append(("no text outside tags", outside_ok))
    return checks


@lru_cache(maxsize=64)
def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def check_pattern(item: tuple[str, int, str, str]) -> RewardResult:
    """Worker function: does ``text`` match ``pattern`` (``fullmatch`` or ``search``)?"""
    pattern, flags, mode, text = item
    rx = _compiled(pattern, flags)
    m = rx.fullmatch(text) if mode == "fullmatch" else rx.search(text)
    return RewardResult.correct() if m else RewardResult.incorrect(reason="pattern does not match")


class FormatConfig(ComponentConfig):
    tags: list[str] = Field(
        default_factory=lambda: ["think", "answer"],
        min_length=1,
        description="Tags the completion must consist of, in order, each opened and closed "
        "once. Ignored when 'pattern' is set.",
    )
    allow_outside_text: bool = Field(
        default=False,
        description="Allow text outside the tags (e.g. tags=['think'] then a free-form answer).",
    )
    opened_by_prompt: bool = Field(
        default=False,
        description="The prompt already ends with the first opening tag (chat templates that "
        "append '<think>'), so the completion starts inside it.",
    )
    pattern: str | None = Field(
        default=None,
        max_length=10_000,
        description="A Python regex the completion must match instead of the tag checks; run "
        "in a worker under the engine's deadline, so a catastrophic pattern times out.",
    )
    match: Literal["fullmatch", "search"] = Field(
        default="fullmatch", description="How 'pattern' must match: the whole text, or anywhere."
    )
    dotall: bool = Field(default=True, description="Let '.' in 'pattern' match newlines.")
    mode: Literal["binary", "fraction"] = Field(
        default="binary",
        description="'binary': 1 when every check passes; 'fraction': the share of tag checks "
        "passed (a pattern is one check).",
    )
    score: float = Field(default=1.0, description="Score of a well-formed completion.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return value

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"[A-Za-z][\w\-.:]*", tag):
                raise ValueError(f"invalid tag name {tag!r}: use letters, digits, '_', '-'")
        return value


class FormatReward(RewardComponent):
    """Rewards well-formed output: tag structure such as <think>...</think><answer>...</answer>, or a regex."""

    type: ClassVar[str] = "format"
    Config: ClassVar[type[ComponentConfig]] = FormatConfig
    config: FormatConfig

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        cfg = self.config
        max_chars = context.engine.config.max_input_chars
        texts = [completion_tail(r.completion, max_chars) for r in rollouts]
        if cfg.pattern is None:
            return [self._tags(t) for t in texts]
        flags = re.DOTALL if cfg.dotall else 0
        items = [(cfg.pattern, flags, cfg.match, t) for t in texts]
        # No cache keys: completions rarely repeat, and keys would hold whole texts.
        verdicts = context.engine.map(check_pattern, items)
        return [
            RewardResult(cfg.score if v.outcome.value == "correct" else 0.0, v.outcome, v.reason)
            for v in verdicts
        ]

    def _tags(self, text: str) -> RewardResult:
        cfg = self.config
        if not text.strip():
            return RewardResult.no_answer("empty completion")
        checks = check_tags(
            text,
            cfg.tags,
            allow_outside_text=cfg.allow_outside_text,
            opened_by_prompt=cfg.opened_by_prompt,
        )
        failed = [name for name, ok in checks if not ok]
        if not failed:
            return RewardResult.correct(cfg.score)
        value = cfg.score * (1 - len(failed) / len(checks)) if cfg.mode == "fraction" else 0.0
        return RewardResult.incorrect(value, reason="failed: " + ", ".join(failed))

    async def ascore(
        self, rollouts: Sequence[Rollout], context: ScoringContext
    ) -> list[RewardResult]:
        if self.config.pattern is None:
            return self.score(rollouts, context)
        return await super().ascore(rollouts, context)
