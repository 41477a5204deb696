"""rewardkit's entropy token mask inside verl 0.9.1's actor update.

verl has no top-ρ entropy mask and passes no entropy to policy-loss functions, so there are two
ways in; both gate only the policy-gradient term, by multiplying the *advantages* by the mask
weights (0 for dropped tokens; ``N_valid / N_kept`` of the scope for kept ones with
``normalizer: selected``). The KL and entropy-bonus terms and the clip-fraction denominators
stay on all response tokens, and the denominator stays verl's (``all``; under ``selected`` the
loss wrapper scales each response by its own ``N_valid / N_kept`` for
``loss_agg_mode=seq-mean-token-mean``, which divides each response by its length). Scaling the
advantages is exact for every policy loss that is positively homogeneous in the advantage
(vanilla/dual-clip PPO, GSPO, GPG, CISPO, clip-cov, kl-cov); dropped tokens report as unclipped.

**A. Loss wrapper** (:class:`EntropyMaskedPPOLoss`, :func:`patch_ppo_loss`): wraps
``verl.workers.utils.losses.ppo_loss``; the mask comes from the *current* policy's entropy of the
micro-batch (as the paper's code). Needs ``actor_rollout_ref.actor.calculate_entropy=True``.
``scope: global`` gathers the micro-batch over the data-parallel group verl passes in.

**B. Advantage masking on the driver** (:func:`mask_advantages`, :func:`mask_advantages_nested`,
:func:`apply_entropy_mask_to_batch`): after ``_compute_advantage``, from the *old*-policy entropy
V1's ``_compute_old_log_prob`` stores as ``entropy`` (equal to the current one on-policy). One
threshold over the whole training batch, no patching, and forking tokens can be decoded there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rewardkit import RewardKitError, TokenMaskComponent
from rewardkit.masks import (
    TOKEN_MASK_PREFIX,
    TokenEntropyStats,
    TokenInputs,
    by_stage,
    policy_weights,
    run_token_term,
    sum_metric_key,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "EntropyMaskedPPOLoss",
    "EntropyNotComputedError",
    "advantage_term_nested",
    "apply_entropy_mask_to_batch",
    "apply_verl_policy_loss",
    "diagnostic_term_metrics",
    "entropy_advantage_nested",
    "mask_advantages",
    "mask_advantages_nested",
    "patch_ppo_loss",
    "token_entropy_metrics",
    "token_terms_of",
    "transfer_queue_token_terms",
    "verl_policy_loss_settings",
    "warn_ppo_critic_defaults",
]

METRIC_PREFIX = TOKEN_MASK_PREFIX

_LOSS_HINT = (
    "verl is not configured to compute entropy in the actor update, so the rewardkit entropy "
    "mask has nothing to select on: set actor_rollout_ref.actor.calculate_entropy=True (entropy "
    "is otherwise only computed when actor.entropy_coeff != 0)"
)
_BATCH_HINT = (
    "the batch has no old-policy entropy ({key!r}). verl's V1 _compute_old_log_prob stores it, "
    "except with algorithm.rollout_correction.bypass_mode=True (old log-probs then come from the "
    "rollout engine and no entropy is computed): turn bypass mode off, or mask in the loss "
    "instead (rewardkit_verl.patch_ppo_loss with actor_rollout_ref.actor.calculate_entropy=True)"
)


class EntropyNotComputedError(RewardKitError, ValueError):
    """verl was not set up to compute the entropies the token mask needs."""


def _mask_and_stats(
    token_mask: TokenMaskComponent,
    entropy: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    token_ids: torch.Tensor | None,
    correct: Any,
    group: Any,
    gather_stats: bool,
    per: str | None = None,
) -> tuple[torch.Tensor, TokenEntropyStats]:
    """Float weights and statistics from any mask-stage token component, through the contract
    (:func:`rewardkit.masks.run_token_term`; ``per="row"`` rescales a 0/1 mask per response for
    ``normalizer: selected``, :func:`rewardkit.masks.policy_weights`)."""
    import torch

    result = run_token_term(
        token_mask,
        TokenInputs(
            entropies=entropy,
            valid=response_mask,
            token_ids=token_ids,
            correct=correct,
            group=group,
            gather_stats=gather_stats,
        ),
    )
    weights = policy_weights(result, response_mask, per=per)  # type: ignore[arg-type]
    assert result.stats is not None
    return weights.to(torch.promote_types(weights.dtype, torch.float32)), result.stats


def mask_advantages(
    advantages: torch.Tensor,
    entropy: torch.Tensor,
    response_mask: torch.Tensor,
    token_mask: TokenMaskComponent,
    *,
    token_ids: torch.Tensor | None = None,
    correct: Any = None,
    group: Any = None,
) -> tuple[torch.Tensor, TokenEntropyStats]:
    """Padded (B x R) advantages with the token mask applied: zero for dropped tokens, scaled by
    ``N_valid / N_kept`` for kept ones under ``normalizer: selected``.

    Returns the new advantages (a new tensor, same dtype) and the token-entropy statistics
    (``token_ids``, e.g. ``responses``, give the forking tokens; ``correct`` (B,) the
    correct/incorrect means). ``advantages`` may be (B,) or (B, 1) and is broadcast.
    """
    weights, stats = _mask_and_stats(
        token_mask,
        entropy,
        response_mask,
        token_ids=token_ids,
        correct=correct,
        group=group,
        gather_stats=True,
    )
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    return (advantages * weights).to(advantages.dtype), stats


def _nested_like(padded: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The first ``len_i`` entries of each padded row, as a jagged tensor sharing ``like``'s
    offsets (so element-wise ops between the two are allowed)."""
    import torch

    lengths = like.offsets().diff()
    keep = torch.arange(padded.shape[1], device=padded.device)[None, :] < lengths[:, None]
    return torch.nested.nested_tensor_from_jagged(
        padded[keep].to(like.dtype),
        offsets=like.offsets(),
        # Without these, to_padded_tensor() pads to the total length.
        min_seqlen=int(lengths.min()) if lengths.numel() else 0,
        max_seqlen=int(lengths.max()) if lengths.numel() else 0,
    )


