"""Driver-side shaping over a synthetic batch with known groups and answers, the real trainer
subclass built by verl's registry, and UCB state through a verl checkpoint folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rewardkit_verl._checkpoint import (
    STATE_FILENAME,
    load_state,
    resumed_step_folder,
    save_state,
    step_folder,
)
from rewardkit_verl._scorer import close_scorers, scorer_for
from rewardkit_verl._settings import settings_from_kwargs
from rewardkit_verl._shaping import BatchShaper, session_of
from verl_testlib import generated_trainer_config

from rewardkit import ConfigError, Rollout, StateError

PROMPT = [{"role": "user", "content": "Which letter?"}]
OTHER = [{"role": "user", "content": "Another question"}]


def _settings(config: dict[str, Any]) -> Any:
    return settings_from_kwargs({"rewardkit_config": config}, where="test")


@pytest.fixture(autouse=True, scope="module")
def _stop_scorers() -> Any:
    yield
    close_scorers()


def _scored_infos(settings: Any, rollouts: Sequence[Rollout]) -> list[dict[str, Any]]:
    """Extra infos exactly as the reward workers return them (scored one sample at a time)."""
    scorer = scorer_for(settings)
    return [scorer.score(r) for r in rollouts]


def _rollout(prompt: Any, answer: str, uid: str, index: int = 0) -> Rollout:
    return Rollout(
        prompt=prompt,
        completion=f"I think the answer is \\boxed{{{answer}}}",
        group=uid,
        reference="a",
        metadata={"index": index},
    )


def test_session_keys() -> None:
    assert session_of("0c1d-uuid_3_0") == ("0c1d-uuid_3", 0)
    assert session_of("0c1d-uuid_3_2") == ("0c1d-uuid_3", 2)
    assert session_of("plainkey") == ("plainkey", 0)


def test_batch_repetition_on_known_groups_with_padding_and_multi_output() -> None:
    settings = _settings(
        {
            "rewards": [{"type": "math", "name": "acc"}],
            "shaping": [{"type": "batch_repetition", "answer_from": "acc", "coefficient": 1.0}],
            "engine": {"workers": 1},
        }
    )
    # Group u0 answers a, a, b, c; group u1: d, d (its second session has two outputs).
    rows = [
        ("u0_0_0", _rollout(PROMPT, "a", "u0")),
        ("u0_1_0", _rollout(PROMPT, "a", "u0")),
        ("u0_2_0", _rollout(PROMPT, "b", "u0")),
        ("u0_3_0", _rollout(PROMPT, "c", "u0")),
        ("u1_0_0", _rollout(OTHER, "d", "u1")),
        ("u1_1_0", _rollout(OTHER, "zzz", "u1")),  # an earlier turn of session u1_1
        ("u1_1_1", _rollout(OTHER, "d", "u1")),
        ("padabc_0_0", None),  # verl's padding row
    ]
    keys = [k for k, _ in rows]
    rollouts = [r for _, r in rows]
    live = [r for r in rollouts if r is not None]
    infos: list[Any] = [*_scored_infos(settings, live), None]
    # verl copies the final output's reward info onto the earlier outputs of a session.
    infos[5] = infos[6]

    shaper = BatchShaper(settings)
    shaped = shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=1)

    # b_i = -(1/n) * #{j != i : a_j = a_i} per group (n = sessions in the group).
    assert shaped.deltas == pytest.approx([-0.25, -0.25, 0.0, 0.0, -0.5, -0.5, -0.5, 0.0])
    assert shaped.correct == [True, True, False, False, False, False, False, None]
    scored = shaped.scored
    assert scored is not None and len(scored.rewards) == 6  # sessions, not rows
    assert scored.rewards == pytest.approx([0.75, 0.75, 0.0, 0.0, -0.5, -0.5])
    assert shaped.metrics["rewardkit/batch_repetition/mean"] == pytest.approx(-1.5 / 6)
    assert shaped.metrics["rewardkit/acc/frac_correct"] == pytest.approx(2 / 6)


def _ucb_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "rewards": [{"type": "math", "name": "acc"}],
        "shaping": [
            {
                "type": "ucb_exploration",
                "answer_from": "acc",
                "variant": "constant_baseline",
                "baseline": 0.5,
                "coefficient": 1.0,
                "zero_all_correct_groups": False,
                "prompt_id_column": "index",
            }
        ],
        "engine": {"workers": 1},
    }


def _ucb_step(shaper: BatchShaper, answers: list[str], uid: str, step: int) -> list[float]:
    rollouts = [_rollout(PROMPT, a, uid, index=7) for a in answers]
    infos = _scored_infos(shaper.settings, rollouts)
    keys = [f"{uid}_{i}_0" for i in range(len(answers))]
    return shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=step).deltas


def test_ucb_state_round_trips_through_a_verl_checkpoint_folder(tmp_path: Path) -> None:
    settings = _settings(_ucb_config(tmp_path))
    config = generated_trainer_config()
    config.trainer.default_local_dir = str(tmp_path / "ckpt")
    config.trainer.resume_mode = "auto"

    first = BatchShaper(settings)
    # Step 1: N(a) = 2, N(b) = 1 (counted first) -> min(1, N^-1/2) - 0.5.
    assert _ucb_step(first, ["b", "b", "a"], "uid-step1", 1)[:1] == pytest.approx([2**-0.5 - 0.5])
    # What verl's _save_checkpoint does around our state: the step folder, then the tracker.
    folder = step_folder(config, 1)
    path = save_state(first.pipeline, folder)
    assert path == Path(folder) / STATE_FILENAME
    Path(config.trainer.default_local_dir, "latest_checkpointed_iteration.txt").write_text("1")

    # Resume: verl's own tracker lookup finds the folder; a new uid for the same prompt.
    resumed = BatchShaper(settings)
    assert resumed_step_folder(config) == os.path.abspath(folder)
    assert load_state(resumed.pipeline, resumed_step_folder(config)) is True
    step2 = ["b", "a", "c"]
    expected = [3**-0.5 - 0.5, 2**-0.5 - 0.5, 1.0 - 0.5]  # N(b)=3, N(a)=2, N(c)=1
    assert _ucb_step(resumed, step2, "uid-step2", 2) == pytest.approx(expected)
    assert _ucb_step(first, step2, "uid-step2", 2) == pytest.approx(expected)
    # Without the checkpoint the history is gone: the same batch scores differently.
    assert _ucb_step(BatchShaper(settings), step2, "uid-step2", 2) == pytest.approx([0.5] * 3)

    # Fresh runs and corrupt files.
    config.trainer.resume_mode = "disable"
    assert resumed_step_folder(config) is None
    assert load_state(BatchShaper(settings).pipeline, None) is False
    Path(folder, STATE_FILENAME).write_text("{not json")
    with pytest.raises(StateError, match="corrupt"):
        load_state(BatchShaper(settings).pipeline, folder)


def test_registered_trainer_is_verls_sync_trainer_with_shaping() -> None:
    from rewardkit_verl import RewardKitPPOTrainer
    from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    config = generated_trainer_config(
        rewardkit_config={
            "rewards": [{"type": "math"}],
            "shaping": [{"type": "batch_repetition", "answer_from": "math"}],
        }
    )
    cls = get_trainer_cls("rewardkit")
    assert cls is RewardKitPPOTrainer and issubclass(cls, PPOTrainerSync)
    trainer = cls(config)
    # verl keys sync-only behaviour on the mode string; the registry name must not leak into it.
    assert trainer.trainer_mode == "sync"
    assert type(trainer.replay_buffer) is ReplayBuffer
    assert [t.type for t in trainer.rewardkit.pipeline.shaping] == ["batch_repetition"]

    config.reward.reward_manager.name = "naive"
    with pytest.raises(ConfigError, match=r"reward\.reward_manager\.name=rewardkit"):
        cls(config)
    config.reward.custom_reward_function.path = "pkg://rewardkit_verl.scoring"
    assert cls(config).trainer_mode == "sync"


def test_token_mask_setup_errors() -> None:
    from rewardkit_verl._trainer import check_token_mask_setup

    config = generated_trainer_config()
    assert check_token_mask_setup(config, has_token_mask=True) is False
    config.algorithm.rollout_correction.bypass_mode = True
    with pytest.raises(ConfigError, match="bypass_mode"):
        check_token_mask_setup(config, has_token_mask=True)
    config.ray_kwargs.ray_init.runtime_env = {
        "env_vars": {"REWARDKIT_VERL_LOSS_MASK_CONFIG": "/x.yaml"}
    }
    config.actor_rollout_ref.actor.calculate_entropy = False
    config.actor_rollout_ref.actor.entropy_coeff = 0.0
    with pytest.raises(ConfigError, match="calculate_entropy=True"):
        check_token_mask_setup(config, has_token_mask=True)
    config.actor_rollout_ref.actor.calculate_entropy = True
    assert check_token_mask_setup(config, has_token_mask=True) is True


class WorkerGroupStandIn:
    """Stands in for verl's actor worker group, the one part of ``_save_checkpoint`` /
    ``_load_checkpoint`` that needs GPU workers; records what the checkpoint folder held and
    what the trainer's shaping state was at the moment verl saved or loaded the actor."""

    def __init__(self, trainer: Any, root: Path) -> None:
        self.trainer = trainer
        self.root = root
        self.events: list[dict[str, Any]] = []

    def _record(self, what: str, local_path: str) -> None:
        folder = Path(local_path).parent
        self.events.append(
            {
                "what": what,
                "state_file": (folder / STATE_FILENAME).is_file(),
                "tracker": (self.root / "latest_checkpointed_iteration.txt").is_file(),
                "global_steps": self.trainer.global_steps,
                "state": self.trainer.rewardkit.pipeline.state_dict(),
            }
        )

    def save_checkpoint(self, local_path: str, *args: Any, **kwargs: Any) -> None:
        self._record("save", local_path)
        Path(local_path).mkdir(parents=True, exist_ok=True)

    def load_checkpoint(self, local_path: str, **kwargs: Any) -> None:
        self._record("load", local_path)


