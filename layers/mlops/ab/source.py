"""Read an endpoint's prediction-log objects from an object store as a stream of NDJSON bytes.

Objects are named ``prediction-logs/<endpoint>/<YYYY>/<MM>/<DD>/<HHMMSS>-<seq>.ndjson``. With a
window, whole days are skipped by listing after the day before ``since`` and stopping after the
day after ``until`` (one day of slack either way: an object is named when it is rolled, which
can be after the records it holds were written, and clocks drift); the join then filters
records by their own ``ts``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlops.ab.join import parse_ts
from mlops.names import validate_endpoint_name

LOG_ROOT = "prediction-logs"


class ReadableStore(Protocol):
    """The part of ``mlops.storage.ObjectStore`` this module uses."""

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]: ...

    def get(self, key: str) -> Any: ...  # has .data: bytes


def log_prefix(endpoint: str) -> str:
    """``prediction-logs/<endpoint>/`` for a validated endpoint name."""
    return f"{LOG_ROOT}/{validate_endpoint_name(endpoint)}/"


def _day_of_key(key: str, prefix: str) -> datetime | None:
    parts = key[len(prefix) :].split("/")
    if len(parts) < 4:
        return None
    try:
        return datetime(int(parts[0]), int(parts[1]), int(parts[2]), tzinfo=UTC)
    except ValueError:
        return None


def iter_log_objects(
    store: ReadableStore, endpoint: str, *, since: Any = None, until: Any = None
) -> Iterator[bytes]:
    """Yield the bytes of each prediction-log object of ``endpoint`` that may hold records in the window."""
    prefix = log_prefix(endpoint)
    start_after = None
    since_ts, until_ts = parse_ts(since), parse_ts(until)
    if since_ts is not None:
        first_day = datetime.fromtimestamp(since_ts, UTC) - timedelta(days=1)
        start_after = prefix + first_day.strftime("%Y/%m/%d")
    last_day = None
    if until_ts is not None:
        d = datetime.fromtimestamp(until_ts, UTC) + timedelta(days=1)
        last_day = datetime(d.year, d.month, d.day, tzinfo=UTC)
    for key in store.list(prefix, start_after=start_after):
        if last_day is not None:
            day = _day_of_key(key, prefix)
            if day is not None and day > last_day:
                break
        yield store.get(key).data
