"""Writing a dataset version: Arrow batches -> content-addressed Parquet parts -> the manifest (commit point).

The input (a ``pyarrow.Table``, ``RecordBatch`` or ``RecordBatchReader``) is streamed: rows are cut into
parts of exactly ``rows_per_part`` rows (the last one shorter), each part is encoded as one Parquet object
(zstd, row groups of ``row_group_rows`` rows, column statistics) and stored under its sha256, so memory is
bounded by about two parts whatever the input size (one being encoded, one being uploaded). The cut does
not depend on how the input happens to be chunked, so equal data gives equal parts and an equal digest.

Nothing is visible until the version manifest is created exclusively (``allocate``): a writer that dies
before that leaves only orphan parts, never a half version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlops.datasets import keys
from mlops.errors import BadRequestError, UnprocessableError
from mlops.storage.base import ObjectStore

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_ROWS_PER_PART = 1 << 20
# One row group per part (pyarrow's default size; ~50 MB of zstd for 10 numeric columns): statistics still
# let a filter skip whole parts, and 512Ki-row groups cost 25% more write time (bench_datasets.py).
DEFAULT_ROW_GROUP_ROWS = 1 << 20
COMPRESSION = "zstd"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
DIGEST_FORMAT = "mlops-dataset/1"
_EPOCH = datetime(1970, 1, 1)


@dataclass
class Facts:
    """What the writer learns while streaming: rows, per-column nulls, the event-time range, the parts."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    time_min: int | None = None
    time_max: int | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)


def input_batches(data: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema (without schema-level metadata) and batches of a Table, RecordBatch or RecordBatchReader."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data.schema.remove_metadata(), iter(data.to_batches())
    if isinstance(data, pa.RecordBatch):
        return data.schema.remove_metadata(), iter([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.schema.remove_metadata(), iter(data)
    raise BadRequestError(
        f"a dataset is written from a pyarrow Table, RecordBatch or RecordBatchReader, not {type(data).__name__}",
        code="invalid_dataset_input",
    )


def check_schema(schema: pa.Schema, entity_keys: list[str], event_time: str) -> None:
    """Column names unique and non-empty; entity keys and the event-time column exist; event time is a
    timestamp. Each mistake is a 422 naming the column."""
    import pyarrow as pa

    names = schema.names
    if not names:
        raise UnprocessableError("a dataset needs at least one column", code="invalid_schema")
    seen: set[str] = set()
    for n in names:
        if not n or n in seen:
            raise UnprocessableError(f"column name {n!r} is empty or repeated", code="invalid_schema")
        seen.add(n)
    for k in entity_keys:
        if k not in seen:
            raise UnprocessableError(f"entity key {k!r} is not a column", code="unknown_column")
    if len(set(entity_keys)) != len(entity_keys):
        raise UnprocessableError("entity keys are repeated", code="invalid_schema")
    if event_time not in seen:
        raise UnprocessableError(f"event-time column {event_time!r} is not a column", code="unknown_column")
    if not pa.types.is_timestamp(schema.field(event_time).type):
        raise UnprocessableError(
            f"event-time column {event_time!r} is {schema.field(event_time).type}, not a timestamp",
            code="invalid_event_time",
        )


def parts_of(batches: Iterator[pa.RecordBatch], rows_per_part: int) -> Iterator[list[pa.RecordBatch]]:
    """The batches regrouped into parts of exactly ``rows_per_part`` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    have = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(rows_per_part - have, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            have += take
            offset += take
            if have == rows_per_part:
                yield pending
                pending, have = [], 0
    if have:
        yield pending


def observe(facts: Facts, batches: list[pa.RecordBatch], event_time: str) -> None:
    """Count rows and nulls, widen the event-time range (as integers in the column's unit)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in batches:
        facts.rows += batch.num_rows
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            facts.nulls[name] = facts.nulls.get(name, 0) + column.null_count
        ts = batch.column(batch.schema.get_field_index(event_time)).cast(pa.int64())
        mm = pc.min_max(ts)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is not None:
            facts.time_min = lo if facts.time_min is None else min(facts.time_min, lo)
            facts.time_max = hi if facts.time_max is None else max(facts.time_max, hi)


def encode_part(schema: pa.Schema, batches: list[pa.RecordBatch], row_group_rows: int) -> bytes:
    """One part as Parquet bytes: contiguous columns, zstd, fixed-size row groups, statistics."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_batches(batches, schema=schema)
    if len(batches) > 1:  # contiguous columns: the bytes must not depend on how the input was chunked
        table = table.combine_chunks()
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=row_group_rows, compression=COMPRESSION, write_statistics=True)
    return sink.getvalue().to_pybytes()


def write_parts(
    store: ObjectStore,
    name: str,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    event_time: str,
    *,
    rows_per_part: int,
    row_group_rows: int,
) -> Facts:
    """Encode and upload every part (upload of part i overlaps encoding of part i+1); returns the facts."""
    facts = Facts(nulls={n: 0 for n in schema.names})
    uploading: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-part") as pool:
        for group in parts_of(batches, rows_per_part):
            observe(facts, group, event_time)
            data = encode_part(schema, group, row_group_rows)
            sha = hashlib.sha256(data).hexdigest()
            facts.parts.append({"sha256": sha, "size": len(data), "rows": sum(b.num_rows for b in group)})
            if uploading is not None:
                uploading.result()  # at most one part waits in memory while the next is encoded
            key = keys.part_key(name, sha)
            uploading = pool.submit(_put_part, store, key, data)
        if uploading is not None:
            uploading.result()
    return facts


def _put_part(store: ObjectStore, key: str, data: bytes) -> None:
    # A plain put: the key is the content's sha256, so an existing object can only hold the same bytes
    # (or damaged ones, which this repairs); concurrent writers of equal parts write equal bytes.
    store.put(key, data, content_type=PARQUET_CONTENT_TYPE)


def dataset_digest(
    columns: list[dict[str, Any]], entity_keys: list[str], event_time: str, part_digests: list[str]
) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, no spaces, UTF-8) of::

        {"format": "mlops-dataset/1", "columns": [[name, arrow type, nullable], ...],
         "entity_keys": [...], "event_time": "...", "parts": ["<part sha256>", ...]}

    Parts in order, columns in schema order: equal data written with equal ``rows_per_part`` (and the same
    Parquet writer version) has an equal digest; a changed value, type, order or key changes it."""
    from mlops.storage.cas import dumps

    doc = {
        "format": DIGEST_FORMAT,
        "columns": [[c["name"], c["type"], c["nullable"]] for c in columns],
        "entity_keys": list(entity_keys),
        "event_time": event_time,
        "parts": list(part_digests),
    }
    return "sha256:" + hashlib.sha256(dumps(doc)).hexdigest()


def time_iso(value: int | None, ts_type: pa.DataType) -> str | None:
    """An event time (an integer in the column's unit) as ISO 8601 with microseconds: ``Z`` for a zoned
    column (stored as UTC), no suffix for a naive one."""
    if value is None:
        return None
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[ts_type.unit]
    dt = _EPOCH + timedelta(microseconds=value * 1_000_000 // per_second)
    if ts_type.tz:
        return dt.replace(tzinfo=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return dt.isoformat(timespec="microseconds")


def schema_facts(schema: pa.Schema, facts: Facts) -> list[dict[str, Any]]:
    """Per column: name, Arrow type (its string form), nullability and null count."""
    return [
        {
            "name": f.name,
            "type": str(f.type),
            "nullable": f.nullable,
            "null_count": facts.nulls.get(f.name, 0),
        }
        for f in schema
    ]
