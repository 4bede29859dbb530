"""Sorted snapshots of a group version: every committed row up to a batch, ordered by (entity keys, event
time), with duplicates at equal (keys, event time) already resolved — the index the point-in-time join reads.

``features/snapshots/<group>/v<n>/upto-<batch:012d>.parquet`` holds the winners of batches 1..batch. Batch
numbers have no gaps (each is latest + 1, created exclusively), so the name says exactly what it holds, and
two builders of the same snapshot write the same rows. A snapshot is built from the newest older snapshot
plus the parts of the batches after it (a merge, not a rebuild), by the first reader that needs it or by
``build_snapshot`` after an ingestion; it is a cache — deleting it loses nothing.
Ties: among rows with equal keys and event time the one with the greatest ``_seq`` (the later batch, then
the later row of the batch input) wins, and only it is kept.
"""

from __future__ import annotations

import re
from typing import Any

from mlops.errors import MlopsError, PreconditionFailedError
from mlops.features.groups import ROOT, GroupVersion
from mlops.features.offline import ROW_BITS, batch_numbers, committed_batches, read_part
from mlops.storage.base import ObjectStore

_SNAP = re.compile(r"/upto-([0-9]{12})\.parquet\Z")


def snapshot_prefix(group: str, version: int) -> str:
    return f"{ROOT}/snapshots/{group}/v{version}/"


def snapshot_key(group: str, version: int, upto: int) -> str:
    return f"{snapshot_prefix(group, version)}upto-{upto:012d}.parquet"


def _snapshots(store: ObjectStore, group: str, version: int) -> list[int]:
    out = []
    for key in store.list(snapshot_prefix(group, version)):
        m = _SNAP.search(key)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def _columns(gv: GroupVersion) -> list[str]:
    g = gv.group
    return [*g.key_names, g.event_time, *g.feature_names]


def _batch_rows(store: ObjectStore, gv: GroupVersion, after: int, upto: int) -> list[Any]:
    """The rows of batches after..upto with their ``_seq``."""
    import numpy as np
    import pyarrow as pa

    tables = []
    for manifest in committed_batches(store, gv.group.name, gv.version):
        batch = int(manifest["batch"])
        if not after < batch <= upto:
            continue
        for part in manifest.get("parts", []):
            t = read_part(store, part["key"], [*_columns(gv), "_row"])
            seq = pa.array((np.int64(batch) << ROW_BITS) | t["_row"].to_numpy(), pa.int64())
            tables.append(t.drop_columns(["_row"]).append_column("_seq", seq))
    return tables


def _resolve_ties(table: Any, gv: GroupVersion) -> Any:
    """Sort by (keys, event time, _seq) and keep the last row of each (keys, event time)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    g = gv.group
    order = [(k, "ascending") for k in g.key_names] + [(g.event_time, "ascending"), ("_seq", "ascending")]
    table = table.sort_by(order)
    n = table.num_rows
    if n < 2:
        return table
    same = np.ones(n - 1, dtype=bool)
    for col in [*g.key_names, g.event_time]:
        c = table[col]
        same &= pc.equal(c.slice(0, n - 1), c.slice(1)).to_numpy(zero_copy_only=False)
    keep = np.append(~same, True)
    return table if keep.all() else table.filter(pa.array(keep))


def build_snapshot(
    store: ObjectStore, gv: GroupVersion, upto: int | None = None, *, columns: list[str] | None = None
) -> Any:
    """The snapshot of batches 1..upto (default: the latest), built and stored if it is not there yet;
    ``columns`` selects what a reader needs of an existing one."""
    import pyarrow as pa

    from mlops.features.offline import parquet_bytes

    name, version = gv.group.name, gv.version
    if upto is None:
        nums = batch_numbers(store, name, version)
        upto = nums[-1] if nums else 0
    if upto == 0:
        return None
    have = [n for n in _snapshots(store, name, version) if n <= upto]
    if have and have[-1] == upto:
        return read_part(store, snapshot_key(name, version, upto), columns)
    tables = [read_part(store, snapshot_key(name, version, have[-1]))] if have else []
    tables += _batch_rows(store, gv, have[-1] if have else 0, upto)
    if not tables:
        return None
    merged = _resolve_ties(pa.concat_tables(tables), gv)
    try:
        store.put(snapshot_key(name, version, upto), parquet_bytes(merged, fast=True), if_none_match=True)
    except PreconditionFailedError:
        pass  # another reader built the same snapshot
    except MlopsError:
        pass  # a read-only store: the snapshot is a cache, the answer stands without it
    return merged if columns is None else merged.select(columns)
