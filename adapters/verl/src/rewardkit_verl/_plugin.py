"""verl plugin (entry point ``verl.plugins: rewardkit``): registers rewardkit's pieces.

``import verl`` loads every ``verl.plugins`` entry point, in every process verl starts (driver,
TaskRunner, reward workers, actor workers). Importing verl's trainer and reward-loop modules
here would add seconds and hundreds of MB to each of them, and one failing import would take
every piece down with it. So each piece registers from a post-import hook on the verl module it
extends: the reward manager when verl's reward-manager registry is imported, the trainers when
``verl.trainer.ppo.v1`` is. verl logs plugin failures at debug level only; a piece that fails
here logs a warning, and ``rewardkit doctor`` shows it.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

import wrapt

from rewardkit_verl._log import logger
from rewardkit_verl._pieces import PIECES, Piece, PieceStatus

__all__ = ["install", "register_deferred", "status"]


_status: dict[str, PieceStatus] = {}
_installed = False


def _load(spec: str) -> Callable[[Any], None]:
    import importlib

    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _register(piece: Piece, module: Any) -> None:
    # An exception here would surface inside verl's own import and break verl for runs that
    # never use rewardkit; record it and say so loudly instead.
    try:
        state = _load(piece.hook)(module) or "registered"
    except Exception as exc:
        _status[piece.name] = PieceStatus(
            "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        )
        logger.warning(
            "rewardkit: could not register %s: %s: %s (run `rewardkit doctor`)",
            piece.description,
            type(exc).__name__,
            exc,
        )
    else:
        _status[piece.name] = PieceStatus(state)


def _hook_for(piece: Piece) -> Callable[[Any], None]:
    def hook(module: Any) -> None:
        adapter_name, _, attr = piece.hook.partition(":")
        adapter = sys.modules.get(adapter_name)
        if adapter is not None and not hasattr(adapter, attr):
            # The adapter module is half-imported: importing it imported the verl module that
            # fired this hook. It calls register_deferred() once it is complete.
            _status[piece.name] = PieceStatus("deferred")
            return
        _register(piece, module)

    return hook


def register_deferred(adapter_name: str) -> None:
    """Finish the registrations deferred while ``adapter_name`` was importing (its last line)."""
    for piece in PIECES:
        deferred = _status.get(piece.name, PieceStatus("")).state == "deferred"
        if deferred and piece.hook.partition(":")[0] == adapter_name:
            _register(piece, sys.modules[piece.verl_module])


def install() -> None:
    """Arm the post-import hooks (once per process); runs when verl loads this plugin."""
    global _installed
    if _installed:
        return
    _installed = True
    for piece in PIECES:
        _status.setdefault(piece.name, PieceStatus("pending"))
        wrapt.register_post_import_hook(_hook_for(piece), piece.verl_module)


def status() -> dict[str, PieceStatus]:
    """Each piece's registration state in this process."""
    return dict(_status)


install()
