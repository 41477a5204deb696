"""The ``rewardkit`` reward manager, found through verl's registry, scoring real DataProtos through
verl's own reward-loop code (``load_reward_manager``, ``RewardLoopWorker.compute_score_batch``,
``assemble_rm_scores``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import pytest
import torch
from rewardkit_verl._extra_info import OUTCOME_CODES, ExtraInfoLayout
from rewardkit_verl._scorer import close_scorers
from verl_testlib import make_dataproto, verl_config

KEYWORD_CONFIG = {
    "rewards": [
        {"type": "keyword", "name": "says_answer", "keywords": ["answer"], "weight": 1.0},
        {"type": "keyword", "name": "kw.both", "keywords": ["answer", "boxed"], "weight": 0.5},
    ],
    "engine": {"workers": 1},
}

EXPECTED_KEYS = [
    "score",
    *("says_answer", "says_answer_outcome", "says_answer_answer", "says_answer_reason"),
    *("kw_both", "kw_both_outcome", "kw_both_answer", "kw_both_reason"),
]


@pytest.fixture(autouse=True)
def _fresh_scorers() -> Any:
    yield
    close_scorers()


def _batch(tokenizer: Any) -> Any:
    chat = [{"role": "user", "content": "What is 2 + 2?"}]
    return make_dataproto(
        tokenizer,
        prompts=[chat, chat, chat, "plain prompt"],
        responses=[
            "The answer is \\boxed{4}.",  # both rewards correct
            "My answer: 5",  # says_answer correct, kw.both half
            "",  # empty: no_answer for both
            "I do not know",  # incorrect for both
        ],
        ground_truths=["4", "4", "4", "x"],
        uids=["u0", "u0", "u0", "u1"],
    )


def test_manager_is_found_through_verls_registry_and_loader(tokenizer: Any) -> None:
    from rewardkit_verl import RewardKitRewardManager
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.trainer.ppo.reward import load_reward_manager

    assert get_reward_manager_cls("rewardkit") is RewardKitRewardManager
    manager = load_reward_manager(verl_config(KEYWORD_CONFIG), tokenizer)
    assert type(manager) is RewardKitRewardManager
    assert list(manager.scorer.layout.keys) == EXPECTED_KEYS


def test_reward_loop_worker_scores_a_dataproto_with_fixed_keys(
    tokenizer: Any, tokenizer_dir: Any
) -> None:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

    data = _batch(tokenizer)
    worker = RewardLoopWorker(verl_config(KEYWORD_CONFIG, tokenizer_dir=tokenizer_dir))
    outputs = asyncio.run(worker.compute_score_batch(data))

    assert len(outputs) == 4
    # verl's RewardLoopManager builds every extra-info column from the first sample's keys.
    for out in outputs:
        assert list(out["reward_extra_info"]) == EXPECTED_KEYS
    infos = [o["reward_extra_info"] for o in outputs]
    columns = {k: np.array([info[k] for info in infos]) for k in infos[0]}

    assert [o["reward_score"] for o in outputs] == pytest.approx([1.5, 1.25, 0.0, 0.0])
    assert columns["says_answer"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert columns["kw_both"].tolist() == [1.0, 0.5, 0.0, 0.0]
    codes = OUTCOME_CODES
    assert columns["says_answer_outcome"].tolist() == [
        codes["correct"],
        codes["correct"],
        codes["no_answer"],
        codes["incorrect"],
    ]
    assert columns["kw_both_reason"].tolist()[2] == "empty completion"

    rm_scores = RewardManagerBase.assemble_rm_scores(data, [o["reward_score"] for o in outputs])
    assert rm_scores.shape == data.batch["responses"].shape
    assert rm_scores.sum(dim=1).tolist() == pytest.approx([1.5, 1.25, 0.0, 0.0])
    # Each score sits on the last valid response token (the eos).
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(dim=1)
    for i, n in enumerate(lengths.tolist()):
        assert rm_scores[i, n - 1] == pytest.approx(rm_scores[i].sum())
        assert torch.count_nonzero(rm_scores[i, n:]) == 0

    # The extra info decodes back to the results the driver-side shaping reads.
    layout = ExtraInfoLayout.for_config(worker.reward_manager.settings.config)
    totals, results = layout.decode_batch(infos)
    assert totals == pytest.approx([1.5, 1.25, 0.0, 0.0])
    assert [r.outcome.value for r in results["kw.both"]] == [
        "correct",
        "incorrect",
        "no_answer",
        "incorrect",
    ]


def test_a_sample_over_its_time_limit_keeps_the_key_set(tokenizer: Any) -> None:
    from verl.trainer.ppo.reward import load_reward_manager

    data = _batch(tokenizer)
    fast = load_reward_manager(verl_config(KEYWORD_CONFIG), tokenizer)
    # A limit no scoring can meet: every sample times out, and still reports every key.
    slow = load_reward_manager(
        verl_config(KEYWORD_CONFIG, rewardkit_sample_timeout_s=1e-9), tokenizer
    )

    async def run(manager: Any) -> list[dict[str, Any]]:
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(4)))

    ok = asyncio.run(run(fast))
    timed_out = asyncio.run(run(slow))
    for a, b in zip(ok, timed_out):
        assert list(a["reward_extra_info"]) == list(b["reward_extra_info"]) == EXPECTED_KEYS
        assert b["reward_score"] == 0.0
        assert b["reward_extra_info"]["says_answer_outcome"] == OUTCOME_CODES["timeout"]
        assert "rewardkit_sample_timeout_s" in b["reward_extra_info"]["kw_both_reason"]


def test_missing_config_is_a_clear_error(tokenizer: Any) -> None:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import load_reward_manager

    from rewardkit import ConfigError

    config = verl_config(KEYWORD_CONFIG)
    del config.reward["reward_kwargs"]
    with pytest.raises(ConfigError, match=r"\+reward\.reward_kwargs\.rewardkit_config="):
        load_reward_manager(config, tokenizer)
    bad = verl_config({"rewards": [{"type": "keywrd", "keywords": ["a"]}]})
    with pytest.raises(ConfigError, match="did you mean 'keyword'"):
        load_reward_manager(bad, tokenizer)
    _ = OmegaConf


def test_compute_score_pkg_path_returns_the_same_keys(tmp_path: Any) -> None:
    import yaml
    from verl.trainer.ppo.reward import get_custom_reward_fn

    path = tmp_path / "rk.yaml"
    path.write_text(yaml.safe_dump(KEYWORD_CONFIG))
    config = verl_config(KEYWORD_CONFIG)
    config.reward.custom_reward_function.path = "pkg://rewardkit_verl.scoring"
    config.reward.custom_reward_function["reward_kwargs"] = {"rewardkit_config": str(path)}
    fn = get_custom_reward_fn(config)

    async def call(text: str) -> dict[str, Any]:
        return await fn(
            data_source="test", solution_str=text, ground_truth="4", extra_info={"index": 3}
        )

    good, empty = asyncio.run(call("answer \\boxed{4}")), asyncio.run(call(""))
    assert list(good) == list(empty) == EXPECTED_KEYS
    assert good["score"] == pytest.approx(1.5)
    assert empty["says_answer_outcome"] == OUTCOME_CODES["no_answer"]


SHAPED_CONFIG = {
    **KEYWORD_CONFIG,
    # keyword results carry no answers: the term keys answers the default way (final answer)
    "shaping": [{"type": "batch_repetition"}],
    "diagnostics": [{"type": "answer_diversity", "name": "diversity"}],
}


def _dropped_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "rewardkit_verl"
        and r.levelno == logging.WARNING
        and "DROPPED" in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("use_v1", "mode", "warns"),
    [
        (True, "sync", True),  # verl's own trainer: shaping never runs
        (False, "rewardkit", True),  # the legacy trainer ignores trainer.v1.*
        (True, "rewardkit", False),
        (True, "rewardkit_separate_async", False),
    ],
)
def test_manager_warns_when_no_rewardkit_trainer_applies_shaping(
    tokenizer: Any, caplog: pytest.LogCaptureFixture, use_v1: bool, mode: str, warns: bool
) -> None:
    from verl.trainer.ppo.reward import load_reward_manager
    from verl_testlib import generated_trainer_config

    config = generated_trainer_config(SHAPED_CONFIG)  # verl's full default trainer config
    config.trainer.use_v1 = use_v1
    config.trainer.v1.trainer_mode = mode
    with caplog.at_level(logging.WARNING, logger="rewardkit_verl"):
        load_reward_manager(config, tokenizer)
    messages = _dropped_warnings(caplog)
    if not warns:
        assert messages == []
        return
    (message,) = messages
    assert "shaping ['batch_repetition']" in message and "diagnostics ['diversity']" in message
    assert f"trainer.use_v1={use_v1}" in message and f"trainer_mode={mode}" in message
    assert "set trainer.v1.trainer_mode=rewardkit" in message


def test_manager_does_not_warn_for_rewards_alone_or_a_loss_path_mask(
    tokenizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from verl.trainer.ppo.reward import load_reward_manager
    from verl_testlib import generated_trainer_config

    config = generated_trainer_config(KEYWORD_CONFIG)
    config.trainer.v1.trainer_mode = "sync"
    with caplog.at_level(logging.WARNING, logger="rewardkit_verl"):
        load_reward_manager(config, tokenizer)
    assert _dropped_warnings(caplog) == []
    # A token mask applied in the workers' loss (REWARDKIT_VERL_LOSS_MASK_CONFIG) is not dropped.
    masked = generated_trainer_config(
        {**KEYWORD_CONFIG, "token_mask": {"type": "entropy_top_ratio", "ratio": 0.2}}
    )
    masked.trainer.v1.trainer_mode = "sync"
    masked.ray_kwargs.ray_init.runtime_env = {
        "env_vars": {"REWARDKIT_VERL_LOSS_MASK_CONFIG": "/x.yaml"}
    }
    with caplog.at_level(logging.WARNING, logger="rewardkit_verl"):
        load_reward_manager(masked, tokenizer)
    assert _dropped_warnings(caplog) == []
    masked.ray_kwargs.ray_init.runtime_env = {}
    with caplog.at_level(logging.WARNING, logger="rewardkit_verl"):
        load_reward_manager(masked, tokenizer)
    assert "token_mask (entropy_top_ratio)" in _dropped_warnings(caplog)[0]


def test_trainer_modes_list_every_registered_rewardkit_trainer() -> None:
    from rewardkit_verl._driver_sections import TRAINER_MODES
    from rewardkit_verl._trainer import TRAINER_NAMES

    assert set(TRAINER_MODES) == set(TRAINER_NAMES)


@pytest.mark.parametrize("strict", [True, False])
def test_a_sample_without_ground_truth_is_an_error_outcome(tokenizer: Any, strict: bool) -> None:
    from rewardkit_verl._scorer import NO_REFERENCE_REASON
    from verl.trainer.ppo.reward import load_reward_manager

    config = {
        "strict": strict,
        "rewards": [
            {"type": "exact", "name": "match", "weight": 1.0},  # needs a reference
            {"type": "keyword", "name": "says_answer", "keywords": ["answer"], "weight": 0.5},
        ],
        "engine": {"workers": 1},
    }
    manager = load_reward_manager(verl_config(config), tokenizer)
    chat = [{"role": "user", "content": "What is 2 + 2?"}]
    data = make_dataproto(
        tokenizer,
        prompts=[chat, chat],
        responses=["The answer is \\boxed{4}", "The answer is \\boxed{4}"],
        ground_truths=["4", None],
        uids=["u0", "u0"],
    )

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(2)))

    good, missing = asyncio.run(run())
    assert list(good["reward_extra_info"]) == list(missing["reward_extra_info"])
    assert good["reward_extra_info"]["match_outcome"] == OUTCOME_CODES["correct"]
    info = missing["reward_extra_info"]
    assert info["match_outcome"] == OUTCOME_CODES["error"]
    assert info["match_reason"] == NO_REFERENCE_REASON
    # The reward that needs no reference still scored the sample.
    assert info["says_answer_outcome"] == OUTCOME_CODES["correct"]
    assert missing["reward_score"] == pytest.approx(0.5)
    assert good["reward_score"] == pytest.approx(1.5)


# The one missing-reference policy: the same table as tests/verifiers/test_missing_reference_policy
# (pipeline and `rewardkit score`) and the TRL reward functions' test.
POLICY_CONFIG = {
    "rewards": [
        {"type": "exact", "name": "match"},  # needs a reference
        {"type": "keyword", "name": "says", "keywords": ["answer"], "weight": 0.5},  # does not
    ],
    "engine": {"workers": 1},
}
POLICY_ROWS = [
    ("q1", "The answer is \\boxed{4}", "4"),
    ("q1", "The answer is \\boxed{4}", None),
    ("q2", "It is \\boxed{7}", "5"),
    ("q2", "no idea", None),
]
POLICY_EXPECTED = {
    "match": ["correct", "error", "incorrect", "error"],
    "says": ["correct", "correct", "incorrect", "incorrect"],
}


@pytest.mark.parametrize("strict", [True, False])
def test_missing_references_give_the_pipelines_outcomes(tokenizer: Any, strict: bool) -> None:
    from rewardkit_verl._scorer import NO_REFERENCE_REASON
    from verl.trainer.ppo.reward import load_reward_manager

    from rewardkit import MISSING_REFERENCE_REASON, RewardPipeline, Rollout

    config = {**POLICY_CONFIG, "strict": strict}
    manager = load_reward_manager(verl_config(config), tokenizer)
    data = make_dataproto(
        tokenizer,
        prompts=[q for q, _, _ in POLICY_ROWS],
        responses=[c for _, c, _ in POLICY_ROWS],
        ground_truths=[r for _, _, r in POLICY_ROWS],
        uids=["u0", "u0", "u1", "u1"],
    )

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(manager.run_single(data[i : i + 1]) for i in range(len(POLICY_ROWS)))
        )

    infos = [out["reward_extra_info"] for out in asyncio.run(run())]
    names = {code: name for name, code in OUTCOME_CODES.items()}
    outcomes = {k: [names[info[f"{k}_outcome"]] for info in infos] for k in POLICY_EXPECTED}
    assert outcomes == POLICY_EXPECTED
    assert NO_REFERENCE_REASON == MISSING_REFERENCE_REASON
    assert [info["match_reason"] for info in infos][1::2] == [MISSING_REFERENCE_REASON] * 2
    with RewardPipeline(config) as p:
        scored = p.score(
            [Rollout(q, c, reference=r) for q, c, r in POLICY_ROWS], missing_reference="error"
        )
    assert {k: [r.outcome.value for r in scored.details[k]] for k in POLICY_EXPECTED} == outcomes
