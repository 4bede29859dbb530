"""Checking a table against a suite, vectorized with pyarrow.compute: a report of each failed expectation
(observed vs expected, violating rows) and row-level reasons for quarantines.

``check`` is aggregate: a column's null rate is a failure only above ``max_null_rate``, a range or category
only above its allowed share. ``row_masks`` says which rows violate a row-level expectation: outside the
widened range, an unseen category, the second and later rows of a repeated key, and a null in a column
whose ``max_null_rate`` is 0. Type, missing columns, ``min_rows`` and freshness concern the whole table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops.quality.suite import ColumnExpectation, Suite
from mlops.quality.tables import (
    as_float,
    as_table,
    epoch_seconds,
    logical_type,
    missing_count,
    missing_mask,
    type_matches,
)

DATASET = "(dataset)"


@dataclass(frozen=True)
class Failure:
    column: str  # DATASET for table-level expectations
    check: str  # missing_column, type, null_rate, range, categories, unique_keys, freshness, min_rows
    observed: Any
    expected: Any
    rows: int  # rows that violate it (0 when it is about the table, not rows)
    message: str


@dataclass
class Report:
    rows: int
    suite_digest: str
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_text(self, limit: int = 50) -> str:
        """One line per failure (``column: what``), at most ``limit`` of them, or a line saying all passed."""
        if self.ok:
            return f"all expectations met ({self.rows} rows)"
        lines = [f"{f.column}: {f.message}" for f in self.failures[:limit]]
        if len(self.failures) > limit:
            lines.append(f"... and {len(self.failures) - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "suite_digest": self.suite_digest,
            "failures": [asdict(f) for f in self.failures],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def check(suite: Suite, data: Any, *, clock: Callable[[], float] = time.time) -> Report:
    """Check ``data`` (a pyarrow Table or ``{name: array}``) against ``suite``."""
    table = as_table(data)
    report = Report(rows=table.num_rows, suite_digest=suite.digest())
    n = table.num_rows
    if n < suite.min_rows:
        report.failures.append(
            Failure(DATASET, "min_rows", n, suite.min_rows, 0, f"{n} rows < min {suite.min_rows}")
        )
    for exp in suite.columns:
        if exp.name not in table.column_names:
            report.failures.append(Failure(exp.name, "missing_column", None, exp.type, n, "missing column"))
            continue
        report.failures.extend(_check_column(exp, table.column(exp.name), n))
    report.failures.extend(_check_keys(suite, table))
    report.failures.extend(_check_freshness(suite, table, clock))
    return report


def _check_column(exp: ColumnExpectation, col: pa.ChunkedArray, n: int) -> list[Failure]:
    out: list[Failure] = []
    actual = logical_type(col.type)
    if not type_matches(exp.type, actual, col.type):
        return [
            Failure(exp.name, "type", actual, exp.type, n, f"type {actual} ({col.type}), expected {exp.type}")
        ]
    missing = missing_count(col)
    if exp.max_null_rate is not None and n and missing / n > exp.max_null_rate + 1e-12:
        rate = missing / n
        out.append(
            Failure(
                exp.name,
                "null_rate",
                rate,
                exp.max_null_rate,
                missing,
                f"null rate {_pct(rate)} > max {_pct(exp.max_null_rate)} ({missing} of {n} rows)",
            )
        )
    if (exp.min is not None or exp.max is not None) and actual in ("int", "float", "bool") and n:
        out.extend(_check_range(exp, col, n))
    if exp.categories is not None and actual == "string" and n > missing:
        out.extend(_check_categories(exp, col, n - missing))
    return out


def _out_of_range(exp: ColumnExpectation, col: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where the value lies outside the widened range (null where the value is null)."""
    values = as_float(col)
    lo, hi = exp.bounds()
    masks = []
    if lo is not None:
        masks.append(pc.less(values, lo))
    if hi is not None:
        masks.append(pc.greater(values, hi))
    return masks[0] if len(masks) == 1 else pc.or_(masks[0], masks[1])


def _check_range(exp: ColumnExpectation, col: pa.ChunkedArray, n: int) -> list[Failure]:
    count = int(pc.sum(_out_of_range(exp, col)).as_py() or 0)
    if count / n <= exp.max_out_of_range + 1e-12:
        return []
    values = as_float(col)
    finite = pc.filter(values, pc.is_finite(values))
    mm = pc.min_max(finite)
    lo, hi = exp.bounds()
    observed = {"min": mm["min"].as_py(), "max": mm["max"].as_py(), "share": count / n}
    return [
        Failure(
            exp.name,
            "range",
            observed,
            {"min": lo, "max": hi, "max_share": exp.max_out_of_range},
            count,
            f"{count} rows ({_pct(count / n)}) outside [{lo:.6g}, {hi:.6g}] (max {_pct(exp.max_out_of_range)}); "
            f"observed min {observed['min']:.6g}, max {observed['max']:.6g}",
        )
    ]


