"""Garbage collection of orphan parts: Parquet objects no committed version references (left by writers that
failed or died before their manifest), made safe against writers running at the same time.

Protocol (the stores are strongly consistent, so a listing sees every object created before it):

- A writer creates ``datasets/<name>/writers/<id>.json`` (its start time) *before* its first part, then checks
  that no collection holds ``datasets/<name>/gc.json``, waiting while one does; it deletes its marker after
  its manifest is committed (or it failed). A writer that dies leaves its marker behind.
- ``collect`` creates ``gc.json`` exclusively, then lists the writer markers: if any started less than
  ``grace_s`` ago, a writer may be running and nothing is deleted. Otherwise it deletes every part that no
  manifest references, and the stale markers, then releases ``gc.json``.

A writer whose marker was created before the collection listed markers stops it; one whose marker came later
checked the lock after it was taken, so it waits for the collection to end before writing a part. ``grace_s``
must exceed the longest write (default: a day).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from mlops.datasets import catalog, keys
from mlops.errors import ConflictError, NotFoundError, PreconditionFailedError
from mlops.storage import cas
from mlops.storage.base import ObjectStore

DEFAULT_GRACE_S = 24 * 3600.0
LOCK_STALE_S = 3600.0  # a collection holding its lock longer than this has died
WAIT_FOR_GC_S = 120.0


def lock_key(name: str) -> str:
    return f"{keys.DATASETS_PREFIX}{keys.dataset_name(name)}/gc.json"


def writers_prefix(name: str) -> str:
    return f"{keys.DATASETS_PREFIX}{keys.dataset_name(name)}/writers/"


def _started(store: ObjectStore, key: str) -> float | None:
    doc = cas.read(store, key)
    value = doc.data.get("started_at") if doc else None
    return float(value) if isinstance(value, (int, float)) else None


def begin_write(
    store: ObjectStore, name: str, clock: Callable[[], float], *, wait_s: float = WAIT_FOR_GC_S
) -> str:
    """Announce a writer (its marker), then wait while a collection runs; returns the marker's key."""
    marker = f"{writers_prefix(name)}{uuid.uuid4().hex}.json"
    cas.create(store, marker, {"started_at": clock()})
    deadline = time.monotonic() + wait_s
    while True:
        started = _started(store, lock_key(name))
        if started is None or clock() - started > LOCK_STALE_S:
            return marker
        if time.monotonic() > deadline:
            end_write(store, marker)
            raise ConflictError(
                f"dataset {name!r} is being garbage-collected; try again", code="dataset_gc_running"
            )
        time.sleep(0.05)


def end_write(store: ObjectStore, marker: str) -> None:
    try:
        store.delete(marker)
    except NotFoundError:
        pass


def _take_lock(store: ObjectStore, name: str, clock: Callable[[], float]) -> None:
    key = lock_key(name)
    for _ in range(2):
        try:
            cas.create(store, key, {"started_at": clock()})
            return
        except PreconditionFailedError:
            held = cas.read(store, key)
            started = held.data.get("started_at") if held else None
            if held is not None and isinstance(started, (int, float)) and clock() - started <= LOCK_STALE_S:
                break
            if held is not None:  # a collection that died: take its lock over
                try:
                    store.delete(key, if_match=held.etag)
                except (NotFoundError, PreconditionFailedError):
                    pass
    raise ConflictError(f"dataset {name!r} is already being garbage-collected", code="dataset_gc_running")


def collect(
    store: ObjectStore, name: str, *, clock: Callable[[], float], grace_s: float = DEFAULT_GRACE_S
) -> dict[str, Any]:
    """Delete the orphan parts of ``name`` unless a writer may be running; returns what it did."""
    keys.dataset_name(name)
    _take_lock(store, name, clock)
    try:
        markers = list(store.list(writers_prefix(name)))
        ages = {m: clock() - (_started(store, m) or 0.0) for m in markers}
        active = [m for m, age in ages.items() if age < grace_s]
        if active:
            return {"dataset": name, "skipped": True, "active_writers": len(active), "deleted_parts": 0}
        referenced = {p["sha256"] for m in catalog.list_versions(store, name) for p in m["parts"]}
        deleted = kept = 0
        for key in list(store.list(keys.parts_prefix(name))):
            if keys.part_of_key(name, key) in referenced:
                kept += 1
                continue
            end_write(store, key)  # a missing object is fine: deleting is idempotent
            deleted += 1
        for marker in markers:
            end_write(store, marker)
        return {
            "dataset": name,
            "skipped": False,
            "deleted_parts": deleted,
            "kept_parts": kept,
            "stale_writers": len(markers),
        }
    finally:
        end_write(store, lock_key(name))
