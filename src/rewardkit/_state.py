"""Versioned, atomically written state files for stateful components.

A state file is one JSON object: ``{"format": "rewardkit-state", "version": 1, "kind": ...,
"payload": ...}``. Reading checks every header field's type (``version`` must be a JSON integer,
never ``true`` or ``1.0``) and refuses a file larger than a size cap before reading it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from rewardkit._errors import StateError

__all__ = [
    "DEFAULT_MAX_STATE_BYTES",
    "STATE_FORMAT_VERSION",
    "read_state_file",
    "write_state_file",
]

STATE_FORMAT_VERSION = 1
_MAGIC = "rewardkit-state"

#: Largest state file read by default (256 MiB); ``max_state_file_mb`` in a config changes it.
DEFAULT_MAX_STATE_BYTES = 256 * 2**20


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


#: A file larger than this must name its format within its first this-many bytes (the writer
#: puts the header first), so a large file of junk is refused without being read whole.
_HEAD_BYTES = 4096


def _read_capped(p: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing one over ``max_bytes`` before reading it (and never reading
    more than ``max_bytes + 1`` bytes of something that grows or is no regular file)."""
    too_big = (
        f"state file {p} is larger than the {max_bytes:,}-byte limit (raise "
        "max_state_file_mb in the config if it is genuine)"
    )
    # Opened without blocking, so a named pipe with no writer is refused instead of hanging.
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    info = os.fstat(fd)
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        os.close(fd)
        raise StateError(f"state file {p} is a named pipe or socket, not a file")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        if stat.S_ISDIR(info.st_mode):
            raise StateError(f"state file {p} is a folder")
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise StateError(too_big)
        head = fh.read(min(_HEAD_BYTES, max_bytes + 1))
        if len(head) == _HEAD_BYTES and _MAGIC.encode() not in head:
            raise StateError(
                f"{p} is not a rewardkit state file (no {_MAGIC!r} header in its first "
                f"{_HEAD_BYTES} bytes)"
            )
        data = head + fh.read(max_bytes + 1 - len(head))
    if len(data) > max_bytes:
        raise StateError(too_big)
    return data


def read_state_file(
    path: str | os.PathLike[str], *, kind: str, max_bytes: int = DEFAULT_MAX_STATE_BYTES
) -> Any:
    """Read a file written by :func:`write_state_file` for the same ``kind``.

    Raises :class:`StateError` for a missing, oversized, corrupt, foreign or other-version file
    and for a header whose fields have the wrong JSON types. The payload is returned as read;
    its shape is the caller's to check.
    """
    p = Path(path)
    try:
        raw = _read_capped(p, max_bytes)
        doc = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise StateError(f"state file not found: {p}") from None
    except StateError:
        raise
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError
        raise StateError(f"state file {p} is corrupt: {type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != _MAGIC:
        raise StateError(f"{p} is not a rewardkit state file")
    version = doc.get("version")
    if type(version) is not int:  # bool and float are no version numbers
        raise StateError(
            f"state file {p} is corrupt: 'version' must be an integer, got {version!r}"
        )
    if version != STATE_FORMAT_VERSION:
        raise StateError(
            f"state file {p} has format version {version!r}; this rewardkit reads version "
            f"{STATE_FORMAT_VERSION}"
        )
    if not isinstance(doc.get("kind"), str):
        raise StateError(f"state file {p} is corrupt: 'kind' must be a string")
    if doc["kind"] != kind:
        raise StateError(f"state file {p} holds {doc['kind']!r} state, not {kind!r}")
    if "payload" not in doc:
        raise StateError(f"state file {p} is corrupt: it has no 'payload'")
    return doc["payload"]
