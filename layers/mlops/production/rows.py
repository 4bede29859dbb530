"""Prediction and feedback records -> typed Arrow columns (the compacted Parquet schema).

Fixed columns, typed: ``prediction_id``, ``ts`` (timestamp[ms, UTC]), ``endpoint``, ``model``, ``version``
(int64), ``variant``, ``cohort``, ``principal``, ``request_id``, ``latency_ms`` and ``confidence`` (float64),
``has_features`` (bool). ``prediction`` and feedback's ``actual`` are kept as JSON text (a class label may be
a number, a string or a boolean, and the compacted file must not guess: the labelled dataset types them).

Features are one column per feature, ``features.<name>``: float64 when every value of the batch is a number
(booleans count as 0/1), else string. Records of different model versions may carry different feature sets:
a batch holds the union of the names it saw (null where a record lacks one), and readers unify batches
(``unify``), so a feature that a version added is null for older versions' rows, never a shifted column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

FEATURE_PREFIX = "features."

PREDICTION_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("prediction_id", pa.string()),
    ("ts", pa.timestamp("ms", tz="UTC")),
    ("endpoint", pa.string()),
    ("model", pa.string()),
    ("version", pa.int64()),
    ("variant", pa.string()),
    ("cohort", pa.string()),
    ("principal", pa.string()),
    ("request_id", pa.string()),
    ("latency_ms", pa.float64()),
    ("confidence", pa.float64()),
    ("prediction", pa.string()),  # JSON text
    ("has_features", pa.bool_()),
)
FEEDBACK_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("prediction_id", pa.string()),
    ("ts", pa.timestamp("ms", tz="UTC")),
    ("endpoint", pa.string()),
    ("principal", pa.string()),
    ("actual", pa.string()),  # JSON text
)


def ts_ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO-8601 time (``...Z``, an offset, or naive = UTC); None if unusable."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _json(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


class Batch:
    """Rows of one kind collected column by column (the only per-row Python work of compaction)."""

    def __init__(self, fields: tuple[tuple[str, pa.DataType], ...]):
        self.fields = fields
        self.cols: dict[str, list[Any]] = {name: [] for name, _ in fields}
        self.feature_rows: list[dict[str, Any] | None] = []  # per prediction row: its features or None
        self.rows = 0

    def add_prediction(self, r: dict[str, Any], pid: str, ts: int) -> None:
        c = self.cols
        c["prediction_id"].append(pid)
        c["ts"].append(ts)
        for name in ("endpoint", "model", "variant", "cohort", "principal", "request_id"):
            c[name].append(_text(r.get(name)))
        c["version"].append(_int(r.get("version")))
        c["latency_ms"].append(_num(r.get("latency_ms")))
        c["confidence"].append(_num(r.get("confidence")))
        c["prediction"].append(_json(r.get("prediction")))
        feats = r.get("features")
        has = isinstance(feats, dict) and bool(feats)
        c["has_features"].append(has)
        self.feature_rows.append(feats if has else None)
        self.rows += 1

    def add_feedback(self, r: dict[str, Any], pid: str, ts: int) -> None:
        c = self.cols
        c["prediction_id"].append(pid)
        c["ts"].append(ts)
        c["endpoint"].append(_text(r.get("endpoint")))
        c["principal"].append(_text(r.get("principal")))
        c["actual"].append(_json(r.get("actual")))
        self.rows += 1

    def table(self) -> pa.Table:
        arrays = [pa.array(self.cols[name], type=t) for name, t in self.fields]
        names = [name for name, _ in self.fields]
        seen: set[str] = set()
        for feats in self.feature_rows:
            if feats is not None and not feats.keys() <= seen:
                seen.update(feats)
        for fname in sorted(seen):
            arrays.append(feature_array([None if f is None else f.get(fname) for f in self.feature_rows]))
            names.append(FEATURE_PREFIX + fname)
        return pa.Table.from_arrays(arrays, names=names)


def feature_array(values: list[Any]) -> pa.Array:
    """float64 when every non-null value is a number (bools as 0/1), else string (JSON for non-strings)."""
    if all(v is None or isinstance(v, (int, float)) for v in values):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(
        [None if v is None else v if isinstance(v, str) else _json(v) for v in values], type=pa.string()
    )


def unify(tables: Iterable[pa.Table]) -> pa.Table | None:
    """One table from batches whose feature columns may differ (missing -> null; int/float -> float; a
    feature that is a number in one batch and a string in another becomes a string everywhere)."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    kinds: dict[str, pa.DataType] = {}
    for t in tables:
        for f in t.schema:
            if f.name.startswith(FEATURE_PREFIX) and kinds.get(f.name) != pa.string():
                kinds[f.name] = f.type
    fixed = []
    for t in tables:
        for i, f in enumerate(t.schema):
            if f.name in kinds and f.type != kinds[f.name]:
                t = t.set_column(i, f.name, t.column(i).cast(kinds[f.name]))
        fixed.append(t)
    return pa.concat_tables(fixed, promote_options="permissive")
