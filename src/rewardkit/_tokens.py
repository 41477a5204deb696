"""What a token component is handed and what it returns (the token-component contract).

A :class:`~rewardkit.TokenMaskComponent` works on one micro-batch of response tokens (B x T torch
tensors) inside the trainer's loss. Both adapters build a :class:`TokenInputs`, call
``term.apply_tokens(inputs)`` (through :func:`rewardkit.masks.run_token_term`, which checks the
result and fills in what the contract promises) and apply the :class:`TokenOutput` the same way,
whatever the component is, a built-in or a plugin's:

========== ============================================ ==========================================
stage      the component returns                        the adapter
========== ============================================ ==========================================
mask       ``mask`` (bool) and/or ``weights`` (float),  multiplies the per-token policy-gradient
           ``normalizer``, ``stats``                    loss by the weights (rescaled per response
                                                        or micro-batch for ``selected``, see
                                                        :func:`rewardkit.masks.policy_weights`)
advantage  ``advantages`` (B x T)                       uses them instead of the advantages
loss       ``loss_scale`` and/or ``penalty`` (B x T)    multiplies / adds them to the per-token
                                                        policy loss
diagnostic ``stats`` and/or ``sums``                    logs them
========== ============================================ ==========================================

Every stage may return, and an adapter logs under ``rewardkit/<type>/<key>`` (whatever the
component, so a plugin's diagnostic is logged like the built-in ``token_entropy``):

* ``sums``: per-key sums over this micro-batch's valid tokens; logged as
  ``sum over ranks / valid tokens over ranks``;
* ``ratios``: per-key ``(numerator, denominator)`` sums over this micro-batch; logged as
  ``numerator over ranks / denominator over ranks``, nothing when that denominator is 0 (one
  reduction for all keys: every rank must return the same keys);
* ``metrics``: numbers already batch-global (computed over ``inputs.group`` when
  ``inputs.gather_stats``), logged as given;
* ``token_counts``: per-key ``(token id, count)`` pairs; an adapter adds them up over its logging
  window and logs the component's ``logged_top_tokens`` most frequent as text where it has a
  tokenizer.

A component that needs the text of tokens declares ``needs_token_text``; the adapter then passes
``inputs.token_text`` (token id -> its decoded piece, cached) where it has a tokenizer. A mask's
``stats`` (a :class:`rewardkit.masks.TokenEntropyStats`) is logged as
``rewardkit/token_mask/<stat>``.

torch-free on purpose: the tensors are typed ``Any`` and this module is a data-type layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["TOKEN_STAGES", "Normalizer", "TokenInputs", "TokenOutput", "TokenStage"]

TokenStage = Literal["mask", "advantage", "loss", "diagnostic"]
Normalizer = Literal["all", "selected"]

#: The order in which the adapters apply the stages, whatever the order of the ``token:`` list.
TOKEN_STAGES: tuple[str, ...] = ("mask", "advantage", "loss", "diagnostic")


@dataclass(frozen=True, slots=True)
class TokenInputs:
    """One micro-batch of response tokens, as the trainer's loss sees it.

    ``entropies`` and ``valid`` are always there; the rest is ``None`` where the adapter has no
    value at this point (verl's driver has no current-policy log-probs, for example), so a
    component checks what it needs.
    """

    #: B x T per-token entropies of the policy (nats), float; detach before use.
    entropies: Any
    #: B x T bool (or 0/1): the response tokens that count (padding and tool output excluded).
    valid: Any
    #: B x T token ids of the responses (for statistics that name tokens).
    token_ids: Any = None
    #: (B,) per-rollout correctness: 1 correct, 0 not, NaN/None unknown.
    correct: Any = None
    #: (B,), (B, 1) or B x T advantages, after the earlier stages changed them.
    advantages: Any = None
    #: B x T log-probabilities of the sampled tokens under the current policy (with gradient).
    logprobs: Any = None
    #: B x T log-probabilities under the policy that sampled them (no gradient).
    old_logprobs: Any = None
    #: B x T float: the policy-gradient weights the mask stage chose (None: every valid token 1).
    weights: Any = None
    #: PPO's ratio clip (ε_low, ε_high) of the trainer.
    clip_low: float = 0.2
    clip_high: float = 0.2
    #: The torch.distributed process group of the data-parallel ranks (None: WORLD).
    group: Any = None
    #: Whether to compute statistics at all, and whether they may gather tokens over ranks (a
    #: collective: every rank then calls the component).
    stats: bool = True
    gather_stats: bool = True
    #: token id -> its decoded text (cached), for a component that declares
    #: ``needs_token_text``; None where the adapter has no tokenizer.
    token_text: Any = None

    def __repr__(self) -> str:
        shape = tuple(getattr(self.entropies, "shape", ()))
        given = [
            name
            for name in ("token_ids", "correct", "advantages", "logprobs", "old_logprobs")
            if getattr(self, name) is not None
        ]
        return f"TokenInputs(shape={shape}, with={given})"


@dataclass(frozen=True, slots=True)
class TokenOutput:
    """What a token component returns for one micro-batch (every field optional; see the module
    docstring for which stage fills which)."""

    #: B x T bool: the tokens the policy gradient keeps (mask stage), or the tokens a loss term
    #: acted on.
    mask: Any = None
    #: B x T float policy-gradient weights, already scaled for ``normalizer`` over the
    #: component's own scope (``N_valid / N_kept``). A mask stage that returns only ``mask``
    #: gets ``mask`` × that scale (over the micro-batch) filled in.
    weights: Any = None
    #: ``all``: the loss keeps dividing by the valid tokens; ``selected``: by the kept ones. For
    #: a 0/1 mask the adapter rescales per response or per micro-batch where its loss divides
    #: that way (:func:`rewardkit.masks.policy_weights`); soft ``weights`` are used as given.
    normalizer: Normalizer = "all"
    #: Whether ``weights`` are free floats rather than ``mask`` × a scale (set by
    #: :func:`rewardkit.masks.run_token_term` when the component returned weights only).
    soft: bool = False
    #: B x T advantages replacing the input ones (advantage stage).
    advantages: Any = None
    #: B x T float multiplying the per-token policy loss (loss stage; 0 stops a token's gradient).
    loss_scale: Any = None
    #: B x T per-token loss added to the policy loss, aggregated as the trainer aggregates it.
    penalty: Any = None
    #: Token-entropy statistics (``rewardkit.masks.TokenEntropyStats``) of a mask stage.
    stats: Any = None
    #: Per-key sums over this micro-batch's valid tokens (scalar tensors or floats); logged as
    #: ``rewardkit/<type>/<key>`` = sum over ranks / valid tokens over ranks.
    sums: Mapping[str, Any] = field(default_factory=dict)
    #: Per-key ``(numerator, denominator)`` sums over this micro-batch (scalar tensors or
    #: floats); logged as ``rewardkit/<type>/<key>`` = numerator over ranks / denominator over
    #: ranks, absent when the denominator is 0. Every rank returns the same keys.
    ratios: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    #: Batch-global numbers (equal on every rank), logged as ``rewardkit/<type>/<key>``.
    metrics: Mapping[str, float] = field(default_factory=dict)
    #: Per-key ``(token id, count)`` pairs, summed by the adapter over its logging window and
    #: logged as text (``rewardkit/<type>/<key>``, the component's ``logged_top_tokens`` most
    #: frequent).
    token_counts: Mapping[str, Sequence[tuple[int, int]]] = field(default_factory=dict)

    def __repr__(self) -> str:
        given = [
            name
            for name in ("mask", "weights", "advantages", "loss_scale", "penalty", "stats")
            if getattr(self, name) is not None
        ]
        logged = [*self.sums, *self.ratios, *self.metrics, *self.token_counts]
        return f"TokenOutput(normalizer={self.normalizer!r}, with={given}, logs={logged})"
