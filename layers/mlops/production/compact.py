"""Compaction: an endpoint's JSON-line log objects of one day -> Parquet partitions, once per line.

Sources are the objects ``prediction-logs/<endpoint>/<YYYY>/<MM>/<DD>/...`` (locally written by the log
shipper; in the cloud the drift function copies each Service Connector object there, so both read the same).
The day of a partition is the day in the *object's* name (when it was rolled), not the records' ``ts``: an
object rolled just after midnight holds records of the day before, so readers take one day of slack and
filter on ``ts`` (``mlops.production.labelled`` does).

A compaction batch writes ``compacted/<endpoint>/date=YYYY-MM-DD/{predictions,feedback}-<sha256>.parquet``
(content-addressed, zstd) and then commits by creating ``.../batch-<n>.json`` exclusively (if-none-match):
the manifest lists the source objects it covers, the files, and the counts. Re-running finds every source
already covered and writes nothing. Objects that arrive later for the same day become batch ``n+1`` with
only the new sources. Two compactors racing both try batch ``n+1``; the loser re-reads the manifests and
compacts what is still uncovered, so every source object is in exactly one batch: no line is lost or counted
twice. Files of a lost race are orphans no manifest names; readers only read files a manifest names.

Memory is bounded: objects are read one at a time and rows are written in chunks of ``chunk_rows`` to a
Parquet file cut at ``rows_per_file`` rows (a new file also starts when the feature columns change).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlops.errors import BadRequestError, ConflictError, NotFoundError, PreconditionFailedError
from mlops.logrecords import iter_log_records
from mlops.names import validate_endpoint_name
from mlops.production.rows import FEEDBACK_FIELDS, PREDICTION_FIELDS, Batch, ts_ms
from mlops.storage.base import ObjectStore, put_once

LOG_ROOT = "prediction-logs"
COMPACTED_ROOT = "compacted"
MANIFEST_FORMAT = "mlops-compaction/1"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
DEFAULT_ROWS_PER_FILE = 1 << 20
DEFAULT_CHUNK_ROWS = 1 << 16
MAX_ATTEMPTS = 20
KINDS = ("predictions", "feedback")


def parse_day(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadRequestError(f"day {value!r} is not YYYY-MM-DD", code="invalid_day") from None


def log_day_prefix(endpoint: str, day: date) -> str:
    return f"{LOG_ROOT}/{validate_endpoint_name(endpoint)}/{day:%Y/%m/%d}/"


def partition_prefix(endpoint: str, day: date) -> str:
    return f"{COMPACTED_ROOT}/{validate_endpoint_name(endpoint)}/date={day:%Y-%m-%d}/"


def log_days(store: ObjectStore, endpoint: str) -> list[date]:
    """Every day that has log objects of ``endpoint``, ascending."""
    prefix = f"{LOG_ROOT}/{validate_endpoint_name(endpoint)}/"
    days: list[date] = []
    for key in store.list(prefix):
        parts = key[len(prefix) :].split("/")
        try:
            day = date(int(parts[0]), int(parts[1]), int(parts[2]))
        except (ValueError, IndexError):
            continue
        if not days or days[-1] != day:
            days.append(day)
    return days


def manifests(store: ObjectStore, endpoint: str, day: date) -> list[dict[str, Any]]:
    """The committed batch manifests of one endpoint-day, in batch order."""
    out = []
    for key in store.list(partition_prefix(endpoint, day) + "batch-"):
        if key.endswith(".json"):
            try:
                out.append(json.loads(store.get(key).data))
            except NotFoundError:
                continue
    return sorted(out, key=lambda m: m["batch"])


@dataclass
class Counts:
    predictions: int = 0
    feedback: int = 0
    with_features: int = 0
    lines_skipped: int = 0  # not a record, no prediction_id, no usable ts
    other_endpoint: int = 0


@dataclass
class CompactResult:
    endpoint: str
    day: str
    batch: int | None  # None: nothing new to compact
    manifest: str | None
    sources: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    files: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "counts": dict(self.counts.__dict__)}


class _Sink:
    """Parquet files of one kind, cut at ``rows_per_file`` or when the schema changes."""

    def __init__(self, store: ObjectStore, prefix: str, kind: str, rows_per_file: int):
        self.store, self.prefix, self.kind, self.rows_per_file = store, prefix, kind, rows_per_file
        self.files: list[dict[str, Any]] = []
        self._buf: io.BytesIO | None = None
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is not None and table.schema != self._schema:
            self.finish()
        if self._writer is None:
            self._buf = io.BytesIO()
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._buf, table.schema, compression="zstd")
        self._writer.write_table(table)
        self._rows += table.num_rows
        if self._rows >= self.rows_per_file:
            self.finish()

    def finish(self) -> None:
        if self._writer is None or self._buf is None:
            return
        self._writer.close()
        data = self._buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        key = f"{self.prefix}{self.kind}-{sha}.parquet"
        try:
            self.store.put(key, data, if_none_match=True, content_type=PARQUET_CONTENT_TYPE)
        except PreconditionFailedError:
            pass  # content-addressed: an equal file is already there
        self.files.append(
            {"key": key, "kind": self.kind, "rows": self._rows, "sha256": sha, "size": len(data)}
        )
        self._writer, self._buf, self._rows = None, None, 0


def _records(store: ObjectStore, sources: list[str]) -> Iterator[dict[str, Any]]:
    for key in sources:  # one object in memory at a time
        try:
            data = store.get(key).data
        except NotFoundError:
            continue  # expired by the lifecycle rule between list and get: it is still named as covered
        yield from iter_log_records(data)


def _write_batch(
    store: ObjectStore, endpoint: str, day: date, sources: list[str], rows_per_file: int, chunk_rows: int
) -> tuple[list[dict[str, Any]], Counts]:
    prefix = partition_prefix(endpoint, day)
    sinks = {k: _Sink(store, prefix, k, rows_per_file) for k in KINDS}
    batches = {"predictions": Batch(PREDICTION_FIELDS), "feedback": Batch(FEEDBACK_FIELDS)}
    counts = Counts()
    for r in _records(store, sources):
        kind, pid, ts = r.get("kind"), r.get("prediction_id"), ts_ms(r.get("ts"))
        if kind not in ("prediction", "feedback") or not isinstance(pid, str) or not pid or ts is None:
            counts.lines_skipped += 1
            continue
        if r.get("endpoint") not in (None, endpoint):
            counts.other_endpoint += 1
            continue
        if kind == "prediction":
            b = batches["predictions"]
            b.add_prediction(r, pid, ts)
            counts.predictions += 1
            counts.with_features += bool(b.cols["has_features"][-1])
            name = "predictions"
        else:
            batches["feedback"].add_feedback(r, pid, ts)
            counts.feedback += 1
            name = "feedback"
        if batches[name].rows >= chunk_rows:
            sinks[name].write(batches[name].table())
            batches[name] = Batch(PREDICTION_FIELDS if name == "predictions" else FEEDBACK_FIELDS)
    for name, b in batches.items():
        if b.rows:
            sinks[name].write(b.table())
        sinks[name].finish()
    return [f for k in KINDS for f in sinks[k].files], counts


def compact(
    store: ObjectStore,
    endpoint: str,
    day: str | date,
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: str | None = None,
) -> CompactResult:
    """Compact the log objects of ``endpoint`` on ``day`` that no batch covers yet (see the module doc)."""
    d = parse_day(day)
    prefix = partition_prefix(endpoint, d)
    for _attempt in range(MAX_ATTEMPTS):
        existing = manifests(store, endpoint, d)
        covered = {s for m in existing for s in m["sources"]}
        new = [k for k in store.list(log_day_prefix(endpoint, d)) if k not in covered]
        if not new:
            return CompactResult(endpoint, d.isoformat(), None, None)
        files, counts = _write_batch(store, endpoint, d, new, rows_per_file, chunk_rows)
        n = max((m["batch"] for m in existing), default=0) + 1
        key = f"{prefix}batch-{n:06d}.json"
        doc = {
            "format": MANIFEST_FORMAT,
            "endpoint": endpoint,
            "day": d.isoformat(),
            "batch": n,
            "sources": new,
            "files": files,
            "counts": dict(counts.__dict__),
            "created_at": now or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        try:
            put_once(
                store,
                key,
                json.dumps(doc, separators=(",", ":")).encode(),
                if_none_match=True,
                content_type="application/json",
            )
        except PreconditionFailedError:
            continue  # another compactor committed batch n: re-read what it covers and try n + 1
        return CompactResult(endpoint, d.isoformat(), n, key, new, counts, files)
    raise ConflictError(
        f"could not commit a compaction batch of {endpoint} {d} after {MAX_ATTEMPTS} attempts",
        code="too_much_contention",
    )


def compact_all(store: ObjectStore, endpoint: str, **options: Any) -> list[CompactResult]:
    """``compact`` every day that has log objects (days already covered write nothing)."""
    return [compact(store, endpoint, d, **options) for d in log_days(store, endpoint)]
