"""The DuckDB connection the feature store computes with, and the Arrow types of a definition.

DuckDB is embedded (the wheel links Parquet, JSON and ICU statically); extension auto-install and
auto-load are off, so nothing is ever downloaded at run time. The session time zone is UTC: a time
without an offset means UTC, as everywhere in mlops (``mlops.times``).
"""

from __future__ import annotations

import os
from typing import Any

SQL_TYPES = {
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
}


def connect(threads: int | None = None) -> Any:
    import duckdb

    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": threads or os.cpu_count() or 1,
        }
    )
    con.execute("SET TimeZone='UTC'")
    return con


def arrow_type(kind: str) -> Any:
    import pyarrow as pa

    return {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[kind]


def quote(name: str) -> str:
    """A SQL identifier (definition column names are already restricted to letters, digits and '_')."""
    return '"' + name.replace('"', '""') + '"'
