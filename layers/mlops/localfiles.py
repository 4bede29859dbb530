"""Local files that several processes change: an exclusive lock around read-modify-write, atomic replace.

Every read-modify-write of a local file (the secrets file and its key ring, a cloud key-ring file,
alarm state, the runtime's state file) goes through :func:`update_json` or :func:`locked` +
:func:`write_atomic`:

- ``locked(path)`` holds an exclusive ``fcntl.flock`` on the sidecar ``<path>.lock`` (created 0600,
  never removed, so every process locks the same inode); re-entering it in the same thread is a no-op,
  so a locked helper may call another one;
- ``write_atomic(path, data)`` writes a unique temp file in the same directory (``tempfile.mkstemp``),
  sets its mode (0600 by default), fsyncs it, and ``os.replace``s it over ``path``: a reader sees the
  old content or the new, never a torn file, and two writers never share a temp name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
PRIVATE = 0o600
_held = threading.local()


def lock_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".lock")


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (its sidecar ``.lock`` file) for the block."""
    key = os.path.abspath(os.fspath(path))
    held: set[str] = getattr(_held, "paths", None) or set()
    _held.paths = held
    if key in held:  # re-entry from the same thread: already ours
        yield
        return
    lp = lock_path(path)
    lp.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lp, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        os.close(fd)  # closing drops the flock


def write_atomic(path: str | os.PathLike, data: bytes | str, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``data`` atomically through a unique temp file (fsynced, ``mode``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: str | os.PathLike, default: Callable[[], T]) -> Any | T:
    """The JSON document in ``path``, or ``default()`` when the file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return default()
    return json.loads(text)


def update_json(
    path: str | os.PathLike,
    change: Callable[[Any], T],
    *,
    default: Callable[[], Any] = dict,
    mode: int = PRIVATE,
    indent: int | None = 2,
) -> T:
    """Under the file's lock: read the document (``default()`` if missing), let ``change`` modify it in
    place, write it back atomically; returns what ``change`` returned."""
    with locked(path):
        doc = read_json(path, default)
        result = change(doc)
        write_atomic(path, json.dumps(doc, indent=indent), mode)
        return result
