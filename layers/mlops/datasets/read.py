"""Reading a dataset version: every part's bytes are checked against the manifest's sha256 before Parquet
parses them, so a damaged or swapped object is refused (``IntegrityError``), never read as data.

``read_table`` returns the whole version (optionally a column subset and a row filter, pushed down into
the Parquet reader); ``scan`` streams it part by part as a ``RecordBatchReader`` (memory bounded by one
part), which DuckDB queries directly: ``duckdb.from_arrow(reader)``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mlops.datasets import keys
from mlops.errors import BadRequestError, IntegrityError, NotFoundError
from mlops.storage.base import ObjectStore

if TYPE_CHECKING:
    import pyarrow as pa

PARALLEL_FETCHES = 8


def arrow_schema(manifest: Mapping[str, Any]) -> pa.Schema:
    """The version's exact Arrow schema (stored in the manifest as Arrow IPC bytes, base64)."""
    import pyarrow as pa

    try:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))
    except (KeyError, TypeError, ValueError, pa.ArrowInvalid) as exc:
        raise IntegrityError(
            f"dataset {manifest.get('ref')}: its manifest's Arrow schema is unreadable ({exc})",
            code="corrupt_metadata",
        ) from None


def part_bytes(store: ObjectStore, name: str, part: Mapping[str, Any]) -> bytes:
    """One part's bytes, verified against its sha256 (and size) from the manifest."""
    key = keys.part_key(name, part["sha256"])
    try:
        data = store.get(key).data
    except NotFoundError:
        raise IntegrityError(
            f"dataset {name}: part {key} is missing from {store.url}",
            code="dataset_part_missing",
            details={"key": key},
        ) from None
    if len(data) != part.get("size", len(data)) or hashlib.sha256(data).hexdigest() != part["sha256"]:
        raise IntegrityError(
            f"dataset {name}: part {key} does not match its sha256 (damaged or replaced); refusing to read it",
            code="dataset_part_corrupt",
            details={"key": key},
        )
    return data


def _columns(schema: pa.Schema, columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise BadRequestError("columns must be a list of column names", code="invalid_columns")
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise BadRequestError(
            f"unknown column {unknown[0]!r} (columns: {', '.join(schema.names[:20])})", code="unknown_column"
        )
    return list(columns)


def _parse(data: bytes, schema: pa.Schema, columns: list[str] | None, filter: Any) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data), columns=columns, filters=filter, schema=schema)
    return table


def _selected(schema: pa.Schema, columns: list[str] | None) -> pa.Schema:
    import pyarrow as pa

    return schema if columns is None else pa.schema([schema.field(c) for c in columns])


def read_table(
    store: ObjectStore,
    manifest: Mapping[str, Any],
    columns: Sequence[str] | None = None,
    filter: Any = None,
) -> pa.Table:
    """The version as one Table (parts fetched in parallel from a remote store, each verified)."""
    import pyarrow as pa

    schema = arrow_schema(manifest)
    cols = _columns(schema, columns)
    name, parts = manifest["name"], manifest["parts"]

    def load(part: Mapping[str, Any]) -> pa.Table:
        return _parse(part_bytes(store, name, part), schema, cols, filter)

    if len(parts) > 1 and type(store).__name__ != "FileStore":
        with ThreadPoolExecutor(max_workers=PARALLEL_FETCHES, thread_name_prefix="dataset-read") as pool:
            tables = list(pool.map(load, parts))
    else:
        tables = [load(p) for p in parts]
    if not tables:
        return _selected(schema, cols).empty_table()
    return pa.concat_tables(tables)


def scan(
    store: ObjectStore,
    manifest: Mapping[str, Any],
    columns: Sequence[str] | None = None,
    filter: Any = None,
) -> pa.RecordBatchReader:
    """The version as a stream of record batches, one verified part at a time."""
    import pyarrow as pa

    schema = arrow_schema(manifest)
    cols = _columns(schema, columns)
    out_schema = _selected(schema, cols)
    name = manifest["name"]

    def batches() -> Iterator[pa.RecordBatch]:
        for part in manifest["parts"]:
            table = _parse(part_bytes(store, name, part), schema, cols, filter)
            yield from table.cast(out_schema).to_batches()

    return pa.RecordBatchReader.from_batches(out_schema, batches())
