"""Where the final answer sits in a completion's tokens, and its entropy versus the rest.

The answer is located with the verifiers' own extractor (:mod:`rewardkit.verifiers._extract`,
read-only): the content of the last complete ``\\boxed{...}`` / ``\\fbox{...}`` (what
:func:`~rewardkit.verifiers.last_boxed` returns), else the text after the last "the answer is" /
"####" cue (:func:`~rewardkit.verifiers.extract_answer`), found as its last occurrence in the
completion. Characters map to tokens through each token's own decoded text: the completion is
rebuilt as the concatenation of its tokens' pieces, so every character belongs to exactly one
token (a token is in the span when it overlaps it). Pieces are decoded once per token id and
cached. Linear in the completion's length; the extractor bounds its own work.

Under ``torch.distributed`` the span statistics are sums reduced over ranks (one all-reduce of six
numbers), so every rank logs the same batch-global values.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rewardkit.masks._entropy_mask import _distributed_world

if TYPE_CHECKING:
    import torch

__all__ = [
    "ANSWER_SOURCES",
    "TokenPieces",
    "answer_char_span",
    "answer_span_entropy",
    "answer_token_mask",
]

_BOX_COMMANDS = ("\\boxed", "\\fbox")
#: The answer sources tried, in order (those of ``extract_answer``'s default).
ANSWER_SOURCES: tuple[str, ...] = ("boxed", "answer_is", "hashes")
# How many box commands are looked at from the end (as last_boxed: a bounded search).
_MAX_BOX_TRIES = 8


def _boxed_span(text: str) -> tuple[int, int] | None:
    """The character span of the content of the box :func:`last_boxed` picks."""
    from rewardkit.verifiers._extract import last_boxed

    content = last_boxed(text)
    if content is None:
        return None
    best: tuple[int, int] | None = None
    for command in _BOX_COMMANDS:
        end = len(text)
        for _ in range(_MAX_BOX_TRIES):
            pos = text.rfind(command, 0, end)
            if pos < 0 or (best is not None and pos < best[0]):
                break
            i = pos + len(command)
            while i < len(text) and text[i] in " \t":
                i += 1
            if text.startswith("{" + content + "}", i):
                best = (i + 1, i + 1 + len(content))
                break
            if text.startswith(content, i) and not text.startswith("{", i):  # \boxed 5
                best = (i, i + len(content))
                break
            end = pos
    return best


def answer_char_span(text: str, sources: Sequence[str] = ANSWER_SOURCES) -> tuple[int, int] | None:
    """``(start, end)`` of the final answer's characters in ``text``, or ``None`` when the
    verifiers' extractor finds no answer there (see the module docstring)."""
    from rewardkit.verifiers._extract import extract_answer

    if not isinstance(text, str) or not text:
        return None
    for source in sources:
        if source == "boxed":
            span = _boxed_span(text)
        else:
            got = extract_answer(text, (source,))  # type: ignore[arg-type]
            start = -1 if got is None else text.rfind(got)
            span = None if start < 0 else (start, start + len(got or ""))
        if span is not None and span[1] > span[0]:
            return span
    return None


class TokenPieces:
    """Each token id's own decoded text, cached (a vocabulary's worth at most)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor's tokenizer
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        piece = self._cache.get(token_id)
        if piece is None:
            try:
                try:
                    piece = self.tokenizer.decode([token_id], skip_special_tokens=False)
                except TypeError:  # a decoder without the keyword
                    piece = self.tokenizer.decode([token_id])
            except Exception:  # a foreign id must not break a training step
                piece = ""
            piece = piece if isinstance(piece, str) else ""
            self._cache[token_id] = piece
        return piece


def _row_span_tokens(ids: list[int], pieces: TokenPieces, sources: Sequence[str]) -> list[int]:
    """Indices (into ``ids``) of the tokens that overlap the answer span; [] when none."""
    texts = [pieces(i) for i in ids]
    ends: list[int] = []
    total = 0
    for t in texts:
        total += len(t)
        ends.append(total)
    span = answer_char_span("".join(texts), sources)
    if span is None:
        return []
    start, stop = span
    first = bisect.bisect_right(ends, start)  # the token holding character `start`
    out = []
    for k in range(first, len(ids)):
        if ends[k] - len(texts[k]) >= stop:
            break
        if texts[k]:
            out.append(k)
    return out


def answer_token_mask(
    token_ids: torch.Tensor,
    valid: torch.Tensor,
    tokenizer: Any,
    *,
    sources: Sequence[str] = ANSWER_SOURCES,
    pieces: TokenPieces | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The B x T bool mask of the valid tokens that carry the final answer, and the (B,) bool
    of the rows where an answer was found.

    ``token_ids`` / ``valid`` are the B x T completion tokens and their mask (padding on either
    side); only valid tokens make up a row's text. ``pieces`` reuses a decode cache across calls.
    """
    import torch

    if token_ids.shape != valid.shape or token_ids.dim() != 2:
        from rewardkit._errors import BatchError

        raise BatchError(
            f"token_ids {tuple(token_ids.shape)} and valid {tuple(valid.shape)} must be the same "
            "B x T shape"
        )
    pieces = pieces or TokenPieces(tokenizer)
    mask = torch.zeros(valid.shape, dtype=torch.bool)
    found = torch.zeros(valid.shape[0], dtype=torch.bool)
    ids_cpu = token_ids.detach().cpu()
    valid_cpu = valid.detach().cpu().bool()
    for b in range(valid.shape[0]):
        cols = torch.nonzero(valid_cpu[b], as_tuple=True)[0]
        if cols.numel() == 0:
            continue
        hit = _row_span_tokens(ids_cpu[b, cols].tolist(), pieces, sources)
        if hit:
            found[b] = True
            mask[b, cols[hit]] = True
    return mask.to(valid.device), found.to(valid.device)


def answer_span_entropy(
    entropies: torch.Tensor,
    valid: torch.Tensor,
    answer: torch.Tensor,
    found: torch.Tensor,
    *,
    group: Any = None,
    gather: bool = True,
) -> dict[str, float]:
    """Mean entropy of the answer tokens versus the rest of the same completions.

    Returns ``answer_found_share`` (rows with an answer over rows with a valid token) and, when
    some answer token exists, ``answer_span_mean`` (over the answer tokens) and ``rest_mean``
    (over the other valid tokens of the rows with an answer; absent when there are none).
    Under ``torch.distributed`` (and ``gather``) the sums cover every rank of ``group``: a
    collective, every rank must call it.
    """
    import torch

    h = entropies.detach().to(torch.float64)
    valid = valid.bool()
    ans = answer.bool() & valid
    rest = valid & ~ans & found.bool()[:, None]
    sums = torch.stack(
        [
            (h * ans).sum(),
            ans.sum().to(torch.float64),
            (h * rest).sum(),
            rest.sum().to(torch.float64),
            (found.bool() & valid.any(dim=1)).sum().to(torch.float64),
            valid.any(dim=1).sum().to(torch.float64),
        ]
    )
    if gather and _distributed_world(group) > 1:
        import torch.distributed as dist

        dist.all_reduce(sums, op=dist.ReduceOp.SUM, group=group)
    s = sums.tolist()
    out: dict[str, float] = {}
    if s[5] > 0:
        out["answer_found_share"] = s[4] / s[5]
    if s[1] > 0:
        out["answer_span_mean"] = s[0] / s[1]
        if s[3] > 0:
            out["rest_mean"] = s[2] / s[3]
    return out
