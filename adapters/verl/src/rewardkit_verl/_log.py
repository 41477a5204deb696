"""The adapter's logger, at the level verl's own modules use (``VERL_LOGGING_LEVEL``, INFO by
default), so its messages show in every verl process next to verl's."""

from __future__ import annotations

import logging
import os

__all__ = ["logger"]

logger = logging.getLogger("rewardkit_verl")
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO").upper())
