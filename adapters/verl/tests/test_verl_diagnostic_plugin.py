"""A plugin's diagnostic-stage token term goes through the same driver path as the built-in
``token_entropy``: its metrics, ratios, sums and token counts are logged, with token text when it
asks for it (no isinstance on a built-in)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

torch = pytest.importorskip("torch")

from rewardkit_verl._entropy_mask import diagnostic_term_metrics  # noqa: E402

from rewardkit import TokenMaskComponent  # noqa: E402
from rewardkit.masks import TokenInputs, TokenOutput  # noqa: E402


class LowEntropyShare(TokenMaskComponent):
    """A third-party diagnostic: share of tokens under 1 nat, and the text of the first token."""

    type: ClassVar[str] = "test_low_entropy_share"
    token_stage: ClassVar[str] = "diagnostic"
    needs_token_text: ClassVar[bool] = True
    seen_text: ClassVar[list[Any]] = []

    def apply_tokens(self, inputs: TokenInputs) -> TokenOutput:
        valid = inputs.valid.bool()
        low = (inputs.entropies < 1.0) & valid
        LowEntropyShare.seen_text.append(
            None if inputs.token_text is None else inputs.token_text(int(inputs.token_ids[0, 0]))
        )
        return TokenOutput(
            metrics={"rows": float(valid.shape[0])},
            ratios={"low_share": (low.sum(), valid.sum())},
            sums={"low_mean": low.sum()},
            token_counts={"low_tokens": [(int(inputs.token_ids[0, 0]), 3)]},
        )


class Tokenizer:
    def decode(self, ids: list[int], **_: Any) -> str:
        return "".join(f"<{i}>" for i in ids)


def test_a_plugin_diagnostic_is_logged_on_the_driver() -> None:
    h = torch.tensor([[0.5, 2.0, 0.1], [3.0, 0.2, 9.0]])
    valid = torch.tensor([[1, 1, 0], [1, 1, 1]])
    fields = {"entropy": h, "response_mask": valid, "responses": torch.tensor([[7, 8, 9]] * 2)}
    term = LowEntropyShare(LowEntropyShare.Config(), name="low")
    LowEntropyShare.seen_text.clear()
    metrics, words = diagnostic_term_metrics(fields, term, tokenizer=Tokenizer())
    prefix = "rewardkit/test_low_entropy_share/"
    assert metrics == {
        prefix + "rows": 2.0,
        prefix + "low_share": pytest.approx(2 / 5),
        prefix + "low_mean": pytest.approx(2 / 5),
    }
    assert words == [("<7>", 3)]
    assert LowEntropyShare.seen_text == ["<7>"]
    # Without a tokenizer the term runs without text.
    diagnostic_term_metrics(fields, term)
    assert LowEntropyShare.seen_text[-1] is None
