"""Inferring an expectations suite from training data, with tolerances loose enough for the next honest
batch of the same data and tight enough to catch a broken one.

Tolerances (``infer``'s keywords, all documented in the README):

- ``max_null_rate`` = observed rate + max(1 point, half the observed rate), capped at 1: a column never
  null in training may be null in up to 1% of rows; 20% becomes 30%.
- numbers (int, float): ``min``/``max`` as observed, ``range_tolerance`` 0.1 (the range widened by 10%
  of its width each side), ``max_out_of_range`` 0.001 (0.1% of rows may fall outside the widened range).
- strings with at most 50 distinct values, each seen 5 times on average: ``categories`` as observed,
  ``max_unseen`` 0.01 (1% of non-null rows may carry a value outside them). Other strings: type only.
- ``entity_keys``: their combination must not repeat (``unique_keys``). When the keys repeat in the data
  and ``event_time`` is given, the event time joins the key (a feature table: one row per entity and
  time); if the rows still repeat, inference refuses (the data contradicts the declared keys).
- ``event_time``: ``freshness`` with ``max_age_s`` = the larger of one day and twice the age of the
  newest event at inference time (rounded up to the hour), per the clock passed in.
- ``min_rows`` 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlops.errors import UnprocessableError
from mlops.quality.suite import ColumnExpectation, Suite
from mlops.quality.tables import as_float, as_table, epoch_seconds, logical_type, missing_count

NULL_SLACK = 0.01
NULL_RELATIVE = 0.5
RANGE_TOLERANCE = 0.1
MAX_OUT_OF_RANGE = 0.001
MAX_CATEGORIES = 50
MIN_ROWS_PER_CATEGORY = 5
MAX_UNSEEN = 0.01
MIN_FRESHNESS_S = 86_400.0


def infer(
    data: Any,
    *,
    entity_keys: Sequence[str] | None = None,
    event_time: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Suite:
    """A suite for ``data`` (a pyarrow Table or ``{name: array}``); see the module doc for the tolerances."""
    table = as_table(data)
    for name in [*(entity_keys or []), *([event_time] if event_time else [])]:
        if name not in table.column_names:
            raise UnprocessableError(f"column {name} is not in the data", code="unknown_column")
    n = table.num_rows
    columns = tuple(_infer_column(name, table.column(name), n) for name in table.column_names)
    return Suite(
        columns=columns,
        min_rows=1,
        unique_keys=_keys(table, list(entity_keys or []), event_time),
        freshness=_freshness(table, event_time, clock) if event_time else None,
    )


def _ceil(x: float, digits: int = 4) -> float:
    return math.ceil(x * 10**digits - 1e-9) / 10**digits


def _infer_column(name: str, col: pa.ChunkedArray, n: int) -> ColumnExpectation:
    kind = logical_type(col.type)
    missing = missing_count(col)
    rate = missing / n if n else 0.0
    observed: dict[str, Any] = {"null_rate": round(rate, 6)}
    spec: dict[str, Any] = {
        "max_null_rate": min(1.0, _ceil(rate + max(NULL_SLACK, NULL_RELATIVE * rate))),
    }
    if kind in ("int", "float") and missing < n:
        values = as_float(col)
        bounds = pc.min_max(values, skip_nulls=True)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if pa.types.is_floating(col.type):  # min_max skips nulls, not NaN
            finite = pc.filter(values, pc.is_finite(values))
            bounds = pc.min_max(finite)
            lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is not None and hi is not None:
            spec.update(min=lo, max=hi, range_tolerance=RANGE_TOLERANCE, max_out_of_range=MAX_OUT_OF_RANGE)
            observed.update(min=lo, max=hi)
    elif kind == "string" and missing < n:
        counts = pc.value_counts(col.drop_null()).to_pylist()
        observed["distinct"] = len(counts)
        if len(counts) <= MAX_CATEGORIES and len(counts) * MIN_ROWS_PER_CATEGORY <= n - missing:
            spec.update(categories=tuple(sorted(str(c["values"]) for c in counts)), max_unseen=MAX_UNSEEN)
    return ColumnExpectation(name=name, type=kind, observed=observed, **spec)


def _keys(table: pa.Table, keys: list[str], event_time: str | None) -> tuple[str, ...]:
    if not keys:
        return ()
    if not _repeats(table, keys):
        return tuple(keys)
    if event_time and event_time not in keys and not _repeats(table, [*keys, event_time]):
        return (*keys, event_time)
    raise UnprocessableError(
        f"entity keys {', '.join(keys)} repeat in the data"
        + (f" (even with {event_time})" if event_time else ""),
        code="duplicate_keys",
    )


def _repeats(table: pa.Table, keys: list[str]) -> bool:
    groups = table.select(keys).group_by(keys).aggregate([]).num_rows
    return bool(groups < table.num_rows)


def _freshness(table: pa.Table, column: str, clock: Callable[[], float]) -> dict[str, Any]:
    newest = pc.max(epoch_seconds(table.column(column))).as_py()
    age = max(0.0, clock() - newest) if newest is not None else 0.0
    max_age = max(MIN_FRESHNESS_S, math.ceil(2 * age / 3600) * 3600.0)
    return {"column": column, "max_age_s": max_age}
