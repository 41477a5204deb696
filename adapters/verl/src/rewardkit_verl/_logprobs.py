"""Per-rollout completion log-probs from verl's per-token tensors, for terms that read them."""

from __future__ import annotations

from typing import Any

__all__ = ["LOGPROB_FIELDS", "logprob_rows"]

#: TransferQueue fields tried in order: the old policy's log-probs, which V1's
#: ``_compute_old_log_prob`` writes before ``_compute_advantage`` (in bypass mode a copy of the
#: rollout engine's), then the rollout engine's own (``rollout.calculate_log_probs``).
LOGPROB_FIELDS: tuple[str, ...] = ("old_log_probs", "rollout_log_probs")


def logprob_rows(logprobs: Any, response_mask: Any) -> list[list[float]]:
    """One list per row: the log-probs of the response tokens whose mask is set.

    Both tensors are (B, R) padded or jagged (nested, one row per response); tokens outside the
    mask (padding, tool-result tokens of agent loops) are left out, as the policy did not
    sample them.
    """
    out = []
    for lp, mask in zip(logprobs.unbind(), response_mask.unbind()):
        n = min(int(lp.shape[0]), int(mask.shape[0]))
        out.append(lp[:n][mask[:n].bool()].float().tolist())
    return out