def _padded(x: torch.Tensor) -> torch.Tensor:
    return x.to_padded_tensor(0.0) if x.is_nested else x


def mask_advantages_nested(
    fields: Any,
    token_mask: TokenMaskComponent,
    *,
    correct: Any = None,
    entropy_key: str = "entropy",
) -> tuple[torch.Tensor, TokenEntropyStats]:
    """:func:`mask_advantages` for verl V1's TransferQueue layout.

    ``fields`` maps ``advantages``, ``response_mask`` and ``entropy`` (and optionally
    ``responses``) to jagged (B, j) tensors, as ``tq.kv_batch_get(..., select_fields=[...])``
    returns them after ``_compute_advantage``. Returns the masked advantages as a jagged tensor
    with the same offsets, ready for ``tq.kv_batch_put``, and the statistics.
    """
    if entropy_key not in fields:
        raise EntropyNotComputedError(_BATCH_HINT.format(key=entropy_key))
    advantages = fields["advantages"]
    token_ids = fields.get("responses", None)
    masked, stats = mask_advantages(
        _padded(advantages),
        _padded(fields[entropy_key]).float(),
        _padded(fields["response_mask"]),
        token_mask,
        token_ids=None if token_ids is None else _padded(token_ids),
        correct=correct,
    )
    return (_nested_like(masked, advantages) if advantages.is_nested else masked), stats


