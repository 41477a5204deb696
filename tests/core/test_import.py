"""``import rewardkit`` stays light: no torch, transformers, sentence-transformers, trl or verl."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "torch",
    "transformers",
    "sentence_transformers",
    "trl",
    "verl",
    "rewardkit_trl",
    "rewardkit_verl",
]


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_rewardkit_imports_nothing_heavy() -> None:
    loaded = _modules_after("import rewardkit")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "pydantic" not in loaded  # public names load lazily


def test_import_judges_imports_nothing_heavy() -> None:
    # The public judging subpackage: encoders and classifiers load torch, numpy,
    # sentence-transformers and ray on first use, never at import.
    loaded = _modules_after("import rewardkit.judges")
    heavy = set(HEAVY) | {"ray", "numpy", "sklearn"}
    assert not loaded & heavy, loaded & heavy
    assert "rewardkit" in loaded


def test_registry_and_cli_stay_torch_free() -> None:
    # Loading every installed plugin (built-ins, the example plugin, the adapters' rewardkit
    # plugins) and validating a config must not drag in the training stack.
    loaded = _modules_after("import rewardkit; rewardkit.get_registry(); import rewardkit.cli")
    training_stack = set(HEAVY) - {
        "rewardkit_trl",
        "rewardkit_verl",
    }  # their light plugin modules may load
    assert not loaded & training_stack, loaded & training_stack


def test_lazy_exports_resolve() -> None:
    import rewardkit

    for name in rewardkit.__all__:
        assert getattr(rewardkit, name) is not None
    assert "RewardPipeline" in dir(rewardkit)
