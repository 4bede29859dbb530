"""Row checks of an ingestion batch against its group's definition, in one DuckDB pass over the Arrow table.

Every row gets the list of everything wrong with it (``_reason``, joined with "; "), never only the first:
an entity key that is null or not of its type, an event time that is missing, unparseable or later than
``now + tolerance``, a feature value that cannot be cast to its type without loss (``1.5`` is not an
int64; DuckDB's ``TRY_CAST`` alone would round it), a null in a non-nullable feature. Good rows come
back cast to the definition's types; bad rows keep their original values (as text) for the quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops.features.definition import FeatureGroup
from mlops.features.engine import SQL_TYPES, arrow_type, connect, quote

_INT_TEXT = r"^\s*[+-]?[0-9]+\s*$"
_SHOW = 40  # characters of a bad value quoted in its reason


@dataclass(frozen=True)
class Checked:
    good: Any  # pyarrow.Table in the group's schema plus _row (the input row number)
    bad: Any  # pyarrow.Table: the input columns as text, _row and _reason


def _shown(col: str) -> str:
    return f"left(CAST({col} AS VARCHAR), {_SHOW})"


def _cast(col: str, source: Any, kind: str) -> str:
    """A SQL expression: ``col`` cast to ``kind``, NULL where the value does not convert exactly."""
    import pyarrow as pa

    target = SQL_TYPES[kind]
    if kind == "int64":
        if pa.types.is_string(source) or pa.types.is_large_string(source):
            return (
                f"CASE WHEN regexp_full_match({col}, '{_INT_TEXT}') THEN TRY_CAST(trim({col}) AS BIGINT) END"
            )
        if pa.types.is_floating(source):
            return f"CASE WHEN isfinite({col}) AND {col} = trunc({col}) THEN TRY_CAST({col} AS BIGINT) END"
    if kind == "string" and not (pa.types.is_string(source) or pa.types.is_large_string(source)):
        if pa.types.is_timestamp(source) or pa.types.is_date(source):
            return "NULL"  # a time is not text: say so, rather than store its rendering
    return f"TRY_CAST({col} AS {target})"


def _reasons(group: FeatureGroup, schema: Any) -> tuple[list[str], list[str]]:
    """(select expressions of the cast columns, reason expressions)."""
    selects, reasons = [], []
    for key in group.entity_keys:
        col = quote(key.name)
        cast = _cast(col, schema.field(key.name).type, key.type)
        selects.append(f"{cast} AS {col}")
        reasons.append(f"CASE WHEN {col} IS NULL THEN '{key.name}: null entity key' END")
        reasons.append(
            f"CASE WHEN {col} IS NOT NULL AND {cast} IS NULL "
            f"THEN '{key.name}: ''' || {_shown(col)} || ''' is not {key.type}' END"
        )
    ev = quote(group.event_time)
    cast = _cast(ev, schema.field(group.event_time).type, "timestamp")
    selects.append(f"{cast} AS {ev}")
    reasons.append(f"CASE WHEN {ev} IS NULL THEN '{group.event_time}: null event time' END")
    reasons.append(
        f"CASE WHEN {ev} IS NOT NULL AND {cast} IS NULL "
        f"THEN '{group.event_time}: ''' || {_shown(ev)} || ''' is not a timestamp' END"
    )
    reasons.append(
        f"CASE WHEN {cast} > $latest THEN '{group.event_time}: ' || strftime({cast}, '%Y-%m-%dT%H:%M:%S.%fZ') "
        "|| ' is in the future (later than now + tolerance)' END"
    )
    for feat in group.features:
        col = quote(feat.name)
        cast = _cast(col, schema.field(feat.name).type, feat.type)
        selects.append(f"{cast} AS {col}")
        reasons.append(
            f"CASE WHEN {col} IS NOT NULL AND {cast} IS NULL "
            f"THEN '{feat.name}: ''' || {_shown(col)} || ''' is not {feat.type}' END"
        )
        if not feat.nullable:
            reasons.append(f"CASE WHEN {col} IS NULL THEN '{feat.name}: null in a non-nullable feature' END")
    return selects, reasons


def check_rows(group: FeatureGroup, table: Any, *, now_s: float, tolerance_s: float) -> Checked:
    """Split ``table`` (a pyarrow Table holding at least the group's columns) into good and bad rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [*group.key_names, group.event_time, *group.feature_names]
    table = table.select(columns).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    selects, reasons = _reasons(group, table.schema)
    latest = datetime.fromtimestamp(now_s + tolerance_s, UTC)
    con = connect()
    try:
        con.register("batch", table)
        sql = (
            f"SELECT {', '.join(selects)}, _row, "
            f"array_to_string(list_filter([{', '.join(reasons)}], lambda r: r IS NOT NULL), '; ') AS _reason "
            "FROM batch ORDER BY _row"
        )
        out = con.sql(sql, params={"latest": latest}).to_arrow_table()
    finally:
        con.close()
    ok = pc.equal(out["_reason"], "")
    good = out.filter(ok).drop_columns(["_reason"])
    good = good.cast(good_schema(group))
    bad_rows = pc.invert(ok)
    bad = table.filter(bad_rows)
    bad = pa.table(
        {
            **{c: bad[c].cast(pa.string()) if _textual(bad[c].type) else _as_text(bad[c]) for c in columns},
            "_row": bad["_row"],
            "_reason": out["_reason"].filter(bad_rows),
        }
    )
    return Checked(good, bad)


def good_schema(group: FeatureGroup) -> Any:
    import pyarrow as pa

    fields = [pa.field(k.name, arrow_type(k.type)) for k in group.entity_keys]
    fields.append(pa.field(group.event_time, arrow_type("timestamp")))
    fields += [pa.field(f.name, arrow_type(f.type)) for f in group.features]
    fields.append(pa.field("_row", pa.int64()))
    return pa.schema(fields)


def _textual(kind: Any) -> bool:
    import pyarrow as pa

    return not (pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_nested(kind))


def _as_text(column: Any) -> Any:
    """A column as text for the quarantine, times in ISO 8601 (pyarrow cannot cast every type to string)."""
    import pyarrow as pa

    return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
