"""The doctor's probe: run as ``python -m rewardkit_verl._probe`` in a fresh interpreter.

It does what a verl worker does - ``import verl`` (which loads ``verl.plugins`` entry points),
then imports the modules the reward workers and the TaskRunner import - and then reads verl's
registries. Nothing here may register anything itself: the report must show what verl did.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from rewardkit_verl._doctor import REPORT_MARKER
from rewardkit_verl._pieces import PIECES

ENTRY_POINT_GROUP = "verl.plugins"
ENTRY_POINT_NAME = "rewardkit"
PLUGIN_MODULE = "rewardkit_verl._plugin"
SUPPORTED_VERL = ">=0.9.1,<0.10"


def _check(name: str, ok: bool, summary: str, detail: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "summary": summary, "detail": detail}


def _find_entry_point() -> Any:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == ENTRY_POINT_NAME:
            return ep
    return None


def _policy_blocks(policy: str) -> str | None:
    """Why ``VERL_USE_EXTERNAL_PLUGINS`` keeps verl from loading the plugin, or None."""
    value = policy.strip().lower()
    if value == "none":
        return (
            "VERL_USE_EXTERNAL_PLUGINS=none turns off verl's plugin discovery, so `import verl` "
            "never loads rewardkit; unset it (the default is 'auto') or set it to a list that "
            "includes 'rewardkit'. Ray workers inherit it from the environment or the runtime_env."
        )
    if value != "auto":
        allowed = {p.strip() for p in value.split(",") if p.strip()}
        if ENTRY_POINT_NAME not in allowed:
            return (
                f"VERL_USE_EXTERNAL_PLUGINS={policy} lists only {sorted(allowed)}; add "
                f"'{ENTRY_POINT_NAME}' to it, or unset it to load every plugin."
            )
    return None


def _why_not_loaded(ep: Any, policy: str) -> str:
    blocked = _policy_blocks(policy)
    if blocked:
        return blocked
    if ep is None:
        return (
            f"no '{ENTRY_POINT_GROUP}' entry point named '{ENTRY_POINT_NAME}' in {sys.executable}: "
            "install rewardkit-verl into this environment (every node's), or reinstall it so its "
            "metadata lists the entry point."
        )
    try:
        ep.load()
    except Exception:
        return (
            "verl found the entry point but importing it failed (verl logs this at debug level "
            "only):\n" + traceback.format_exc(limit=6)
        )
    return "verl did not load the plugin although nothing blocks it (was verl imported before?)"


def _registered_reward_manager() -> tuple[bool, str]:
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER

    cls = REWARD_MANAGER.get("rewardkit")
    if cls is None:
        return False, f"not in verl's reward-manager registry (has: {sorted(REWARD_MANAGER)})"
    if not cls.__module__.startswith("rewardkit_verl."):
        return False, f"the name is taken by {cls.__module__}.{cls.__qualname__}"
    return True, f"{cls.__module__}.{cls.__qualname__}"


def _registered_trainers() -> tuple[bool, str]:
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    from rewardkit_verl._driver_sections import TRAINER_MODES

    names = list(TRAINER_MODES)
    missing = [n for n in names if n not in TRAINER_REGISTRY]
    if missing:
        return (
            False,
            f"{missing} not in verl's V1 trainer registry (has: {sorted(TRAINER_REGISTRY)})",
        )
    foreign = [n for n in names if not TRAINER_REGISTRY[n].__module__.startswith("rewardkit_verl.")]
    if foreign:
        return False, f"names {foreign} are taken by other trainers"
    return True, ", ".join(f"{n} -> {TRAINER_REGISTRY[n].__qualname__}" for n in names)


def _loss_mask_patched() -> tuple[bool, str]:
    import verl.workers.utils.losses as losses

    from rewardkit_verl._loss_mask import LOSS_MASK_ENV

    path = os.environ.get(LOSS_MASK_ENV)
    if not path:
        return True, f"inactive: {LOSS_MASK_ENV} is not set (the trainer masks the advantages)"
    if type(losses.ppo_loss).__name__ != "EntropyMaskedPPOLoss":
        return False, f"{LOSS_MASK_ENV}={path} but verl's ppo_loss is {losses.ppo_loss!r}"
    return True, f"ppo_loss wrapped: {losses.ppo_loss!r} from {path}"


_REGISTRY_CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "reward_manager": _registered_reward_manager,
    "trainer": _registered_trainers,
    "loss_mask": _loss_mask_patched,
}


def _check_compute_score() -> dict[str, Any]:
    import inspect

    from verl.utils.import_utils import load_extern_object

    name = "compute_score pkg://rewardkit_verl.scoring"
    try:
        fn = load_extern_object(
            module_path="pkg://rewardkit_verl.scoring", object_name="compute_score"
        )
    except Exception as exc:
        return _check(name, False, f"verl cannot load it: {type(exc).__name__}: {exc}")
    kind = "async" if inspect.iscoroutinefunction(fn) else "sync"
    return _check(name, True, f"loadable ({kind})")


def _check_components() -> dict[str, Any]:
    try:
        from rewardkit import get_registry

        registry = get_registry()
    except Exception as exc:
        return _check("rewardkit components", False, f"{type(exc).__name__}: {exc}")
    return _check(
        "rewardkit components",
        True,
        f"{len(registry.components)} types from plugins {registry.plugin_names()}",
    )


def _check_config(path: str) -> dict[str, Any]:
    name = f"config {path}"
    try:
        from rewardkit import Rollout
        from rewardkit_verl._scorer import SampleScorer
        from rewardkit_verl._settings import settings_from_kwargs

        settings = settings_from_kwargs({"rewardkit_config": path}, where="--config")
        scorer = SampleScorer(settings)
        try:
            t0 = time.perf_counter()
            info = scorer.score(
                Rollout(prompt="What is 1 + 1?", completion="1 + 1 = 2. \\boxed{2}", reference="2")
            )
            took = time.perf_counter() - t0
        finally:
            scorer.close()
    except Exception as exc:
        return _check(name, False, f"{type(exc).__name__}: {exc}")
    outcomes = {
        n: info[f"{p}_outcome"] for n, p in zip(scorer.layout.reward_names, scorer.layout.prefixes)
    }
    return _check(
        name,
        True,
        f"scored a sample in {took:.2f} s: score={info['score']:g}, outcome codes {outcomes}",
        f"reward_extra_info keys: {list(info)}",
    )


def _check_driver_sections(path: str) -> dict[str, Any] | None:
    """A warning (ok, but flagged) when the config has sections the reward manager drops."""
    try:
        from rewardkit_verl._driver_sections import ENABLE_HINT, driver_sections
        from rewardkit_verl._loss_mask import loss_mask_config_path
        from rewardkit_verl._settings import settings_from_kwargs

        config = settings_from_kwargs({"rewardkit_config": path}, where="--config").config
    except Exception:
        return None  # the config check above reports why it does not load
    sections = driver_sections(config, mask_in_loss=loss_mask_config_path() is not None)
    if not sections:
        return None
    check = _check(
        f"config {path}: driver-side sections",
        True,
        f"{', '.join(sections)} apply only in rewardkit's V1 trainer",
        f"the reward manager and compute_score run the rewards alone; without the trainer "
        f"these sections are dropped: {ENABLE_HINT}",
    )
    check["warning"] = True
    return check


def probe(config: str | None = None) -> dict[str, Any]:
    policy = os.environ.get("VERL_USE_EXTERNAL_PLUGINS", "auto")
    report: dict[str, Any] = {"python": sys.executable, "plugins_policy": policy, "checks": []}
    checks: list[dict[str, Any]] = report["checks"]
    ep = _find_entry_point()

    t0 = time.perf_counter()
    try:
        import verl
    except Exception as exc:
        checks.append(_check("import verl", False, f"{type(exc).__name__}: {exc}"))
        report["ok"] = False
        return report
    report["import_s"] = time.perf_counter() - t0
    report["verl_version"] = verl.__version__

    from packaging.specifiers import SpecifierSet

    in_range = verl.__version__ in SpecifierSet(SUPPORTED_VERL)
    checks.append(
        _check(
            "verl version",
            in_range,
            f"{verl.__version__} ({'supported' if in_range else 'unsupported'}: {SUPPORTED_VERL})",
        )
    )

    # Importing rewardkit_verl._plugin here would arm its hooks and register the pieces
    # ourselves; the piece list lives in a module that does not.
    loaded = PLUGIN_MODULE in sys.modules
    imported: dict[str, str] = {}
    for piece in PIECES:
        try:
            __import__(piece.verl_module)
            imported[piece.name] = ""
        except Exception as exc:
            imported[piece.name] = (
                f"importing {piece.verl_module} failed: {type(exc).__name__}: {exc}"
            )
    statuses = sys.modules[PLUGIN_MODULE].status() if loaded else {}
    for piece in PIECES:
        import_error = imported[piece.name]
        ok, where = (False, import_error) if import_error else _REGISTRY_CHECKS[piece.name]()
        if ok:
            summary = "inactive" if where.startswith("inactive") else "registered"
            checks.append(_check(piece.description, True, summary, where))
            continue
        if import_error:
            reason = import_error
        elif not loaded:
            reason = "verl did not load the rewardkit plugin (see the entry point check above)"
        elif piece.name in statuses and statuses[piece.name].state == "failed":
            reason = "registration raised: " + statuses[piece.name].error
        else:
            reason = where
        checks.append(_check(piece.description, False, "not registered", reason))

    if not loaded:
        # Only now: loading the entry point to learn why it failed arms the plugin's hooks.
        why = _why_not_loaded(ep, policy)
        checks.insert(1, _check("verl.plugins entry point 'rewardkit'", False, "not loaded", why))
    else:
        checks.insert(
            1, _check("verl.plugins entry point 'rewardkit'", True, f"loaded ({ep.value})")
        )

    checks.append(_check_compute_score())
    checks.append(_check_components())
    if config is not None:
        checks.append(_check_config(config))
        sections = _check_driver_sections(config)
        if sections is not None:
            checks.append(sections)
    report["ok"] = all(c["ok"] for c in checks)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rewardkit_verl._probe")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    report = probe(args.config)
    sys.stdout.flush()
    print(REPORT_MARKER + json.dumps(report, default=str), flush=True)


if __name__ == "__main__":
    main()