def _unseen(exp: ColumnExpectation, col: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where a non-null value is not among the allowed categories."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    allowed = pa.array(list(exp.categories or ()), type=pa.string()).cast(col.type)
    return pc.and_(pc.invert(pc.is_in(col, value_set=allowed, skip_nulls=True)), pc.is_valid(col))


def _check_categories(exp: ColumnExpectation, col: pa.ChunkedArray, present: int) -> list[Failure]:
    mask = _unseen(exp, col)
    count = int(pc.sum(mask).as_py() or 0)
    if count / present <= exp.max_unseen + 1e-12:
        return []
    seen = pc.value_counts(pc.filter(col, mask)).to_pylist()
    top = [str(v["values"]) for v in sorted(seen, key=lambda v: -v["counts"])[:5]]
    return [
        Failure(
            exp.name,
            "categories",
            {"share": count / present, "unseen": top},
            {"categories": list(exp.categories or ()), "max_share": exp.max_unseen},
            count,
            f"{count} rows ({_pct(count / present)}) with unseen categories "
            f"{', '.join(repr(t) for t in top)}{' ...' if len(seen) > 5 else ''} (max {_pct(exp.max_unseen)})",
        )
    ]


def _first_of_each_key(table: pa.Table, keys: list[str]) -> np.ndarray:
    """The row indices of the first row of each distinct key combination."""
    indexed = table.select(keys).append_column("__row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    firsts = indexed.group_by(keys, use_threads=False).aggregate([("__row", "min")])
    return np.asarray(firsts.column("__row_min").to_numpy(), dtype=np.int64)


def _repeated_rows(table: pa.Table, keys: list[str]) -> int:
    """Rows whose key combination an earlier row already has. One integer key without nulls is counted
    with numpy (an O(n) test when already increasing, else a sort: faster than hashing); else a group-by."""
    col = table.column(keys[0])
    if len(keys) == 1 and pa.types.is_integer(col.type) and col.null_count == 0:
        values = col.to_numpy()
        steps = np.diff(values)
        if bool((steps > 0).all()):
            return 0
        return int(len(values) - 1 - np.count_nonzero(np.diff(np.sort(values))))
    return table.num_rows - int(table.select(keys).group_by(keys).aggregate([]).num_rows)


def _check_keys(suite: Suite, table: pa.Table) -> list[Failure]:
    keys = list(suite.unique_keys)
    if not keys or not table.num_rows:
        return []
    absent = [k for k in keys if k not in table.column_names]
    if absent:
        return []  # reported as missing columns when the suite lists them; nothing to group by otherwise
    dup = _repeated_rows(table, keys)
    if not dup:
        return []
    return [
        Failure(
            DATASET,
            "unique_keys",
            {"repeated_rows": dup},
            keys,
            dup,
            f"{dup} rows repeat the key ({', '.join(keys)}) of an earlier row",
        )
    ]


def _check_freshness(suite: Suite, table: pa.Table, clock: Callable[[], float]) -> list[Failure]:
    fresh = suite.freshness
    if not fresh or fresh["column"] not in table.column_names:
        return []
    newest = pc.max(epoch_seconds(table.column(fresh["column"]))).as_py() if table.num_rows else None
    limit = float(fresh["max_age_s"])
    if newest is not None and clock() - newest <= limit:
        return []
    age = None if newest is None else clock() - newest
    when = "no events" if newest is None else datetime.fromtimestamp(newest, UTC).isoformat()
    said = f"newest {fresh['column']} {when}" + (f", {age / 3600:.1f} h old" if age is not None else "")
    return [
        Failure(
            DATASET,
            "freshness",
            {"newest": when, "age_s": age},
            {"max_age_s": limit},
            0,
            f"{said} > max {limit / 3600:.1f} h",
        )
    ]


def row_masks(suite: Suite, data: Any) -> dict[str, np.ndarray]:
    """``{"column: reason": bool array}`` for each row-level expectation some row violates (see the module
    doc); a column of the wrong type or missing has no row masks (the whole table is wrong)."""
    table = as_table(data)
    out: dict[str, np.ndarray] = {}

    def add(label: str, mask: pa.ChunkedArray | pa.Array) -> None:
        arr = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
        if arr.any():
            out[label] = arr

    for exp in suite.columns:
        if exp.name not in table.column_names:
            continue
        col = table.column(exp.name)
        actual = logical_type(col.type)
        if not type_matches(exp.type, actual, col.type):
            continue
        if exp.max_null_rate == 0:
            add(f"{exp.name}: null", missing_mask(col))
        if (exp.min is not None or exp.max is not None) and actual in ("int", "float", "bool"):
            add(f"{exp.name}: out of range", _out_of_range(exp, col))
        if exp.categories is not None and actual == "string":
            add(f"{exp.name}: unseen category", _unseen(exp, col))
    keys = list(suite.unique_keys)
    if keys and all(k in table.column_names for k in keys) and table.num_rows:
        dup = np.ones(table.num_rows, dtype=bool)
        dup[_first_of_each_key(table, keys)] = False
        if dup.any():
            out[f"{', '.join(keys)}: repeated key"] = dup
    return out


def row_reasons(suite: Suite, data: Any) -> list[str | None]:
    """Per row, the row-level expectations it violates joined by ``"; "``, or None for a good row."""
    table = as_table(data)
    reasons: list[str | None] = [None] * table.num_rows
    for label, mask in row_masks(suite, table).items():
        for i in np.flatnonzero(mask).tolist():
            reasons[i] = label if reasons[i] is None else f"{reasons[i]}; {label}"
    return reasons
