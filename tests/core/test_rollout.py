from __future__ import annotations

import pytest

from rewardkit import Batch, BatchError, Outcome, RewardResult, Rollout, message_text, prompt_hash


def test_message_text_handles_strings_messages_and_junk() -> None:
    assert message_text("abc") == "abc"
    assert (
        message_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
        == "a"
    )
    assert (
        message_text(
            [
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}],
                }
            ]
        )
        == "xy"
    )
    assert message_text(None) == ""
    assert message_text(42) == ""
    assert message_text([]) == ""


def test_prompt_hash_is_stable_and_content_based() -> None:
    chat = [{"role": "user", "content": "What is 2+2?"}]
    assert prompt_hash(chat) == prompt_hash([dict(m) for m in chat])
    assert prompt_hash("a") != prompt_hash("b")
    # Known value: a changed hash function would silently orphan saved UCB state.
    assert prompt_hash("What is 2+2?") == "8a4a3451156c92968dc8f768"
    assert len(prompt_hash("x")) == 24


def test_batch_groups_keep_first_appearance_order() -> None:
    b = Batch(
        [Rollout("p1", "a"), Rollout("p2", "b"), Rollout("p1", "c"), Rollout("p3", "d", group="g")]
    )
    assert list(b.groups.values()) == [(0, 2), (1,), (3,)]
    assert b.groups["g"] == (3,)
    assert len(b) == 4 and b[2].completion == "c"


def test_batch_rejects_empty_and_non_rollouts() -> None:
    with pytest.raises(BatchError, match="empty batch"):
        Batch([])
    with pytest.raises(BatchError, match="rollout 1"):
        Batch([Rollout("p", "a"), "oops"])  # type: ignore[list-item]


def test_from_columns_checks_lengths() -> None:
    with pytest.raises(BatchError, match="2 completions but 1 references"):
        Batch.from_columns(["p", "q"], ["a", "b"], references=["x"])
    b = Batch.from_columns(["p", "q"], ["a", "b"], references=["x", "y"], metadata={"id": [1, 2]})
    assert b[1].reference == "y" and b[1].metadata["id"] == 2


def test_reward_result_repr_and_dict() -> None:
    r = RewardResult.error("boom")
    assert r.outcome is Outcome.ERROR and r.score == 0.0
    assert "boom" in repr(r)
    assert RewardResult.correct(answer="5").to_dict() == {
        "outcome": "correct",
        "answer": "5",
        "reason": "",
    }
    with pytest.raises(AttributeError):
        r.score = 1.0  # type: ignore[misc]