def _trainer_with_stand_ins(config: Any, root: Path) -> Any:
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl.trainer.ppo.v1 import get_trainer_cls

    trainer = get_trainer_cls("rewardkit")(config)
    trainer.actor_rollout_wg = WorkerGroupStandIn(trainer, root)
    trainer.train_dataloader = StatefulDataLoader(list(range(8)), batch_size=2)
    return trainer


def test_answer_history_round_trips_through_a_verl_checkpoint_folder(tmp_path: Path) -> None:
    """answer_diversity's solved-prompt history is saved in the step folder with the rest of the
    state; resumed, the same batch gives the same ever/never-solved metrics, fresh it does not."""
    settings = _settings(
        {
            "rewards": [{"type": "math", "name": "acc"}],
            "diagnostics": [{"type": "answer_diversity", "name": "div", "answer_from": "acc"}],
            "engine": {"workers": 1},
        }
    )
    config = generated_trainer_config()
    config.trainer.default_local_dir = str(tmp_path / "ckpt")

    def step(shaper: BatchShaper, groups: dict[str, tuple[Any, list[str]]], n: int) -> dict:
        keys, rollouts = [], []
        for uid, (prompt, answers) in groups.items():
            for i, a in enumerate(answers):
                keys.append(f"{uid}_{i}_0")
                rollouts.append(_rollout(prompt, a, uid))
        infos = _scored_infos(shaper.settings, rollouts)
        return shaper.shape_rows(keys=keys, rollouts=rollouts, infos=infos, step=n).metrics

    first = BatchShaper(settings)
    # Step 1 (reference "a"): PROMPT solved, OTHER not.
    step(first, {"u1": (PROMPT, ["a", "b"]), "u2": (OTHER, ["c", "d", "e"])}, 1)
    save_state(first.pipeline, step_folder(config, 1))
    # Step 2, new uids: PROMPT is missed now, but it was solved at step 1.
    batch2 = {"v1": (PROMPT, ["b", "c"]), "v2": (OTHER, ["c"])}
    continued = step(first, batch2, 2)
    assert continued["rewardkit/div/distinct_unsolved"] == pytest.approx(1.5)
    assert continued["rewardkit/div/distinct_ever_solved"] == pytest.approx(2)
    assert continued["rewardkit/div/distinct_never_solved"] == pytest.approx(1)

    resumed = BatchShaper(settings)
    assert load_state(resumed.pipeline, step_folder(config, 1)) is True
    assert step(resumed, batch2, 2) == continued
    fresh = step(BatchShaper(settings), batch2, 2)
    assert fresh["rewardkit/div/distinct_never_solved"] == pytest.approx(1.5)


