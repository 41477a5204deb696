"""The ``exact`` verifier: normalised string match against one or several accepted answers."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._rollout import RewardResult, Rollout
from rewardkit.verifiers._extract import (
    completion_tail,
    extract_answer,
    normalize_answer,
    reference_answer,
)
from rewardkit.verifiers._scores import VerdictScoresConfig

__all__ = ["ExactMatchVerifier"]


class ExactConfig(VerdictScoresConfig):
    answer_sources: list[Literal["boxed", "answer_is", "hashes", "last_dollar", "whole"]] = Field(
        default_factory=lambda: ["boxed", "answer_is", "hashes"],
        min_length=1,
        description="Where to find the final answer, in order; 'whole' compares the whole "
        "completion (short-answer tasks).",
    )
    case_sensitive: bool = Field(default=False, description="Compare letter case too.")
    normalize: bool = Field(
        default=True,
        description="Apply the answer normalisation (strip $, \\text{}, spaces, trailing "
        "punctuation, ...) to both sides; off compares stripped strings.",
    )


class ExactMatchVerifier(RewardComponent):
    """Normalised string match of the final answer against the reference (or any of a list)."""

    type: ClassVar[str] = "exact"
    provides_answers: ClassVar[bool] = True
    Config: ClassVar[type[ComponentConfig]] = ExactConfig
    requires_reference: ClassVar[bool] = True
    config: ExactConfig

    def _canonical(self, text: str) -> str:
        cfg = self.config
        s = unicodedata.normalize("NFKC", text)
        s = normalize_answer(s) if cfg.normalize else s.strip()
        return s if cfg.case_sensitive else s.casefold()

    def _references(self, reference: Any) -> list[str]:
        refs = reference if isinstance(reference, (list, tuple)) else [reference]
        out = []
        for ref in refs:
            got = reference_answer(ref) if self.config.normalize else ref
            if isinstance(got, str) and got.strip():
                out.append(self._canonical(got))
        return out

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        # Linear-time string work on capped input: no worker round-trip needed.
        max_chars = context.engine.config.max_input_chars
        return [self._one(r, max_chars) for r in rollouts]

    def _one(self, rollout: Any, max_chars: int) -> RewardResult:
        cfg = self.config
        try:
            refs = self._references(rollout.reference)
            if not refs:
                return RewardResult.error("missing reference")
            text = completion_tail(rollout.completion, max_chars)
            sources = [s for s in cfg.answer_sources if s != "whole"]
            raw = extract_answer(text, sources) if sources else None  # type: ignore[arg-type]
            if raw is None and "whole" in cfg.answer_sources and text.strip():
                raw = text
            if raw is None:
                return RewardResult.no_answer(score=cfg.no_answer_score)
            answer = self._canonical(raw)
            if not answer:
                return RewardResult.no_answer("empty answer", score=cfg.no_answer_score)
            if answer in refs:
                return RewardResult.correct(cfg.correct_score, answer=answer)
            return RewardResult.incorrect(cfg.incorrect_score, answer=answer)
        except Exception as exc:  # never raise into the trainer for one odd rollout
            return RewardResult.error(f"{type(exc).__name__}: {exc}"[:300])
