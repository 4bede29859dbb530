"""Where a study lives: an Optuna journal beside its parent run in the run store, and its locks.

::

    runs/<parent_run_id>/study.journal   Optuna's JournalStorage log (one JSON operation a line)
    runs/<parent_run_id>/study.lock      flock: serialises journal appends and "is there budget left? ask"
    runs/<parent_run_id>/run.json        the parent run record, written once when the study ends

The journal is appended to in place, so it needs a store on a local disk (a ``FileStore``); object
stores (s3, oci) are refused with a clear error for now. Locks are ``fcntl.flock`` locks, which the
kernel drops when a process dies: a study killed with SIGKILL leaves no stale lock behind (Optuna's
default symlink lock would block a resume for its 30 s grace period). The command that runs a study
(and its worker processes) also hold a flock on the journal file itself for their whole life, so a
``--resume`` of a study that is still running is refused instead of corrupting it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.storages.journal._file import BaseJournalFileLock

from mlops.errors import BadRequestError, ConflictError
from mlops.runs.store import PREFIX, validate_run_id
from mlops.storage.file import FileStore


def journal_key(parent_run_id: str) -> str:
    return f"{PREFIX}{validate_run_id(parent_run_id)}/study.journal"


def require_file_store(store: Any) -> FileStore:
    """The store, if a study's journal can live in it (a ``FileStore`` whose directory exists)."""
    if not isinstance(store, FileStore):
        raise BadRequestError(
            f"--tune keeps the study's journal beside its runs and needs a store on a local disk; "
            f"{getattr(store, 'url', store)} is not one (s3/oci run stores: not yet supported for --tune)",
            code="tuning_needs_file_store",
        )
    if not store.objects.is_dir():
        raise BadRequestError(f"the run store {store.root} does not exist", code="store_unavailable")
    return store


def study_paths(store: Any, parent_run_id: str) -> tuple[Path, Path]:
    """``(journal, lock)`` file paths of a study in ``store`` (a ``FileStore``)."""
    journal = require_file_store(store).path_of(journal_key(parent_run_id))
    return journal, journal.with_name("study.lock")


class FlockLock(BaseJournalFileLock):
    """A process-reentrant ``flock`` on a file: Optuna's journal lock, and the trial-budget lock.

    Reentrant so that "count the trials, then ask for one" can hold it while ``ask`` appends to the
    journal (which takes it again) in the same process. Not for sharing between threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> bool:
        if self._depth == 0:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        self._depth += 1
        return True

    def release(self) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FlockLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class OwnerLock:
    """Held on the journal file by the command running a study, and by its worker processes, for as long
    as they run: the command takes it exclusively (nobody else is running the study), then, before it
    starts workers, shares it with them. A ``--resume`` therefore fails while the command or any worker it
    left behind is alive."""

    def __init__(self, journal: Path, parent_run_id: str, *, shared: bool = False):
        self.journal = journal
        self.parent_run_id = parent_run_id
        self.shared = shared
        self._fd: int | None = None

    def __enter__(self) -> OwnerLock:
        self.journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.journal, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(
                f"study {self.parent_run_id} is being run by another process; wait for it or stop it first"
            ) from None
        self._fd = fd
        return self

    def share(self) -> None:
        """Let this command's worker processes hold the lock too (exclusive -> shared)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def open_storage(journal: Path, lock: FlockLock) -> JournalStorage:
    """Optuna's ``JournalStorage`` over the journal file, appends serialised by ``lock``."""
    return JournalStorage(JournalFileBackend(str(journal), lock_obj=lock))