def test_trainer_checkpoint_overrides_order_and_resume(tmp_path: Path) -> None:
    """The real RewardKitPPOTrainer._save_checkpoint/_load_checkpoint around verl's real
    PPOTrainer methods (worker group stood in): state saved before verl writes the tracker,
    loaded after verl set global_steps, and the resumed UCB state is the saved one."""
    root = tmp_path / "ckpt"
    config = generated_trainer_config(_ucb_config(tmp_path))
    config.algorithm.adv_estimator = "grpo"  # no critic worker group
    config.trainer.default_local_dir = str(root)
    config.trainer.resume_mode = "auto"

    first = _trainer_with_stand_ins(config, root)
    assert not first.use_critic
    first.global_steps = 1
    _ucb_step(first.rewardkit, ["b", "b", "a"], "uid-step1", 1)
    saved = first.rewardkit.pipeline.state_dict()
    first._save_checkpoint()

    (save,) = first.actor_rollout_wg.events
    # verl saves the actor, then data.pt, then writes the tracker: when it saved the actor our
    # state file was already in the step folder and the tracker not yet written.
    assert save["state_file"] and not save["tracker"]
    assert (root / "latest_checkpointed_iteration.txt").read_text() == "1"
    assert (root / "global_step_1" / "data.pt").is_file()
    assert (root / "global_step_1" / STATE_FILENAME).is_file()

    resumed = _trainer_with_stand_ins(config, root)
    empty = resumed.rewardkit.pipeline.state_dict()
    assert empty != saved
    resumed._load_checkpoint()
    (load,) = resumed.actor_rollout_wg.events
    # verl had set global_steps from the folder and was loading the actor; our state came after.
    assert load["global_steps"] == 1 and load["state"] == empty
    assert resumed.global_steps == 1
    assert resumed.rewardkit.pipeline.state_dict() == saved
    step2 = ["b", "a", "c"]
    assert _ucb_step(resumed.rewardkit, step2, "uid-step2", 2) == pytest.approx(
        _ucb_step(first.rewardkit, step2, "uid-step2", 2)
    )

    # A fresh run (resume disabled) loads nothing, even with the checkpoint on disk.
    config.trainer.resume_mode = "disable"
    fresh = _trainer_with_stand_ins(config, root)
    fresh._load_checkpoint()
    assert fresh.global_steps == 0 and fresh.actor_rollout_wg.events == []
    assert fresh.rewardkit.pipeline.state_dict() == empty


