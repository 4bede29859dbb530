"""The offline store: Parquet parts per group version and event date, made visible by batch manifests.

Layout (keys in the stack's object store)::

    features/offline/<group>/v<n>/date=YYYY-MM-DD/part-<sha256>.parquet     good rows, named by content
    features/quarantine/<group>/v<n>/part-<sha256>.parquet                 bad rows with _reason
    features/batches/<group>/v<n>/<batch:012d>.json                        one manifest per ingestion

A batch's parts are written first; its manifest is then created exclusively with the next free batch
number. Readers list manifests only, so a crashed ingestion leaves unreferenced parts, never a half batch.
The batch number orders ingestions: a row's ``_seq`` is ``batch << 32 | row`` (its row in the batch input),
which is how duplicates at equal event times are resolved (the later-ingested row wins).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from mlops.errors import IntegrityError
from mlops.features.groups import ROOT
from mlops.storage import cas
from mlops.storage.base import ObjectStore

ROW_BITS = 32
MAX_BATCH_ROWS = 2**ROW_BITS - 1


def offline_prefix(group: str, version: int) -> str:
    return f"{ROOT}/offline/{group}/v{version}/"


def quarantine_prefix(group: str, version: int) -> str:
    return f"{ROOT}/quarantine/{group}/v{version}/"


def batches_prefix(group: str, version: int) -> str:
    return f"{ROOT}/batches/{group}/v{version}/"


def batch_key(group: str, version: int, batch: int) -> str:
    return f"{batches_prefix(group, version)}{batch:012d}.json"


def batch_numbers(store: ObjectStore, group: str, version: int) -> list[int]:
    out = []
    for key in store.list(batches_prefix(group, version)):
        stem = key.rsplit("/", 1)[-1].removesuffix(".json")
        if stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def committed_batches(store: ObjectStore, group: str, version: int) -> Iterator[dict[str, Any]]:
    """The manifests of the committed batches, in batch order."""
    for n in batch_numbers(store, group, version):
        doc = cas.read(store, batch_key(group, version, n))
        if doc is not None:
            yield doc.data


def parquet_bytes(table: Any, *, fast: bool = False) -> bytes:
    """Parquet bytes: zstd for the parts; ``fast`` (snapshots, read by every join) trades size for decoding
    speed: no compression, plain encoding, large row groups (half the CPU of lz4 to read)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    if fast:
        pq.write_table(table, buf, compression="none", use_dictionary=False, row_group_size=1 << 22)
    else:
        pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def read_part(store: ObjectStore, key: str, columns: list[str] | None = None) -> Any:
    """One Parquet part as a pyarrow Table (a file store's part is read from disk in place)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path_of = getattr(store, "path_of", None)
    if path_of is not None:
        try:
            return pq.read_table(path_of(key), columns=columns, memory_map=True)
        except FileNotFoundError:
            raise _missing(store, key) from None
    return pq.read_table(pa.BufferReader(store.get(key).data), columns=columns)


def _missing(store: ObjectStore, key: str) -> IntegrityError:
    return IntegrityError(
        f"offline part {key} of a committed batch is missing from {store.url}", code="part_missing"
    )


def read_offline(
    store: ObjectStore,
    group: str,
    version: int,
    columns: list[str],
    *,
    start_us: int | None = None,
    end_us: int | None = None,
) -> Any:
    """The committed rows of a group version (``columns`` plus ``_seq``), only from parts whose event times
    may fall in ``[start_us, end_us]``; rows outside it may still be returned (the join bounds them)."""
    import numpy as np
    import pyarrow as pa

    tables = []
    for manifest in committed_batches(store, group, version):
        batch = int(manifest["batch"])
        for part in manifest.get("parts", []):
            if start_us is not None and part["max_event_us"] < start_us:
                continue
            if end_us is not None and part["min_event_us"] > end_us:
                continue
            t = read_part(store, part["key"], [*columns, "_row"])
            seq = pa.array((np.int64(batch) << ROW_BITS) | t["_row"].to_numpy(), pa.int64())
            tables.append(t.drop_columns(["_row"]).append_column("_seq", seq))
    if not tables:
        return None
    return pa.concat_tables(tables)


def batch_summary(store: ObjectStore, group: str, version: int) -> dict[str, Any]:
    """Counts over the committed batches of a group version (for ``mlops features list|show``)."""
    out: dict[str, Any] = {
        "batches": 0,
        "rows": 0,
        "quarantined": 0,
        "last_ingested_at": None,
        "dates": set(),
    }
    for m in committed_batches(store, group, version):
        out["batches"] += 1
        out["rows"] += int(m.get("rows_ok", 0))
        out["quarantined"] += int(m.get("rows_quarantined", 0))
        out["last_ingested_at"] = m.get("ingested_at")
        out["dates"].update(p["date"] for p in m.get("parts", []))
    dates = sorted(out.pop("dates"))
    out["first_date"], out["last_date"] = (dates[0], dates[-1]) if dates else (None, None)
    return out
