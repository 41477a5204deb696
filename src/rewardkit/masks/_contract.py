"""The adapters' side of the token-component contract (torch; no adapter imports).

Both adapters call :func:`run_token_term` for every token component, built-in or a plugin's,
and turn a mask's output into the weights their loss multiplies by with :func:`policy_weights`.
Nothing here knows a particular component: what a component does is in its
:meth:`~rewardkit.TokenMaskComponent.apply_tokens`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from rewardkit._components import TokenMaskComponent
from rewardkit._errors import BatchError, ConfigError
from rewardkit._metrics import metric_name
from rewardkit._tokens import TOKEN_STAGES, TokenInputs, TokenOutput
from rewardkit.masks._entropy_mask import normalizer_scale
from rewardkit.masks._entropy_stats import token_entropy_stats

if TYPE_CHECKING:
    import torch

__all__ = [
    "TOKEN_MASK_PREFIX",
    "by_stage",
    "policy_weights",
    "run_token_term",
    "sum_metric_key",
]

#: Prefix of a mask stage's statistics in the trainers' metrics.
TOKEN_MASK_PREFIX = metric_name("token_mask", "")

_TENSOR_FIELDS = ("mask", "weights", "advantages", "loss_scale", "penalty")


def sum_metric_key(term: TokenMaskComponent, key: str) -> str:
    """The metric name of one of a term's ``sums``: ``rewardkit/<type>/<key>``."""
    return metric_name(term.type, key)


def by_stage(terms: Iterable[TokenMaskComponent]) -> list[TokenMaskComponent]:
    """The terms in the order the adapters apply them (:data:`rewardkit._tokens.TOKEN_STAGES`),
    config order within a stage. A component with an unknown stage is a ``ConfigError``."""
    terms = list(terms)
    for term in terms:
        if not isinstance(term, TokenMaskComponent):
            raise ConfigError(
                f"a token term must be a rewardkit TokenMaskComponent, got {type(term).__name__}"
            )
        if term.token_stage not in TOKEN_STAGES:
            raise ConfigError(
                f"token term {term.type!r} declares token_stage={term.token_stage!r}; "
                f"expected one of {TOKEN_STAGES}"
            )
    return sorted(terms, key=lambda t: TOKEN_STAGES.index(t.token_stage))


def _contract_error(term: TokenMaskComponent, problem: str) -> BatchError:
    return BatchError(
        f"token term {term.name!r} (type {term.type!r}, {term.token_stage} stage) broke the "
        f"token-component contract: {problem}"
    )


def run_token_term(term: TokenMaskComponent, inputs: TokenInputs) -> TokenOutput:
    """Call ``term.apply_tokens(inputs)``, check the result, and complete a mask stage's output.

    Every tensor field must be B x T like ``inputs.entropies``. For a mask stage the output then
    always has ``mask`` (bool, never on an invalid token), ``weights`` (a mask without weights
    gets ``mask`` × its ``normalizer``'s scale over the micro-batch; weights without a mask get
    ``mask = weights > 0`` and ``soft=True``) and, when ``inputs.stats``, ``stats`` (the
    token-entropy statistics over the kept tokens, gathered over ``inputs.group`` when
    ``inputs.gather_stats``: then a collective every rank reaches).

    Raises :class:`rewardkit.BatchError` naming the term when it returns something else.
    """
    import torch

    out = term.apply_tokens(inputs)
    if not isinstance(out, TokenOutput):
        raise _contract_error(term, f"apply_tokens returned {type(out).__name__}, not TokenOutput")
    shape = tuple(inputs.entropies.shape)
    for name in _TENSOR_FIELDS:
        value = getattr(out, name)
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise _contract_error(term, f"{name} is a {type(value).__name__}, not a torch tensor")
        if tuple(value.shape) != shape:
            raise _contract_error(term, f"{name} has shape {tuple(value.shape)}, expected {shape}")
    if out.normalizer not in ("all", "selected"):
        raise _contract_error(term, f"normalizer {out.normalizer!r} is not 'all' or 'selected'")
    if term.token_stage != "mask":
        return out
    valid = inputs.valid.bool()
    mask, weights, soft = out.mask, out.weights, out.soft
    if mask is None and weights is None:
        raise _contract_error(term, "a mask stage returned neither mask nor weights")
    if mask is not None:
        mask = mask.bool() & valid
    if weights is None:
        dtype = torch.promote_types(inputs.entropies.dtype, torch.float32)
        scale = normalizer_scale(mask, valid, "batch", out.normalizer)
        weights = mask.to(dtype) * scale.to(dtype)
    elif mask is None:
        mask = (weights.detach() > 0) & valid
        soft = True
    stats = out.stats
    if stats is None and inputs.stats:
        stats = token_entropy_stats(
            inputs.entropies,
            valid,
            kept_mask=mask,
            token_ids=inputs.token_ids,
            correct=inputs.correct,
            group=inputs.group,
            gather=inputs.gather_stats,
        )
    return dataclasses.replace(out, mask=mask, weights=weights, soft=soft, stats=stats)


def policy_weights(
    output: TokenOutput,
    valid: torch.Tensor,
    *,
    per: Literal["row", "batch"] | None = None,
    as_bool: bool = False,
) -> torch.Tensor:
    """The weights a trainer multiplies its per-token policy-gradient loss by, for a mask
    stage's (completed) output.

    ``per`` says how the trainer's loss divides: ``"row"`` (each response by its own valid
    tokens: TRL ``grpo``/``sapo``, verl ``seq-mean-token-mean``) or ``"batch"`` (the
    micro-batch's valid tokens: TRL ``bnpo``); ``None`` for anything else. Under
    ``normalizer: selected`` a 0/1 mask is then rescaled by that row's or micro-batch's
    ``N_valid / N_kept``, so the loss is exactly the mean over the kept tokens; otherwise the
    component's own (scope-scaled) ``weights`` are returned. Soft weights are never rescaled.
    ``as_bool`` returns the bool mask itself where the weights are just the 0/1 mask
    (``normalizer: all``).
    """
    if output.mask is None or output.weights is None:
        raise BatchError("policy_weights needs a mask stage's output completed by run_token_term")
    if output.soft:
        return output.weights
    if output.normalizer == "selected" and per is not None:
        scope = "sequence" if per == "row" else "batch"
        dtype = output.weights.dtype
        scale = normalizer_scale(output.mask, valid.bool(), scope, "selected")
        return output.mask.to(dtype) * scale.to(dtype)
    if as_bool and output.normalizer == "all":
        return output.mask
    return output.weights
