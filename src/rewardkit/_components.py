"""The four component kinds and what the pipeline hands them.

* :class:`RewardComponent` - a per-rollout reward or verifier: one :class:`RewardResult` each.
* :class:`ShapingTerm` - a group/batch term applied after the rewards; sees whole groups and may
  keep state across steps (``state_dict`` / ``load_state_dict``).
* :class:`TokenMaskComponent` - per-token entropies in, a loss mask or weights out (torch).
* :class:`DiagnosticMetric` - reads a scored batch, returns named numbers (and, like any
  component, may keep state across batches through ``state_dict`` / ``load_state_dict``).

A component class declares its ``type`` name, a pydantic ``Config`` model with its own fields,
and a one-line ``summary``. Plugins contribute classes through the ``rewardkit_components`` hook.

What the config layer and the adapters need to know about a component, the component declares:
rules that span several fields of its entry (``check_entry``, run by ``rewardkit validate`` and
``RewardPipeline`` alike), fields that name another entry of the config
(:func:`entry_reference_field`), and, for rewards, whether it waits on I/O (``io_bound``). No
layer above this one tests a component's ``type`` name.

This module is the second layer (:mod:`rewardkit._rollout` and :mod:`rewardkit._scored` below
it): it imports neither the engine, the registry, the config nor the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from rewardkit._rollout import Batch, RewardResult
from rewardkit._scored import ScoredBatch
from rewardkit._tokens import Normalizer, TokenInputs, TokenOutput, TokenStage

__all__ = [
    "ENTRY_REFERENCE_KEY",
    "Component",
    "ComponentConfig",
    "ComponentKind",
    "DiagnosticMetric",
    "EntryCheckContext",
    "Executor",
    "RewardComponent",
    "ScoringContext",
    "ShapingInput",
    "ShapingTerm",
    "TokenMaskComponent",
    "entry_reference_field",
    "entry_reference_requirement",
    "entry_references",
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
    """Base of every component's own config model: unknown fields are errors, values are frozen,
    and no float field takes NaN or infinity (a NaN score or coefficient would poison every
    total it reaches)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: Key in a field's JSON Schema extras marking a field whose value names another entry of the
#: config; the value is the section it names an entry of (``"rewards"``, ...).
ENTRY_REFERENCE_KEY = "x-rewardkit-entry"
#: Key in a reference field's JSON Schema extras naming a boolean class attribute the named
#: entry's component must declare true (``"provides_answers"`` for ``answer_from``).
ENTRY_REQUIRES_KEY = "x-rewardkit-entry-requires"


def entry_reference_field(
    section: Literal["rewards", "shaping", "diagnostics"] = "rewards",
    *,
    description: str,
    default: Any = None,
    requires: str | None = None,
) -> Any:
    """A config field whose value is the ``name`` of an entry in ``section`` of the same config.

    The config checks every such field (``rewardkit validate`` and ``RewardPipeline`` alike) and
    reports a name that matches no entry with its field path; the JSON Schema carries the marker
    under :data:`ENTRY_REFERENCE_KEY`, so editors can tell the value is a name. ``requires``
    names a boolean class attribute the named entry's component must declare true (an
    ``answer_from`` that reads answers requires ``provides_answers``); an entry whose component
    does not is rejected at the same field path.
    """
    extra: dict[str, Any] = {ENTRY_REFERENCE_KEY: section}
    if requires is not None:
        extra[ENTRY_REQUIRES_KEY] = requires
    return Field(default=default, description=description, json_schema_extra=extra)