def test_resume_with_a_renamed_stateful_term_is_a_state_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """UCB state saved as 'explore' and resumed with `name` omitted: the real trainer's
    ``_load_checkpoint`` and ``load_state`` raise instead of logging "restored" over nothing."""
    root = tmp_path / "ckpt"
    named = _ucb_config(tmp_path)
    named["shaping"][0]["name"] = "explore"
    saving_config = generated_trainer_config(named)
    saving_config.algorithm.adv_estimator = "grpo"
    saving_config.trainer.default_local_dir = str(root)
    saving_config.trainer.resume_mode = "auto"
    first = _trainer_with_stand_ins(saving_config, root)
    first.global_steps = 1
    _ucb_step(first.rewardkit, ["b", "b", "a"], "uid-step1", 1)
    first._save_checkpoint()

    config = generated_trainer_config(_ucb_config(tmp_path))  # name omitted
    config.algorithm.adv_estimator = "grpo"
    config.trainer.default_local_dir = str(root)
    config.trainer.resume_mode = "auto"
    resumed = _trainer_with_stand_ins(config, root)
    renamed = r"'ucb_exploration'.*\(missing\).*'explore'"
    with caplog.at_level("INFO"), pytest.raises(StateError, match=renamed):
        resumed._load_checkpoint()
    assert not any("restored" in r.getMessage() for r in caplog.records)
    with pytest.raises(StateError, match="unexpected"):
        load_state(BatchShaper(_settings(_ucb_config(tmp_path))).pipeline, root / "global_step_1")
    # A step folder without rewardkit's state file is refused too, unless partial state is
    # allowed (then: a warning, nothing restored).
    (root / "global_step_1" / STATE_FILENAME).unlink()
    with pytest.raises(StateError, match="no state file"):
        load_state(BatchShaper(_settings(named)).pipeline, root / "global_step_1")
    lenient = BatchShaper(_settings({**named, "allow_partial_state": True}))
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert load_state(lenient.pipeline, root / "global_step_1") is False
    assert any("starts empty" in r.getMessage() for r in caplog.records)
