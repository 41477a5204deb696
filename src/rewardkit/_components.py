"""The four component kinds and what the pipeline hands them.

* :class:`RewardComponent` - a per-rollout reward or verifier: one :class:`RewardResult` each.
* :class:`ShapingTerm` - a group/batch term applied after the rewards; sees whole groups and may
  keep state across steps (``state_dict`` / ``load_state_dict``).
* :class:`TokenMaskComponent` - per-token entropies in, a loss mask or weights out (torch).
* :class:`DiagnosticMetric` - reads a scored batch, returns named numbers (and, like any
  component, may keep state across batches through ``state_dict`` / ``load_state_dict``).

A component class declares its ``type`` name, a pydantic ``Config`` model with its own fields,
and a one-line ``summary``. Plugins contribute classes through the ``rewardkit_components`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from rewardkit._rollout import Batch, RewardResult

if TYPE_CHECKING:
    from rewardkit._engine import ExecutionEngine
    from rewardkit._pipeline import ScoredBatch

__all__ = [
    "Component",
    "ComponentConfig",
    "ComponentKind",
    "DiagnosticMetric",
    "RewardComponent",
    "ScoringContext",
    "ShapingInput",
    "ShapingTerm",
    "TokenMaskComponent",
]


class ComponentKind(str, Enum):
    """Where a component sits in the pipeline and which config section lists it."""

    REWARD = "reward"
    SHAPING = "shaping"
    TOKEN_MASK = "token_mask"
    DIAGNOSTIC = "diagnostic"

    def __str__(self) -> str:
        return self.value


class ComponentConfig(BaseModel):
    """Base of every component's own config model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """What the pipeline passes to a reward besides the rollouts."""

    engine: ExecutionEngine
    step: int | None = None


@dataclass(frozen=True, slots=True)
class ShapingInput:
    """What a shaping term sees: the batch, the reward so far, and every reward's results."""

    batch: Batch
    totals: Sequence[float]
    results: Mapping[str, Sequence[RewardResult]]
    step: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


class Component:
    """Common part of every component: its ``type`` name, config model and instance name."""

    type: ClassVar[str]
    kind: ClassVar[ComponentKind]
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    summary: ClassVar[str] = ""
    #: Whether the component reads ``Rollout.completion_logprobs``; adapters then supply them
    #: (the TRL trainers run a no-grad forward pass when TRL computed none).
    needs_logprobs: ClassVar[bool] = False

    def __init__(self, config: ComponentConfig | None = None, *, name: str | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.name = name or self.type

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @classmethod
    def describe(cls) -> str:
        """The one-line summary shown by ``rewardkit components``."""
        if cls.summary:
            return cls.summary
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def close(self) -> None:
        """Release models, pools or files the component holds."""

    # Any component (shaping term, diagnostic, reward) that keeps state across batches overrides
    # both methods; the pipeline then saves and resumes that state by the entry's name.

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state to checkpoint (a JSON object); stateless components keep the
        default and are left out of the pipeline's state."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; raise ``StateError`` (or ``KeyError``,
        ``TypeError``, ``ValueError``) for a state that does not fit."""

    @property
    def stateful(self) -> bool:
        """Whether the component overrides :meth:`state_dict` (and so is checkpointed)."""
        return type(self).state_dict is not Component.state_dict


class RewardComponent(Component):
    """A per-rollout reward or verifier.

    Implement :meth:`score`; it must return one result per rollout, in order, and never raise for
    bad input (return an ``error`` or ``no_answer`` outcome instead). Set
    ``requires_reference`` when a rollout without a reference cannot be scored.
    """

    kind: ClassVar[ComponentKind] = ComponentKind.REWARD
    requires_reference: ClassVar[bool] = False

    def score(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        raise NotImplementedError

    async def ascore(self, rollouts: Sequence[Any], context: ScoringContext) -> list[RewardResult]:
        """Async variant; the default runs :meth:`score` in a thread so the event loop stays free."""
        import asyncio  # lazily: asyncio costs ~40 ms of `import rewardkit`

        return await asyncio.to_thread(self.score, rollouts, context)


class ShapingTerm(Component):
    """A group- or batch-level term applied after the rewards, in config order.

    :meth:`shape` returns one value per rollout; the pipeline adds it to the reward so far or
    multiplies the reward so far by it, as the entry's ``combine`` says (``default_combine``
    when the config is silent). Stateful terms override ``state_dict``/``load_state_dict``
    (defined on :class:`Component`, so stateful diagnostics work the same way).
    """

    kind: ClassVar[ComponentKind] = ComponentKind.SHAPING
    default_combine: ClassVar[Literal["add", "multiply"]] = "add"

    def shape(self, data: ShapingInput) -> list[float]:
        raise NotImplementedError


class TokenMaskComponent(Component):
    """Turns per-token entropies (B x T, torch) into a boolean loss mask or float weights."""

    kind: ClassVar[ComponentKind] = ComponentKind.TOKEN_MASK

    def mask(self, entropies: Any, valid_mask: Any) -> Any:
        raise NotImplementedError

    def weights(self, entropies: Any, valid_mask: Any) -> Any:
        """Float weights; the default is the boolean mask as 0/1."""
        return self.mask(entropies, valid_mask).to(entropies.dtype)


class DiagnosticMetric(Component):
    """Reads a scored batch and returns named numbers (logged as ``rewardkit/<name>/<key>``)."""

    kind: ClassVar[ComponentKind] = ComponentKind.DIAGNOSTIC

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        raise NotImplementedError
