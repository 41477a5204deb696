"""Registration through verl's ``verl.plugins`` entry point, and ``rewardkit doctor``, each in a
fresh interpreter (verl loads plugins once, inside ``import verl``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rewardkit.cli import cli

pytestmark = pytest.mark.slow

REGISTRATION_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import verl  # loads the verl.plugins entry points, as in every Ray worker

    report = {
        "plugin_loaded": "rewardkit_verl._plugin" in sys.modules,
        # Registration waits for verl's own modules: import verl alone stays light.
        "heavy_before": sorted(
            m for m in ("rewardkit_verl._reward_manager", "rewardkit_verl._trainer")
            if m in sys.modules
        ),
    }
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.trainer.ppo.reward import resolve_reward_manager_cls
    from verl.trainer.ppo.v1 import get_trainer_cls
    from omegaconf import OmegaConf

    cls = get_reward_manager_cls("rewardkit")
    config = OmegaConf.create({"reward": {"reward_manager": {"source": "register", "name": "rewardkit"}}})
    report["manager"] = f"{cls.__module__}.{cls.__qualname__}"
    report["resolved"] = resolve_reward_manager_cls(config) is cls
    report["trainers"] = {
        name: get_trainer_cls(name).__qualname__
        for name in ("rewardkit", "rewardkit_colocate_async", "rewardkit_separate_async")
    }
    report["status"] = {
        k: v.state for k, v in sys.modules["rewardkit_verl._plugin"].status().items()
    }
    print("@@" + json.dumps(report))
    """
)


def test_import_verl_registers_rewardkit_through_the_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", REGISTRATION_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
    report = json.loads(line[2:])
    assert report["plugin_loaded"] is True
    assert report["heavy_before"] == []
    assert report["manager"] == "rewardkit_verl._reward_manager.RewardKitRewardManager"
    assert report["resolved"] is True
    assert report["trainers"] == {
        "rewardkit": "RewardKitPPOTrainer",
        "rewardkit_colocate_async": "RewardKitPPOTrainerColocateAsync",
        "rewardkit_separate_async": "RewardKitPPOTrainerSeparateAsync",
    }
    assert report["status"] == {
        "reward_manager": "registered",
        "trainer": "registered",
        "loss_mask": "inactive",
    }


def _doctor(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["doctor", "--json", *args], catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def test_doctor_reports_every_piece_registered(tmp_path: Path) -> None:
    config = tmp_path / "rewardkit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "rewards": [{"type": "math"}],
                "shaping": [{"type": "batch_repetition", "answer_from": "math"}],
                "engine": {"workers": 1},
            }
        )
    )
    code, report = _doctor("--config", str(config))
    assert code == 0, report
    assert report["ok"] is True
    checks = {c["name"].split(" (")[0]: c for c in report["checks"]}
    assert all(c["ok"] for c in checks.values()), checks
    assert checks["reward manager 'rewardkit'"]["summary"] == "registered"
    assert checks["verl.plugins entry point 'rewardkit'"]["summary"].startswith("loaded")
    assert checks["entropy mask in verl's ppo_loss"]["summary"] == "inactive"
    scored = checks[f"config {config}"]
    assert "score=1" in scored["summary"]  # "1 + 1 = 2. \boxed{2}" against reference 2
    assert "math_outcome" in scored["detail"]
    # Shaping runs only in rewardkit's trainer: a warning (not a failure) says how to enable it.
    sections = checks[f"config {config}: driver-side sections"]
    assert sections["ok"] and sections["warning"]
    assert "shaping ['batch_repetition']" in sections["summary"]
    assert "trainer.v1.trainer_mode=rewardkit" in sections["detail"]
    text = CliRunner().invoke(cli, ["doctor", "--config", str(config)]).output
    assert "[warn] config" in text and "rewardkit is ready in verl." in text


def test_doctor_explains_a_blocked_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERL_USE_EXTERNAL_PLUGINS", "none")
    code, report = _doctor()
    assert code == 1
    assert report["ok"] is False
    failed = {c["name"].split(" (")[0]: c for c in report["checks"] if not c["ok"]}
    assert set(failed) == {
        "verl.plugins entry point 'rewardkit'",
        "reward manager 'rewardkit'",
        "V1 trainers 'rewardkit', 'rewardkit_colocate_async', 'rewardkit_separate_async'",
    }
    why = failed["verl.plugins entry point 'rewardkit'"]["detail"]
    assert "VERL_USE_EXTERNAL_PLUGINS=none" in why and "unset it" in why
    manager = failed["reward manager 'rewardkit'"]
    assert manager["summary"] == "not registered"
    assert "see the entry point check above" in manager["detail"]
