"""The local-disk object store: atomic writes and compare-and-swap that hold across processes.

Layout under ``root``::

    objects/<key>                 the object bytes (keys map to paths; '/' makes directories)
    .state/locks/<sha256(key)>    one lock file per key ever written (flock), never removed
    .state/tmp/                   staging files, renamed into place

Every write stages the bytes in ``.state/tmp`` (same file system), fsyncs, then, holding an
exclusive ``fcntl.flock`` on the key's lock file, checks the precondition and publishes with
``os.replace`` (or ``os.link`` for create-exclusive, which fails if the name exists). Readers
need no lock: a published file is complete, and an open file stays valid after a replace.
The ETag is the sha256 of the content, so an ETag match means the content is the one the
writer read (compare-and-swap on the value; no inode or mtime-granularity ABA).

Because keys map to paths, a key cannot also be a "directory" of other keys (``a`` and
``a/b`` cannot both exist); such a write raises ``ConflictError``. The registry never does it.

The root directory is created only by explicit set-up (``FileStore(root, create=True)``, which
``mlops local up`` and the quickstart use); ``open_store`` opens with ``create=False``. When the
root is missing - an unmounted disk, a deleted directory - every operation raises
``StoreUnavailableError`` and nothing is written: directories below the root are made one level at
a time (never ``mkdir -p`` across the root), so a writer cannot re-create an empty store beside the
real one and split the data between them (issue 13 F). Files are 0600 and directories 0700: the
store holds prediction logs with the features of real requests.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops.errors import ConflictError, NotFoundError, PreconditionFailedError
from mlops.storage.base import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    StoreUnavailableError,
    check_put_args,
    validate_key,
    validate_prefix,
)

_CHUNK = 1 << 20
FILE_MODE = 0o600
DIR_MODE = 0o700


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class FileStore(ObjectStore):
    """An ``ObjectStore`` in a directory; safe for many threads and processes on one host."""

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True, create: bool = True):
        """``create=True`` is set-up: make the root (and parents) if missing. ``create=False`` (what
        ``open_store`` uses) touches nothing; a missing root makes every operation a 503."""
        self.root = Path(root).expanduser().resolve()
        self.objects = self.root / "objects"
        self._state = self.root / ".state"
        self._locks = self._state / "locks"
        self._tmp = self._state / "tmp"
        self._fsync = fsync
        self.url = f"file:{self.root}"
        if create:
            self.root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            self._layout()

    # ------------------------------------------------------------------ the root and its layout

    def _unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the object store cannot be reached: its directory {self.root} does not exist (a store outage; "
            "it is never re-created implicitly - restore it, or create it with `mlops local up`)"
        )

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise self._unavailable()

    def _mkdir_below_root(self, d: Path) -> None:
        """Make ``d`` (inside the root) one level at a time; the root itself must exist."""
        if d.is_dir():
            return
        cur = self.root
        for part in d.relative_to(self.root).parts:
            cur = cur / part
            try:
                os.mkdir(cur, DIR_MODE)
            except FileExistsError:
                if not cur.is_dir():
                    raise NotADirectoryError(str(cur)) from None
            except FileNotFoundError:
                raise self._unavailable() from None

    def _layout(self) -> None:
        for d in (self.objects, self._locks, self._tmp):
            self._mkdir_below_root(d)

    # ------------------------------------------------------------------ paths and locks

    def _path(self, key: str) -> Path:
        return self.objects.joinpath(*validate_key(key).split("/"))

    def path_of(self, key: str) -> Path:
        """Where an object lives on disk (to point a person at a report or a model card)."""
        return self._path(key)

    @contextmanager
    def _locked(self, key: str):
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()
        try:
            fd = os.open(self._locks / name, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except FileNotFoundError:
            self._layout()  # raises StoreUnavailableError when the root is gone
            fd = os.open(self._locks / name, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _stage(self, data: bytes) -> Path:
        tmp = self._tmp / uuid.uuid4().hex
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileNotFoundError:
            self._layout()  # raises StoreUnavailableError when the root is gone
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self._fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def _current_etag(self, path: Path) -> str | None:
        try:
            return _sha256_file(path)[0]
        except FileNotFoundError:
            return None
        except (IsADirectoryError, NotADirectoryError):
            return None

    # ------------------------------------------------------------------ interface

    def get(self, key: str) -> StoredObject:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._check_root()
            raise NotFoundError(
                f"object {key!r} does not exist in {self.url}", code="object_not_found"
            ) from None
        return StoredObject(key=key, data=data, etag=hashlib.sha256(data).hexdigest())

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            etag, size = _sha256_file(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._check_root()
            return None
        return ObjectInfo(key=key, etag=etag, size=size)

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        prefix = validate_prefix(prefix)
        # Walk only the directory the prefix is certainly inside.
        base_parts = prefix.split("/")[:-1]
        base = self.objects.joinpath(*base_parts) if base_parts else self.objects
        if not base.is_dir():
            self._check_root()
            return iter(())
        keys: list[str] = []
        root_len = len(str(self.objects)) + 1
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = dirpath[root_len:].replace(os.sep, "/") if len(dirpath) >= root_len else ""
            for fn in filenames:
                key = f"{rel_dir}/{fn}" if rel_dir else fn
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    keys.append(key)
        keys.sort()
        return iter(keys)

    def delete(self, key: str, if_match: str | None = None) -> None:
        path = self._path(key)
        with self._locked(key):
            if if_match is not None:
                current = self._current_etag(path)
                if current != if_match:
                    what = "does not exist" if current is None else "has changed"
                    raise PreconditionFailedError(f"delete {key!r}: the object {what} (if-match failed)")
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                self._check_root()
                raise NotFoundError(
                    f"object {key!r} does not exist in {self.url}", code="object_not_found"
                ) from None
            except IsADirectoryError:
                raise NotFoundError(
                    f"object {key!r} does not exist in {self.url}", code="object_not_found"
                ) from None

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> str:
        data = check_put_args(key, data, if_match, if_none_match)
        path = self._path(key)
        etag = hashlib.sha256(data).hexdigest()
        tmp = self._stage(data)
        try:
            try:
                self._mkdir_below_root(path.parent)  # never across a missing root (issue 13 F)
            except (FileExistsError, NotADirectoryError):
                raise ConflictError(
                    f"put {key!r}: a parent of this key is itself an object in {self.url}",
                    code="key_conflict",
                ) from None
            with self._locked(key):
                if if_none_match:
                    try:
                        os.link(tmp, path)  # atomic create-exclusive, even against non-cooperating writers
                    except FileExistsError:
                        raise PreconditionFailedError(
                            f"put {key!r}: the object already exists (if-none-match failed)",
                            details={"retried": False},
                        ) from None
                    except FileNotFoundError:
                        self._check_root()
                        raise
                    if self._fsync:
                        self._fsync_dir(path.parent)
                    return etag
                if if_match is not None:
                    current = self._current_etag(path)
                    if current != if_match:
                        what = "does not exist" if current is None else "has changed"
                        raise PreconditionFailedError(
                            f"put {key!r}: the object {what} (if-match failed)", details={"retried": False}
                        )
                try:
                    os.replace(tmp, path)
                except IsADirectoryError:
                    raise ConflictError(
                        f"put {key!r}: the key is a prefix of other objects in {self.url}",
                        code="key_conflict",
                    ) from None
                except FileNotFoundError:
                    self._check_root()
                    raise
                if self._fsync:
                    self._fsync_dir(path.parent)
                return etag
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError as exc:  # pragma: no cover - some file systems refuse directory fsync
            if exc.errno not in (errno.EINVAL, errno.EBADF):
                raise
        finally:
            os.close(fd)