def apply_entropy_mask_to_batch(
    data: Any,
    token_mask: TokenMaskComponent,
    *,
    entropy_key: str = "entropy",
    correct: Any = None,
) -> TokenEntropyStats:
    """Mask ``data.batch["advantages"]`` of a padded ``DataProto`` in place, after the advantage
    estimator ran, from ``data.batch[entropy_key]``; returns the statistics.

    ``correct`` defaults to ``data.non_tensor_batch["rewardkit_correct"]`` when present.
    Raises :class:`EntropyNotComputedError` when the batch has no entropy.
    """
    batch = data.batch
    if entropy_key not in batch:
        raise EntropyNotComputedError(_BATCH_HINT.format(key=entropy_key))
    if correct is None:
        correct = data.non_tensor_batch.get("rewardkit_correct")
        if correct is not None:
            correct = [None if c is None else float(c) for c in correct]
    masked, stats = mask_advantages(
        batch["advantages"],
        batch[entropy_key].float(),
        batch["response_mask"],
        token_mask,
        token_ids=batch.get("responses", None),
        correct=correct,
    )
    batch["advantages"] = masked
    return stats


class EntropyMaskedPPOLoss:
    """verl's ``ppo_loss`` with rewardkit's token mask on the policy-gradient term.

    Same signature as ``verl.workers.utils.losses.ppo_loss`` —
    ``(config, model_output, data, dp_group=None) -> (loss, metrics)`` — so verl can bind it
    with ``functools.partial(..., config=actor_config)``. Per micro-batch it pads
    ``model_output["entropy"]`` to B x R, builds the mask weights over ``response_mask``
    (``scope: global`` all-gathers over ``dp_group``, a collective every data-parallel rank
    reaches), multiplies the advantages by them and calls the original loss. The statistics of
    this rank's micro-batch (or the gathered one for ``global``) are added to the metrics as
    ``rewardkit/token_mask/<stat>``.

    Raises :class:`EntropyNotComputedError` when verl computed no entropy.
    """

    def __init__(self, token_mask: TokenMaskComponent, base: Callable[..., Any] | None = None):
        if base is None:
            from verl.workers.utils import losses

            base = getattr(losses.ppo_loss, "base", losses.ppo_loss)  # never wrap a wrapper
        self.token_mask = token_mask
        self.base = base

    def __repr__(self) -> str:
        return f"EntropyMaskedPPOLoss({self.token_mask!r})"

    def __call__(
        self, config: Any, model_output: Any, data: Any, dp_group: Any = None
    ) -> tuple[Any, dict[str, Any]]:
        from verl.utils.metric import AggregationType, Metric
        from verl.workers.utils.padding import no_padding_2_padding

        entropy = model_output.get("entropy", None)
        if entropy is None:
            raise EntropyNotComputedError(_LOSS_HINT)
        entropy = no_padding_2_padding(entropy.detach(), data).float()
        padded = data.select("response_mask", "responses", strict=False).to_padded_tensor()
        # seq-mean-token-mean divides each response by its own token count, so under
        # normalizer: selected a 0/1 mask is rescaled by each response's N_valid / N_kept,
        # whatever scope chose the tokens (soft weights stay as given).
        per_row = getattr(config, "loss_agg_mode", None) == "seq-mean-token-mean"
        weights, stats = _mask_and_stats(
            self.token_mask,
            entropy,
            padded["response_mask"],
            token_ids=padded.get("responses", None),
            correct=None,
            group=dp_group,
            gather_stats=False,  # verl averages the per-rank metrics itself
            per="row" if per_row else None,
        )
        advantages = data["advantages"]
        if advantages.is_nested:
            masked = advantages * _nested_like(weights, advantages)
        else:
            masked = advantages * weights.to(advantages.dtype)
        # A shallow copy: the caller's micro-batch keeps its advantages (ppo_epochs > 1).
        data = data.copy()
        data["advantages"] = masked
        loss, metrics = self.base(config, model_output, data, dp_group)
        for key, value in stats.metrics(METRIC_PREFIX).items():
            metrics[key] = Metric(value=value, aggregation=AggregationType.MEAN)
        return loss, metrics


