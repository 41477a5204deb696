"""The ``length`` reward: DAPO's soft overlong punishment on completion tokens.

With ``L = max_tokens`` and ``B = buffer_tokens``, a completion of ``n`` tokens gets

* ``0`` when ``n <= L - B``,
* ``(L - B - n) / B * penalty`` (a linear ramp down to ``-penalty``) when ``L - B < n <= L``,
* ``-penalty`` when ``n > L``.

Token counts come from the rollout's metadata (TRL passes ``completion_ids``; other trainers a
length), or from a tokenizer named in the config, or from characters when the config says so.
A count that is missing is an ``error`` outcome, never a silent 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from rewardkit._components import ComponentConfig, RewardComponent, ScoringContext
from rewardkit._errors import ConfigFieldError
from rewardkit._rollout import RewardResult, Rollout, encodable_text, message_text

__all__ = ["OverlongPenalty", "soft_overlong_penalty"]

#: Metadata keys read for the token count, in order: sequences of ids, then plain counts.
ID_KEYS = ("completion_ids", "response_ids", "completion_token_ids")
COUNT_KEYS = ("completion_length", "response_length", "num_tokens", "completion_tokens")


def soft_overlong_penalty(n: int, max_tokens: int, buffer_tokens: int, penalty: float) -> float:
    """DAPO's overlong reward shaping for a completion of ``n`` tokens (0 down to -penalty)."""
    start = max_tokens - buffer_tokens
    if n <= start:
        return 0.0
    if n > max_tokens:
        return -penalty
    return (start - n) / buffer_tokens * penalty


class LengthConfig(ComponentConfig):
    max_tokens: int = Field(
        gt=0, description="L_max: the generation limit; longer completions get -penalty."
    )
    buffer_tokens: int = Field(
        gt=0,
        description="L_cache: width of the linear ramp before max_tokens where the penalty grows "
        "from 0 to -penalty (DAPO used 4096 of 20480).",
    )
    penalty: float = Field(
        default=1.0, gt=0, description="Largest penalty (the reward is -penalty)."
    )
    unit: Literal["tokens", "chars"] = Field(
        default="tokens",
        description="Count tokens (from metadata or 'tokenizer') or characters of the text.",
    )
    tokenizer: str | None = Field(
        default=None,
        description="A Hugging Face tokenizer (name or local path, loaded offline) used when the "
        "rollout's metadata carries no token ids or length.",
    )
    length_key: str | None = Field(
        default=None,
        description="A metadata key holding the token ids or count, tried before the usual "
        "ones (completion_ids, response_ids, completion_length, response_length, ...).",
    )

    @model_validator(mode="after")
    def _buffer_fits(self) -> LengthConfig:
        if self.buffer_tokens > self.max_tokens:
            raise ConfigFieldError(
                "buffer_tokens",
                f"buffer_tokens ({self.buffer_tokens}) must not exceed max_tokens "
                f"({self.max_tokens})",
            )
        return self


def _count_from(metadata: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = metadata.get(key)
        if value is None:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if hasattr(value, "__len__") and not isinstance(value, (str, bytes, Mapping)):
            return len(value)
        if hasattr(value, "item"):  # a scalar tensor or numpy number
            return int(value.item())
    return None


class OverlongPenalty(RewardComponent):
    """DAPO soft overlong penalty: 0 up to max_tokens - buffer, a linear ramp, then -penalty."""

    type: ClassVar[str] = "length"
    Config: ClassVar[type[ComponentConfig]] = LengthConfig
    config: LengthConfig

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._tokenizer: Any = None

    def _tokenize_count(self, text: str) -> int:
        if self._tokenizer is None:
            from transformers import AutoTokenizer  # heavy: only when configured and needed

            self._tokenizer = AutoTokenizer.from_pretrained(self.config.tokenizer)
        return len(self._tokenizer(encodable_text(text), add_special_tokens=False)["input_ids"])

    def _length(self, rollout: Any) -> int | None:
        cfg = self.config
        if cfg.unit == "chars":
            return len(message_text(rollout.completion))
        keys = (cfg.length_key,) if cfg.length_key else ()
        metadata = rollout.metadata if isinstance(rollout.metadata, Mapping) else {}
        n = _count_from(metadata, (*keys, *ID_KEYS, *COUNT_KEYS))
        if n is None and isinstance(metadata.get("extra_info"), Mapping):
            n = _count_from(metadata["extra_info"], (*keys, *ID_KEYS, *COUNT_KEYS))
        if n is None and cfg.tokenizer is not None:
            n = self._tokenize_count(message_text(rollout.completion))
        return n

    def score(self, rollouts: Sequence[Rollout], context: ScoringContext) -> list[RewardResult]:
        cfg = self.config
        out = []
        for r in rollouts:
            try:
                n = self._length(r)
            except Exception as exc:
                out.append(
                    RewardResult.error(f"cannot count tokens: {type(exc).__name__}: {exc}"[:300])
                )
                continue
            if n is None:
                out.append(
                    RewardResult.error(
                        "no token count: the rollout has no completion_ids/length metadata; set "
                        "'tokenizer' or unit: chars"
                    )
                )
                continue
            value = soft_overlong_penalty(n, cfg.max_tokens, cfg.buffer_tokens, cfg.penalty)
            if value == 0.0:
                out.append(RewardResult.correct(0.0))
            else:
                out.append(
                    RewardResult.incorrect(value, reason=f"{n} {cfg.unit} (limit {cfg.max_tokens})")
                )
        return out
