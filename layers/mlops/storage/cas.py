"""JSON documents in an object store, changed only by compare-and-swap, and the one bounded retry loop.

Every mutable record is changed by ``update``: read (with its ETag) -> apply a pure change ->
write with ``if_match`` (or ``if_none_match`` to create), and on a lost race read again and
retry, a bounded number of times. So concurrent writers never overwrite each other's change.
Each write carries a fresh ``write_id``: if the answer to a write is lost after the store applied it
(a dropped connection, or a retry answered 412), ``mlops.storage.base.put_once`` reads the object back
and the identical bytes (same sha256) prove the write was ours: it succeeded, exactly once (issue 13 G).

``retry_lost_races`` is the loop every create-exclusive or CAS writer uses (records, version numbers,
audit entries): an attempt that lost a race raises ``LostRace``, the loop backs off with jitter and
tries again, and after ``attempts`` losses raises the caller's contention error.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops.errors import ConflictError, IntegrityError, NotFoundError, PreconditionFailedError
from mlops.storage.base import JSON_CONTENT_TYPE, ObjectStore, put_once

DEFAULT_ATTEMPTS = 64
T = TypeVar("T")


def dumps(doc: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def loads(key: str, data: bytes, *, store: ObjectStore | None = None) -> dict[str, Any]:
    """Parse a metadata object; anything but a JSON object raises ``IntegrityError`` naming the key."""
    where = f" in {store.url}" if store is not None else ""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(
            f"metadata object {key}{where} is corrupt (not valid JSON: {exc})",
            code="corrupt_metadata",
            details={"key": key},
        ) from None
    if not isinstance(doc, dict):
        raise IntegrityError(
            f"metadata object {key}{where} is corrupt (expected a JSON object)",
            code="corrupt_metadata",
            details={"key": key},
        )
    return doc


@dataclass
class Doc:
    """A metadata object as read: its key, parsed content and ETag."""

    key: str
    data: dict[str, Any]
    etag: str
    raw: bytes


def read(store: ObjectStore, key: str) -> Doc | None:
    """The parsed object, or None when absent; corrupt content raises ``IntegrityError``."""
    try:
        obj = store.get(key)
    except NotFoundError:
        return None
    return Doc(key, loads(key, obj.data, store=store), obj.etag, obj.data)


def read_required(store: ObjectStore, key: str, what: str) -> Doc:
    doc = read(store, key)
    if doc is None:
        raise NotFoundError(f"{what} does not exist", code="not_found")
    return doc


def create(store: ObjectStore, key: str, doc: dict[str, Any]) -> tuple[str, bytes]:
    """Create ``key`` exclusively; ``PreconditionFailedError`` if another writer got there first."""
    doc.setdefault("write_id", uuid.uuid4().hex)
    payload = dumps(doc)
    return put_once(store, key, payload, if_none_match=True, content_type=JSON_CONTENT_TYPE), payload


def backoff(attempt: int, unit_s: float) -> None:
    """Sleep a random time after losing a race: exponential in ``attempt``, with full jitter, in units of
    ``unit_s`` (how long the lost request took), so a fast local disk barely waits and a herd of remote
    writers spreads out over a few round trips."""
    unit = min(max(unit_s, 0.0002), 0.05)
    time.sleep(min(0.25, unit * (2 ** min(attempt, 6))) * random.random())


class LostRace(Exception):
    """Raised by one attempt of ``retry_lost_races`` that lost a race; ``took_s`` is how long the lost
    request took (the unit of the backoff)."""

    def __init__(self, took_s: float):
        super().__init__(f"lost a race after {took_s:.4f} s")
        self.took_s = took_s


def put_or_lose(put: Callable[[], T]) -> T:
    """Run one conditional write; a ``PreconditionFailedError`` becomes ``LostRace`` (timed)."""
    t0 = time.perf_counter()
    try:
        return put()
    except PreconditionFailedError:
        raise LostRace(time.perf_counter() - t0) from None


def retry_lost_races(
    attempt_once: Callable[[int], T], *, attempts: int, exhausted: Callable[[], Exception]
) -> T:
    """Call ``attempt_once(attempt)`` until it returns; each ``LostRace`` backs off (``backoff``) and tries
    again, at most ``attempts`` times in all, then raises ``exhausted()``. Other errors propagate."""
    for attempt in range(attempts):
        try:
            return attempt_once(attempt)
        except LostRace as lost:
            backoff(attempt, lost.took_s)
    raise exhausted()


def update(
    store: ObjectStore,
    key: str,
    change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    what: str = "record",
) -> tuple[dict[str, Any] | None, bool]:
    """Compare-and-swap loop. ``change(current_or_None)`` returns the new document, or None for "no change"
    (it may raise to abort). Returns ``(document now stored, whether we wrote it)``."""

    def once(_attempt: int) -> tuple[dict[str, Any] | None, bool]:
        cur = read(store, key)
        new = change(copy.deepcopy(cur.data) if cur else None)
        if new is None:
            return (cur.data if cur else None), False
        new["write_id"] = uuid.uuid4().hex
        payload = dumps(new)
        if cur is None:
            put_or_lose(
                lambda: put_once(store, key, payload, if_none_match=True, content_type=JSON_CONTENT_TYPE)
            )
        else:
            etag = cur.etag
            put_or_lose(lambda: put_once(store, key, payload, if_match=etag, content_type=JSON_CONTENT_TYPE))
        return new, True

    def too_much() -> ConflictError:
        return ConflictError(
            f"{what} {key} is being changed by too many writers at once; "
            f"gave up after {attempts} attempts, try again",
            code="too_much_contention",
        )

    return retry_lost_races(once, attempts=attempts, exhausted=too_much)