def patch_ppo_loss(token_mask: TokenMaskComponent) -> Callable[[], None]:
    """Replace verl's ``ppo_loss`` with :class:`EntropyMaskedPPOLoss` where verl looks it up:
    ``verl.workers.utils.losses`` and the modules that imported the name already
    (``verl.workers.engine_workers``, ``verl.trainer.distillation.losses``), in this process.

    Call it in each worker process before the actor worker is built (e.g. from a verl plugin
    import). Returns a function that restores the originals. Pinned to verl 0.9.x, whose actor
    binds ``partial(ppo_loss, config=...)`` in worker init.
    """
    import sys

    from verl.workers.utils import losses

    wrapper = EntropyMaskedPPOLoss(token_mask)
    patched: list[tuple[Any, Any]] = []
    for name in (
        "verl.workers.utils.losses",
        "verl.workers.engine_workers",
        "verl.trainer.distillation.losses",
    ):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ppo_loss", None) is not None:
            patched.append((module, module.ppo_loss))
            module.ppo_loss = wrapper
    assert losses.ppo_loss is wrapper

    def restore() -> None:
        for module, original in patched:
            module.ppo_loss = original

    return restore


# --------------------------------------------------------------------------- token: list terms


def _clip_cov_settings(c: Any) -> dict[str, Any]:
    return {
        "loss_mode": "clip_cov",
        "clip_cov_ratio": c.ratio,
        "clip_cov_lb": c.cov_lower,
        "clip_cov_ub": c.cov_upper,
    }


def _kl_cov_settings(c: Any) -> dict[str, Any]:
    return {"loss_mode": "kl_cov", "kl_cov_ratio": c.ratio, "ppo_kl_coef": c.coef}


#: Loss-stage terms verl implements itself, equivalently (tests/masks/test_entropy_terms.py
#: compares the losses on the same tensors): their type and the ``policy_loss`` settings.
VERL_LOSS_MODES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "clip_cov": _clip_cov_settings,
    "kl_cov": _kl_cov_settings,
}


def verl_policy_loss_settings(terms: Any) -> dict[str, Any] | None:
    """The ``actor_rollout_ref.actor.policy_loss`` settings that make verl's own loss apply the
    configured loss-stage term (``clip_cov`` or ``kl_cov``; None when there is none).

    verl's ``compute_policy_loss_clip_cov`` / ``compute_policy_loss_kl_cov`` compute exactly
    rewardkit's :func:`rewardkit.masks.clip_cov_per_token_loss` /
    :func:`rewardkit.masks.kl_cov_per_token_loss` (tests/masks/test_entropy_terms.py compares
    them on the same tensors), so the verl path selects verl's implementation. A loss-stage
    term verl has no loss mode for (a plugin's) is a :class:`rewardkit.ConfigError`: verl's
    actor loss cannot run it.
    """
    from rewardkit import ConfigError

    for term in terms:
        if term.token_stage != "loss":
            continue
        settings = VERL_LOSS_MODES.get(term.type)
        if settings is None:
            raise ConfigError(
                f"token term {term.type!r} changes the policy loss (loss stage); in verl only "
                f"{sorted(VERL_LOSS_MODES)} run there (as verl's own loss modes). Use it with "
                "TRL, or as a mask / advantage term"
            )
        return settings(term.config)
    return None


def apply_verl_policy_loss(config: Any, terms: Any) -> dict[str, Any] | None:
    """Write :func:`verl_policy_loss_settings` into a verl trainer config (before the workers
    are built). A ``loss_mode`` other than verl's default ``vanilla`` or the term's own is a
    :class:`rewardkit.ConfigError`: the two would compete for the same loss."""
    from rewardkit import ConfigError

    settings = verl_policy_loss_settings(terms)
    if settings is None:
        return None
    policy_loss = config.actor_rollout_ref.actor.policy_loss
    current = policy_loss.get("loss_mode", "vanilla")
    if current not in ("vanilla", settings["loss_mode"]):
        raise ConfigError(
            f"the rewardkit token term {settings['loss_mode']!r} selects verl's loss_mode "
            f"{settings['loss_mode']!r}, but actor_rollout_ref.actor.policy_loss.loss_mode is "
            f"{current!r}; remove one of them"
        )
    for key, value in settings.items():
        policy_loss[key] = value
    return settings


