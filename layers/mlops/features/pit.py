"""Point-in-time correct training sets: for each labelled event and each feature group, the group's latest
values at or before the event's timestamp, within the group's TTL — never a value from the future.

Semantics (pinned by ``tests/unit/features/test_pit.py`` against a brute-force reference):

- a feature row qualifies for a label at time T if its entity keys are equal and its event time t satisfies
  ``T - ttl <= t <= T`` (both ends included; no TTL means no lower bound);
- of the qualifying rows the one with the latest event time wins; among rows with the *same* event time the
  later-ingested one wins (higher batch number, then later row in the batch input) — deterministic;
- the winning row's values are taken as they are (a null feature stays null; it does not fall back to an
  older row), and a label with no qualifying row gets nulls;
- the output is the labels table, rows in their input order, with the features appended.

How: no join engine. Each group version has a sorted snapshot (``mlops.features.snapshot``): its rows ordered
by (keys, event time) with ties already resolved. A label's entity is looked up among the snapshot's distinct
keys (a hash lookup, ``pyarrow.compute.index_in``), which gives its run of rows; a vectorised binary search over
all labels at once finds in each run the last event time <= T (about log2(longest run) numpy passes); the TTL
is then checked on that one row (if the latest row at or before T is older than T - ttl, every other one is
too). DuckDB's ``ASOF JOIN`` answers the same question but sorts both sides on every call; reading a snapshot
sorted once is about 5x less work (see tests/benchmarks/bench_pit_join.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops.errors import BadRequestError
from mlops.features.engine import arrow_type
from mlops.features.groups import GroupVersion, get_group
from mlops.features.snapshot import build_snapshot
from mlops.storage.base import ObjectStore

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"


def _label_times(labels: Any, column: str) -> Any:
    """The labels' timestamps as int64 microseconds since the epoch (UTC; a naive time means UTC)."""
    import pyarrow as pa

    if column not in labels.column_names:
        raise BadRequestError(f"labels have no timestamp column {column!r}", code="invalid_labels")
    col = labels[column]
    if pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("us"))
    if not pa.types.is_timestamp(col.type):
        raise BadRequestError(
            f"labels column {column!r} must be a timestamp, not {col.type}", code="invalid_labels"
        )
    if col.null_count:
        raise BadRequestError(
            f"labels column {column!r} has {col.null_count} null timestamps", code="invalid_labels"
        )
    tz = col.type.tz or "UTC"
    return col.cast(pa.timestamp("us", tz=tz)).cast(pa.int64())


def _label_keys(labels: Any, gv: GroupVersion) -> dict[str, Any]:
    out = {}
    for key in gv.group.entity_keys:
        if key.name not in labels.column_names:
            raise BadRequestError(
                f"labels lack entity key {key.name!r} of feature group {gv.ref}", code="invalid_labels"
            )
        try:
            out[key.name] = labels[key.name].cast(arrow_type(key.type))
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise BadRequestError(
                f"labels column {key.name!r} cannot be read as {key.type} (key of {gv.ref}): {str(exc)[:120]}",
                code="invalid_labels",
            ) from None
    return out


def _output_names(labels: Any, groups: Sequence[GroupVersion], full: bool) -> list[list[str]]:
    taken = set(labels.column_names)
    names = []
    for gv in groups:
        mine = [f"{gv.group.name}__{f}" if full else f for f in gv.group.feature_names]
        for name in mine:
            if name in taken:
                raise BadRequestError(
                    f"feature {name!r} of {gv.ref} clashes with a label column or another group's feature; "
                    "use full feature names (group__feature)",
                    code="feature_name_clash",
                )
            taken.add(name)
        names.append(mine)
    return names


def _key_codes(labels_keys: dict[str, Any], distinct: Any, names: tuple[str, ...]) -> Any:
    """For each label, the index of its entity among the snapshot's distinct keys (-1: not there)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(names) == 1 and pa.types.is_integer(distinct[names[0]].type):
        codes = _dense_codes(labels_keys[names[0]], distinct[names[0]].to_numpy())
        if codes is not None:
            return codes
    if len(names) == 1:
        codes = pc.index_in(labels_keys[names[0]], value_set=distinct[names[0]])
    else:
        codes = pc.index_in(_joined(labels_keys, names), value_set=_joined(distinct, names))
    return codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _dense_codes(wanted: Any, keys: Any) -> Any:
    """Integer ids that fill their range well (the usual case): a lookup table instead of a hash table."""
    import numpy as np

    low, high = int(keys[0]), int(keys[-1])  # sorted: the snapshot is ordered by its key
    if high - low > 4 * len(keys) + 1024:
        return None
    table = np.full(high - low + 1, -1, dtype=np.int64)
    table[keys - low] = np.arange(len(keys))
    w = wanted.fill_null(low - 1).to_numpy(zero_copy_only=False)
    inside = (w >= low) & (w <= high)
    return np.where(inside, table[np.where(inside, w - low, 0)], -1)


def _joined(cols: Any, names: tuple[str, ...]) -> Any:
    """Several key columns as one unambiguous text key: each value as text, prefixed by its length."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces = []
    for name in names:
        text = pc.cast(cols[name], pa.string())
        length = pc.utf8_lpad(pc.cast(pc.utf8_length(text), pa.string()), width=10, padding="0")
        pieces += [length, text]
    return pc.binary_join_element_wise(*pieces, "")


