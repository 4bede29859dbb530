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

How: DuckDB's ``ASOF LEFT JOIN`` (one per group) over the committed Parquet parts read as Arrow. ASOF keeps,
for each left row, the right row with the greatest inequality value ``<=`` the left's; on ties it picks any.
So the inequality is made total: the right side's value is ``event_us * 2^64 + _seq`` (a HUGEINT; ``_seq``
is the ingestion order, below 2^63) and the label's is ``T_us * 2^64 + 2^64 - 1``: the greatest right value
not above it is the latest event time <= T, and at that time the greatest ``_seq``. The TTL is applied to the
one winner (if the latest row at or before T is older than T - ttl, every other one is too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlops.errors import BadRequestError
from mlops.features.engine import arrow_type, connect, quote
from mlops.features.groups import GroupVersion, get_group
from mlops.features.offline import read_offline
from mlops.storage.base import ObjectStore

_SHIFT = 2**64
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


def _join_sql(gv: GroupVersion, lo_us: int | None, hi_us: int) -> str:
    g = gv.group
    on = " AND ".join(f"l.{quote(k)} = f.{quote(k)}" for k in g.key_names)
    ttl = gv.group.ttl_us
    fresh = "f._ft IS NOT NULL" if ttl is None else f"f._ft >= l._t - {ttl}"
    picks = ", ".join(f"CASE WHEN {fresh} THEN f.{quote(n)} END AS {quote(n)}" for n in g.feature_names)
    keys = ", ".join(quote(k) for k in g.key_names)
    feats = ", ".join(quote(n) for n in g.feature_names)
    window = f"_ft <= {hi_us}" + ("" if lo_us is None else f" AND _ft >= {lo_us}")
    return (
        f"WITH l AS (SELECT *, _t::HUGEINT * {_SHIFT} + {_SHIFT - 1} AS _o FROM labels), "
        f"f AS (SELECT {keys}, {feats}, _ft, _ft::HUGEINT * {_SHIFT} + _seq AS _o FROM "
        f"(SELECT *, epoch_us({quote(g.event_time)}) AS _ft FROM feats) WHERE {window}) "
        f"SELECT {picks} FROM l ASOF LEFT JOIN f ON {on} AND l._o >= f._o ORDER BY l._rid"
    )


def _join_group(con: Any, store: ObjectStore, labels: Any, times: Any, gv: GroupVersion) -> Any:
    """The group's feature columns for every label row, in label order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    g = gv.group
    hi = pc.max(times).as_py()
    lo = None if g.ttl_us is None else pc.min(times).as_py() - g.ttl_us
    keys = _label_keys(labels, gv)
    feats = read_offline(
        store, g.name, gv.version, [*g.key_names, g.event_time, *g.feature_names], start_us=lo, end_us=hi
    )
    if feats is None:
        return pa.table({f.name: pa.nulls(labels.num_rows, arrow_type(f.type)) for f in g.features})
    left = pa.table({"_rid": pa.array(range(labels.num_rows), pa.int64()), "_t": times, **keys})
    con.register("labels", left)
    con.register("feats", feats)
    try:
        out = con.sql(_join_sql(gv, lo, hi)).to_arrow_table()
    finally:
        con.unregister("labels")
        con.unregister("feats")
    return pa.table({f.name: out[f.name].cast(arrow_type(f.type)) for f in g.features})


def training_set(
    store: ObjectStore,
    labels: Any,
    groups: Sequence[str],
    *,
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
    full_feature_names: bool = False,
    threads: int | None = None,
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
    con = connect(threads)
    try:
        for gv, mine in zip(resolved, names, strict=True):
            cols = _join_group(con, store, labels, times, gv)
            for f, name in zip(gv.group.features, mine, strict=True):
                out = out.append_column(name, cols[f.name])
    finally:
        con.close()
    return out
