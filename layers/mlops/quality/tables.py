"""Tables for the checks: a pyarrow Table from what callers have (a Table, ``{name: array}`` columns as
registration builds them, a Parquet or CSV file), the logical type of an Arrow type, and missing values.

NaN counts as missing in float columns (registration's columns use NaN for None; Parquet keeps NaN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlops.errors import BadRequestError, UnprocessableError


def as_table(data: Any) -> pa.Table:
    """``data`` as a pyarrow Table: a Table, a RecordBatch, or a mapping of column name to array/list."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, Mapping):
        arrays = {}
        for name, values in data.items():
            try:
                arrays[str(name)] = (
                    values
                    if isinstance(values, (pa.Array, pa.ChunkedArray))
                    else pa.array(values, from_pandas=True)
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise UnprocessableError(f"column {name}: {exc}", code="invalid_columns") from None
        return pa.table(arrays)
    raise BadRequestError(
        "expected a pyarrow Table or a mapping of column name to values", code="invalid_table"
    )


def read_file(path: str) -> pa.Table:
    """A Parquet (``.parquet``/``.pq``) or CSV (``.csv``/``.csv.gz``) file as a Table."""
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if lower.endswith((".csv", ".csv.gz")):
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UnprocessableError(f"{path}: {exc}", code="invalid_file") from None
    raise BadRequestError(f"{path}: expected a .parquet or .csv file", code="invalid_file")


def logical_type(t: pa.DataType) -> str:
    """The expectation type of an Arrow type: int, float, bool, string, timestamp or other."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    if pa.types.is_null(t):
        return "float"  # an all-null column carries no type; numbers are the common case
    return "other"


def type_matches(expected: str, actual: str, arrow_type: pa.DataType) -> bool:
    """Whether a column of ``actual`` type satisfies ``expected`` (ints pass as floats, all-null passes)."""
    return actual == expected or (expected == "float" and actual == "int") or pa.types.is_null(arrow_type)


def missing_mask(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where the value is null (or NaN in a float column)."""
    mask = pc.is_null(col, nan_is_null=pa.types.is_floating(col.type))
    return mask


def missing_count(col: pa.ChunkedArray) -> int:
    if pa.types.is_floating(col.type):
        return int(col.null_count) + int(pc.sum(pc.is_nan(col)).as_py() or 0)
    return int(col.null_count)


def as_float(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A numeric (or bool) column as float64 for range checks."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.cast(pa.float64())


def epoch_seconds(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A timestamp/date column (or numbers taken as epoch seconds) as float epoch seconds."""
    if pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("s"))
    if pa.types.is_timestamp(col.type):
        micros = col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64())
        return pc.divide(micros.cast(pa.float64()), 1e6)
    return col.cast(pa.float64())