def entry_references(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> section, for every :func:`entry_reference_field` of a config model."""
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, Mapping) and isinstance(extra.get(ENTRY_REFERENCE_KEY), str):
            out[name] = str(extra[ENTRY_REFERENCE_KEY])
    return out


def entry_reference_requirement(model: type[BaseModel], field: str) -> str | None:
    """The class attribute an :func:`entry_reference_field` requires of the entry it names."""
    extra = model.model_fields[field].json_schema_extra
    if isinstance(extra, Mapping) and isinstance(extra.get(ENTRY_REQUIRES_KEY), str):
        return str(extra[ENTRY_REQUIRES_KEY])
    return None


def require_combine(entry: Any, combine: str, message: str) -> list[tuple[str, str]]:
    """A ``check_entry`` rule for a shaping term that only works with one ``combine``: its
    problem ``("combine", message)`` when the entry sets another (unset counts as ``combine``)."""
    if getattr(entry, "combine", combine) != combine:
        return [("combine", message)]
    return []


@dataclass(frozen=True, slots=True)
class EntryCheckContext:
    """What :meth:`Component.check_entry` sees besides the entry itself.

    ``config`` is the whole validated config and ``registry`` the component registry it was
    validated with; both are ``None`` when a component is built on its own from its ``Config``
    (then rules about other entries cannot be checked and are skipped).
    """

    config: Any = None
    registry: Any = None


class Executor(Protocol):
    """What a reward sees of the execution engine (:class:`rewardkit.ExecutionEngine`)."""

    config: Any

    def map(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        *,
        keys: Sequence[Hashable] | None = None,
        timeout_s: float | None = None,
    ) -> list[RewardResult]: ...

    async def amap(
        self,
        fn: Callable[[Any], RewardResult],
        items: Sequence[Any],
        *,
        keys: Sequence[Hashable] | None = None,
        timeout_s: float | None = None,
    ) -> list[RewardResult]: ...


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """What the pipeline passes to a reward besides the rollouts."""

    engine: Executor
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
        if not hasattr(type(self.config), "__rewardkit_component__"):
            # Built on its own, not from a validated config entry (whose rules the config
            # checked already): the entry's own rules still hold.
            problems = list(type(self).check_entry(self.config, EntryCheckContext()))
            if problems:
                from rewardkit._errors import ConfigError, ConfigErrorDetail

                raise ConfigError(
                    [ConfigErrorDetail(f, m) for f, m in problems],
                    source=f"entry {self.name!r} ({self.type})",
                )

    @classmethod
    def check_entry(cls, entry: Any, context: EntryCheckContext) -> list[tuple[str, str]]:
        """Rules that span several fields of one config entry, or the entry and the rest of
        the config: ``(field, message)`` for each broken one, ``field`` relative to the entry.

        ``entry`` is the component's validated entry: its ``Config`` fields plus those the
        config adds (``name``; ``weight`` for rewards; ``combine`` for shaping terms), or a bare
        ``Config`` when the component is built on its own (read added fields with ``getattr``
        and a default). ``rewardkit validate`` and ``RewardPipeline`` run the same check, so
        both accept the same configs and name the field. The default has no rules; rules
        within the component's own fields can also stay pydantic validators on ``Config``.
        """
        return []

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
    ``requires_reference`` when a rollout without a reference cannot be scored, and ``io_bound``
    when scoring waits on I/O.
    """

    kind: ClassVar[ComponentKind] = ComponentKind.REWARD
    requires_reference: ClassVar[bool] = False
    #: Whether its results carry the canonical ``answer`` of each rollout (what an
    #: ``answer_from`` that groups by answers reads); the config rejects such an ``answer_from``
    #: naming a reward that does not.
    provides_answers: ClassVar[bool] = False
    #: Whether scoring waits on something outside the process (sandbox subprocesses, a remote
    #: judge) rather than on the CPU; adapters then score it concurrently with the others.
    io_bound: ClassVar[bool] = False

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

    A term that raises, or returns other than one finite number per rollout, fails the step
    with :class:`~rewardkit.ShapingError` naming it: its values change every rollout's training
    signal, so the pipeline never drops or zeroes them silently.
    """

    kind: ClassVar[ComponentKind] = ComponentKind.SHAPING
    default_combine: ClassVar[Literal["add", "multiply"]] = "add"

    def shape(self, data: ShapingInput) -> list[float]:
        raise NotImplementedError


class TokenMaskComponent(Component):
    """A token component: works on one micro-batch of response tokens (B x T, torch) in the loss.

    Declare the ``token_stage`` (``mask``, ``advantage``, ``loss`` or ``diagnostic``; the adapters
    apply the stages in that order) and implement :meth:`apply_tokens`, which gets a
    :class:`~rewardkit._tokens.TokenInputs` and returns a :class:`~rewardkit._tokens.TokenOutput`.
    A mask may implement only :meth:`mask` (bool) or :meth:`weights` (float): the default
    :meth:`apply_tokens` calls :meth:`mask` (or :meth:`weights` where overridden), and ``rewardkit.masks.run_token_term`` adds the
    statistics. Both adapters drive every token component through that one path.
    """

    kind: ClassVar[ComponentKind] = ComponentKind.TOKEN_MASK
    #: Where in the loss the component acts (see :data:`rewardkit._tokens.TOKEN_STAGES`).
    token_stage: ClassVar[TokenStage] = "mask"
    #: Whether :meth:`apply_tokens` reads ``inputs.token_text`` (the adapters then pass a
    #: cached decoder where they have a tokenizer).
    needs_token_text: ClassVar[bool] = False

    @property
    def logged_top_tokens(self) -> int:
        """How many of the most frequent tokens of its ``token_counts`` (a mask's kept tokens)
        an adapter logs as text: the config's ``top_tokens``, else 10; 0 logs none."""
        return int(getattr(self.config, "top_tokens", 10))

    @property
    def normalizer(self) -> Normalizer:
        """The mask's loss denominator: ``all`` (valid tokens) unless the config says
        ``selected`` (kept tokens)."""
        return getattr(self.config, "normalizer", "all")

    def mask(self, entropies: Any, valid_mask: Any) -> Any:
        """Boolean B x T mask of the kept tokens (mask stage)."""
        raise NotImplementedError

    def weights(self, entropies: Any, valid_mask: Any) -> Any:
        """Float weights; the default is the boolean mask as 0/1."""
        return self.mask(entropies, valid_mask).to(entropies.dtype)

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        """This component's effect on one micro-batch. The default (a mask stage) returns
        :meth:`weights` and this component's ``normalizer``; other stages override it."""
        if self.token_stage != "mask":
            raise NotImplementedError(
                f"token term {self.type!r} ({self.token_stage} stage) must implement apply_tokens"
            )
        if type(self).weights is TokenMaskComponent.weights:  # a plain 0/1 mask
            mask = self.mask(inputs.entropies, inputs.valid)
            return TokenOutput(mask=mask, normalizer=self.normalizer)
        weights = self.weights(inputs.entropies, inputs.valid)
        return TokenOutput(weights=weights, normalizer=self.normalizer)


class DiagnosticMetric(Component):
    """Reads a scored batch and returns named numbers (logged as ``rewardkit/<name>/<key>``).

    A diagnostic that raises or returns something else is logged as a warning (once) and adds
    no metric that step; it never fails the step. Raise a :class:`~rewardkit.BatchError` (any
    ``RewardKitError`` passes unchanged) for input the batch lacks.
    """

    kind: ClassVar[ComponentKind] = ComponentKind.DIAGNOSTIC

    def compute(self, scored: ScoredBatch) -> dict[str, float]:
        raise NotImplementedError
