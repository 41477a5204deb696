"""The final answer's character span, its tokens, and their entropy versus the rest."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardkit.masks import answer_char_span, answer_span_entropy, answer_token_mask
from rewardkit.verifiers._extract import last_boxed


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so \\boxed{42} done", "42"),
        ("x \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed 5$", "5"),
        ("\\boxed{3} then a truncated \\boxed{4", "3"),
        ("\\fbox{9} then \\boxed{8}", "8"),
        ("\\boxed{8} then \\fbox{9}", "9"),
        ("\\boxed{\\boxed{2}}", "2"),  # as last_boxed: the last complete box
        ("#### 12", "12"),
        ("We get 3.\nThe answer is 7", "7"),
    ],
)
def test_answer_char_span(text: str, answer: str) -> None:
    span = answer_char_span(text)
    assert span is not None
    assert text[span[0] : span[1]] == answer


@pytest.mark.parametrize("text", ["", "no answer here", "\\boxed{", "\\boxedx{3}"])
def test_no_answer_no_span(text: str) -> None:
    assert answer_char_span(text) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["\\boxed", "\\fbox", "{", "}", "1", " ", "x", "\\{"]), max_size=14)
)
def test_boxed_span_is_what_last_boxed_reads(parts: list[str]) -> None:
    text = "".join(parts)
    span = answer_char_span(text, ("boxed",))
    content = last_boxed(text)
    if span is None:
        assert not content  # an empty box is no answer
    else:
        assert text[span[0] : span[1]] == content


class Pieces:
    """A tokenizer whose token i decodes to PIECES[i]."""

    PIECES = ("so", " ", "\\boxed{", "4", "2", "}", " ok", "", "", "<pad>")

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self.PIECES[ids[0]]


def test_answer_tokens_and_their_entropy_by_hand() -> None:
    # row 0: "so \boxed{42} ok" -> positions 3, 4 carry "42"
    # row 1: left padded "\boxed{42}" -> positions 4, 5
    # row 2: "so ok": no answer
    ids = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [9, 9, 9, 2, 3, 4, 5], [0, 6, 9, 9, 9, 9, 9]])
    valid = ids != 9
    mask, found = answer_token_mask(ids, valid, Pieces())
    assert found.tolist() == [True, True, False]
    assert mask.nonzero().tolist() == [[0, 3], [0, 4], [1, 4], [1, 5]]
    h = torch.arange(21, dtype=torch.float32).reshape(3, 7)
    out = answer_span_entropy(h, valid, mask, found)
    # answer: 3, 4, 11, 12; rest of the rows with an answer: 0, 1, 2, 5, 6, 10, 13
    assert out == pytest.approx(
        {"answer_found_share": 2 / 3, "answer_span_mean": 7.5, "rest_mean": 37 / 7}
    )


def test_straddling_tokens_are_in_the_span() -> None:
    # "\boxed{" "{4" "2}" "}" = "\boxed{{42}}": the content "{42}" spans tokens 1..3.
    pieces = ["\\boxed{", "{4", "2}", "}", "x"]

    class Tok:
        def decode(self, ids: list[int]) -> str:  # no skip_special_tokens keyword
            return pieces[ids[0]]

    ids = torch.tensor([[4, 0, 1, 2, 3, 4]])
    mask, found = answer_token_mask(ids, torch.ones_like(ids, dtype=torch.bool), Tok())
    assert found.tolist() == [True]
    assert mask[0].tolist() == [False, False, True, True, False, False]
    h = torch.tensor([[1.0, 2.0, 10.0, 20.0, 3.0, 4.0]])
    out = answer_span_entropy(h, torch.ones_like(mask), mask, found)
    assert out == pytest.approx(
        {"answer_found_share": 1.0, "answer_span_mean": 15.0, "rest_mean": 2.5}
    )


def test_no_answer_anywhere_gives_only_the_share() -> None:
    h = torch.ones(2, 3)
    valid = torch.ones(2, 3, dtype=torch.bool)
    none = torch.zeros(2, 3, dtype=torch.bool)
    assert answer_span_entropy(h, valid, none, torch.zeros(2, dtype=torch.bool)) == {
        "answer_found_share": 0.0
    }