def _last_at_or_before(times: Any, lo: Any, hi: Any, t: Any) -> Any:
    """For each label, the last index p in [lo, hi) with times[p] <= t, else lo - 1: a bisection of all
    labels at once, each pass over the labels whose interval is not empty yet."""
    import numpy as np

    a, b = lo.copy(), hi.copy()
    idx = np.flatnonzero(a < b)
    while idx.size:
        ai, bi = a[idx], b[idx]
        mid = (ai + bi) >> 1
        later = times[mid] > t[idx]
        ai = np.where(later, ai, mid + 1)
        bi = np.where(later, mid, bi)
        a[idx], b[idx] = ai, bi
        idx = idx[ai < bi]
    return a - 1


def _join_group(store: ObjectStore, labels: Any, times: Any, gv: GroupVersion) -> Any:
    """The group's feature columns for every label row, in label order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    g = gv.group
    keys = _label_keys(labels, gv)
    snap = build_snapshot(store, gv, columns=[*g.key_names, g.event_time, *g.feature_names])
    if snap is None or snap.num_rows == 0:
        return pa.table({f.name: pa.nulls(labels.num_rows, arrow_type(f.type)) for f in g.features})
    n = snap.num_rows
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for name in g.key_names:
        col = snap[name]
        change |= pc.not_equal(col.slice(0, n - 1), col.slice(1)).to_numpy(zero_copy_only=False)
    starts = np.concatenate(([0], np.flatnonzero(change) + 1, [n]))
    distinct = snap.select(list(g.key_names)).take(pa.array(starts[:-1]))
    code = _key_codes(keys, distinct, g.key_names)
    # an unknown entity (code -1) gets the empty run [n, 0): starts[-1] is n and starts[0] is 0
    lo, hi = starts[code], starts[code + 1]
    event_us = snap[g.event_time].cast(pa.int64()).to_numpy()
    label_us = times.to_numpy()
    pos = _last_at_or_before(event_us, lo, hi, label_us)
    hit = pos >= lo
    if g.ttl_us is not None:
        hit &= event_us[pos] >= label_us - g.ttl_us  # pos is a valid index (or -1) even where missed
    return pa.table({f.name: _take(snap[f.name], pos, hit).cast(arrow_type(f.type)) for f in g.features})


def _take(column: Any, pos: Any, hit: Any) -> Any:
    """``column[pos]`` where ``hit``, else null; numbers without nulls are gathered by numpy (faster)."""
    import pyarrow as pa

    kind = column.type
    if column.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return pa.array(column.to_numpy()[pos], type=kind, mask=~hit)
    return column.take(pa.array(pos, mask=~hit))


def training_set(
    store: ObjectStore,
    labels: Any,
    groups: Sequence[str],
    *,
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
    full_feature_names: bool = False,
) -> Any:
    """``labels`` (a pyarrow Table with the groups' entity keys and ``timestamp_column``) with the features of
    ``groups`` (references ``name`` or ``name@n``) joined point-in-time correctly; see the module doc."""
    import pyarrow as pa

    if not isinstance(labels, pa.Table):
        raise BadRequestError("labels must be a pyarrow Table", code="invalid_labels")
    resolved = [get_group(store, ref) for ref in groups]
    names = _output_names(labels, resolved, full_feature_names)
    out = labels
    if labels.num_rows == 0:
        for gv, mine in zip(resolved, names, strict=True):
            for f, name in zip(gv.group.features, mine, strict=True):
                out = out.append_column(name, pa.nulls(0, arrow_type(f.type)))
        return out
    times = _label_times(labels, timestamp_column)
    with ThreadPoolExecutor(max_workers=min(len(resolved), os.cpu_count() or 1) or 1) as pool:
        # numpy and Arrow release the GIL in the heavy parts: the groups are joined side by side
        joined = list(pool.map(lambda gv: _join_group(store, labels, times, gv), resolved))
    for gv, mine, cols in zip(resolved, names, joined, strict=True):
        for f, name in zip(gv.group.features, mine, strict=True):
            out = out.append_column(name, cols[f.name])
    return out