def warn_ppo_critic_defaults(config: Any, terms: Any) -> list[str]:
    """Log the warnings of token terms whose defaults are another algorithm's when verl's
    advantages are GAE's (``algorithm.adv_estimator=gae``, PPO with a critic; the setting the
    scale of the advantages depends on): each term that has
    ``ppo_critic_warning()`` (``entropy_advantage``: its default α is the paper's GRPO value)
    says what, and the texts are returned. Nothing is changed."""
    from rewardkit_verl._log import logger

    algorithm = config.get("algorithm", None) or {}
    estimator = algorithm.get("adv_estimator", None)
    if str(getattr(estimator, "value", estimator)).lower() != "gae":
        return []
    texts = []
    for term in terms:
        warn = getattr(term, "ppo_critic_warning", None)
        text = warn() if callable(warn) else None
        if text:
            logger.warning("rewardkit: %s", text)
            texts.append(text)
    return texts


def entropy_advantage_nested(fields: Any, term: Any, *, entropy_key: str = "entropy") -> Any:
    """``entropy_advantage`` on verl V1's TransferQueue fields (:func:`advantage_term_nested`):
    the new advantages in the same layout and the mean bonus per valid token."""
    out, means = advantage_term_nested(fields, term, entropy_key=entropy_key)
    return out, means.get(sum_metric_key(term, "bonus_mean"), 0.0)


def advantage_term_nested(fields: Any, term: Any, *, entropy_key: str = "entropy") -> Any:
    """An advantage-stage token term (``entropy_advantage``, or a plugin's) on verl V1's
    TransferQueue fields after ``_compute_advantage``: jagged (or padded) ``advantages``,
    ``response_mask`` and the old-policy ``entropy`` (equal to the current policy's
    on-policy), through the contract (:func:`rewardkit.masks.run_token_term`). Returns the new
    advantages in the same layout and the term's ``sums`` as per-valid-token means (keys
    ``rewardkit/<type>/<key>``)."""
    if entropy_key not in fields:
        raise EntropyNotComputedError(_BATCH_HINT.format(key=entropy_key))
    advantages = fields["advantages"]
    padded_adv = _padded(advantages)
    valid = _padded(fields["response_mask"]).bool()
    ids = fields.get("responses", None)
    result = run_token_term(
        term,
        TokenInputs(
            entropies=_padded(fields[entropy_key]).float(),
            valid=valid,
            token_ids=None if ids is None else _padded(ids),
            advantages=padded_adv,
        ),
    )
    n_valid = valid.sum().clamp(min=1)
    means = {sum_metric_key(term, k): float(v / n_valid) for k, v in result.sums.items()}
    new = padded_adv if result.advantages is None else result.advantages
    out = _nested_like(new, advantages) if advantages.is_nested else new
    return out, means


