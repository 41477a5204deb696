"""Versioned, atomically written state files for stateful components."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rewardkit._errors import StateError

__all__ = ["STATE_FORMAT_VERSION", "read_state_file", "write_state_file"]

STATE_FORMAT_VERSION = 1
_MAGIC = "rewardkit-state"


def write_state_file(path: str | os.PathLike[str], *, kind: str, payload: Any) -> None:
    """Write ``payload`` as JSON with a header, atomically: temporary file, fsync, rename.

    A crash mid-write leaves the previous file intact, never a truncated one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": _MAGIC, "version": STATE_FORMAT_VERSION, "kind": kind, "payload": payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_state_file(path: str | os.PathLike[str], *, kind: str) -> Any:
    """Read a file written by :func:`write_state_file` for the same ``kind``.

    Raises :class:`StateError` for a missing, corrupt, foreign or newer-version file.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateError(f"state file not found: {p}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"state file {p} is corrupt: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != _MAGIC:
        raise StateError(f"{p} is not a rewardkit state file")
    if doc.get("version") != STATE_FORMAT_VERSION:
        raise StateError(
            f"state file {p} has format version {doc.get('version')!r}; this rewardkit reads version {STATE_FORMAT_VERSION}"
        )
    if doc.get("kind") != kind:
        raise StateError(f"state file {p} holds {doc.get('kind')!r} state, not {kind!r}")
    return doc.get("payload")
