"""Materialization: the latest row of every entity of a group version, from the offline store into an online
store (``mlops.features.online``), incremental by batch.

The rows come from the group version's sorted snapshot (``mlops.features.snapshot``) up to the latest
committed batch: ordered by (keys, event time) with ties at equal event times already resolved, so the
last row of each entity's run is exactly the row the point-in-time join would pick at any time after it —
the online value and the offline one come from the same rows by the same rules. The online store keeps a
watermark per group version (the last batch materialized); a run writes only the entities that appear in
the batches after it (a late-arriving older row changes nothing: the entity's last row is rewritten as it
is), then moves the watermark. A run that fails before moving it is simply repeated by the next one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlops.features.groups import GroupVersion, get_group
from mlops.features.offline import batch_numbers, committed_batches, read_part
from mlops.features.online import OnlineStore
from mlops.features.snapshot import build_snapshot
from mlops.storage.base import ObjectStore


@dataclass(frozen=True)
class MaterializeResult:
    group: str
    version: int
    from_batch: int  # the watermark before (batches after it were materialized)
    to_batch: int  # the watermark after
    entities_written: int

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


def latest_rows(snapshot: Any, gv: GroupVersion) -> Any:
    """The last row of each entity's run in a sorted snapshot (its latest event time, ties resolved)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = snapshot.num_rows
    if n == 0:
        return snapshot
    last = np.ones(n, dtype=bool)
    if n > 1:
        change = np.zeros(n - 1, dtype=bool)
        for name in gv.group.key_names:
            col = snapshot[name]
            change |= pc.not_equal(col.slice(0, n - 1), col.slice(1)).to_numpy(zero_copy_only=False)
        last[:-1] = change
    return snapshot.filter(pa.array(last))


def _touched_keys(store: ObjectStore, gv: GroupVersion, after: int, upto: int) -> Any:
    """The distinct entity keys of the committed batches after..upto."""
    import pyarrow as pa

    keys = list(gv.group.key_names)
    tables = []
    for manifest in committed_batches(store, gv.group.name, gv.version):
        if after < int(manifest["batch"]) <= upto:
            tables += [read_part(store, part["key"], keys) for part in manifest.get("parts", [])]
    if not tables:
        return None
    return pa.concat_tables(tables).group_by(keys).aggregate([])


def materialize(store: ObjectStore, online: OnlineStore, group: str) -> MaterializeResult:
    """Bring ``online`` up to the latest committed batch of ``group`` (``name`` or ``name@n``)."""
    gv = get_group(store, group)
    g = gv.group
    nums = batch_numbers(store, g.name, gv.version)
    upto = nums[-1] if nums else 0
    before = online.watermark(gv)
    if upto <= before:
        return MaterializeResult(g.name, gv.version, before, before, 0)
    snap = build_snapshot(store, gv, upto, columns=[*g.key_names, g.event_time, *g.feature_names])
    rows = latest_rows(snap, gv) if snap is not None else None
    if rows is not None and before > 0:
        touched = _touched_keys(store, gv, before, upto)
        rows = None if touched is None else rows.join(touched, list(g.key_names), join_type="inner")
    written = online.write(gv, rows) if rows is not None else 0
    online.set_watermark(gv, upto)
    return MaterializeResult(g.name, gv.version, before, upto, written)