def diagnostic_term_metrics(
    fields: Any,
    term: Any,
    *,
    correct: Any = None,
    tokenizer: Any = None,
    entropy_key: str = "entropy",
) -> tuple[dict[str, float], list[tuple[str, int]]]:
    """A diagnostic-stage token term (``token_entropy``, or a plugin's) on the driver, over the
    old-policy entropy of the whole training batch, through the contract
    (:func:`rewardkit.masks.run_token_term`): its ``metrics``, ``ratios`` and ``sums`` as
    numbers for verl's metrics (``rewardkit/<type>/<key>``), and the ``logged_top_tokens`` most
    frequent of its ``token_counts``, decoded (for the driver's log; verl's trackers take
    numbers). A term that ``needs_token_text`` gets it from ``tokenizer`` (without one, e.g. a
    custom trainer passing none, it runs without text: ``token_entropy`` then leaves out the
    answer span)."""
    from rewardkit.masks import decode_token_counts
    from rewardkit.masks._answer_span import TokenPieces

    if entropy_key not in fields:
        raise EntropyNotComputedError(_BATCH_HINT.format(key=entropy_key))
    h = _padded(fields[entropy_key]).float()
    valid = _padded(fields["response_mask"]).bool()
    ids = fields.get("responses", None)
    ids = None if ids is None else _padded(ids)
    text = TokenPieces(tokenizer) if term.needs_token_text and tokenizer is not None else None
    result = run_token_term(
        term,
        TokenInputs(
            entropies=h,
            valid=valid,
            token_ids=ids,
            correct=correct,
            advantages=fields.get("advantages", None),
            gather_stats=False,  # the driver holds the whole batch
            token_text=text,
        ),
    )
    out = {sum_metric_key(term, k): float(v) for k, v in result.metrics.items()}
    for key, (num, den) in result.ratios.items():
        if float(den) > 0:
            out[sum_metric_key(term, key)] = float(num) / float(den)
    n_valid = valid.sum().clamp(min=1)
    out.update({sum_metric_key(term, k): float(v / n_valid) for k, v in result.sums.items()})
    words: list[tuple[str, int]] = []
    top = term.logged_top_tokens
    if tokenizer is not None and top > 0:
        for pairs in result.token_counts.values():
            words += decode_token_counts(list(pairs)[:top], tokenizer)
    return out, words


#: The name of :func:`diagnostic_term_metrics` before any diagnostic term could use it.
token_entropy_metrics = diagnostic_term_metrics


def token_terms_of(config: Any) -> list[Any]:
    """The token-level terms of a validated rewardkit config, in stage order (what
    ``RewardPipeline.token_terms`` holds), without building a pipeline: for a process that
    needs only them (the actor workers of the loss-path mask)."""
    from rewardkit._config import component_of

    entries = [config.token_mask] if config.token_mask is not None else list(config.token)
    return by_stage(component_of(e)(e, name=e.type) for e in entries)  # type: ignore[call-arg]


def transfer_queue_token_terms(
    terms: Any, batch: Any, *, correct: Any = None, tokenizer: Any = None
) -> dict[str, float]:
    """The driver side of the ``token:`` list in verl V1 (after ``_compute_advantage`` and the
    mask): ``entropy_advantage`` rewrites the batch's advantages in TransferQueue from the
    old-policy entropy; ``token_entropy`` returns its statistics (and logs the high-entropy
    tokens at INFO). ``clip_cov`` / ``kl_cov`` run in verl's own loss
    (:func:`apply_verl_policy_loss`), so nothing is done for them here."""
    import transfer_queue as tq
    from verl.utils import tensordict_utils as tu

    from rewardkit.masks import format_forking_tokens
    from rewardkit_verl._log import logger

    advantage_terms = [t for t in terms if t.token_stage == "advantage"]
    diagnostic_terms = [t for t in terms if t.token_stage == "diagnostic"]
    if not advantage_terms and not diagnostic_terms:
        return {}
    keys = list(batch.keys)
    fields = tq.kv_batch_get(
        keys=keys,
        partition_id=batch.partition_id,
        select_fields=["advantages", "response_mask", "entropy", "responses"],
    )
    metrics: dict[str, float] = {}
    for term in diagnostic_terms:
        values, words = diagnostic_term_metrics(fields, term, correct=correct, tokenizer=tokenizer)
        metrics.update(values)
        if words:
            logger.info("rewardkit: %s tokens %s", term.name, format_forking_tokens(words))
    if advantage_terms:
        new = fields["advantages"]
        for term in advantage_terms:
            new, means = advantage_term_nested({**fields, "advantages": new}, term)
            metrics.update(means)
        tq.kv_batch_put(
            keys=keys,
            partition_id=batch.partition_id,
            fields=tu.get_tensordict({"advantages": new}),
        )
    return metrics
