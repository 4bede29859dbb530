"""Tables for people, JSON for scripts: every listing command offers both."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from mlops.texttable import table


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def emit(data: Any, args, columns: Sequence[str] | None = None, rows_key: str | None = None) -> None:
    """JSON with --json, else a table of ``data[rows_key]`` (or of data itself)."""
    if getattr(args, "json", False) or columns is None:
        print_json(data)
        return
    rows = data[rows_key] if rows_key else data
    if isinstance(rows, dict):
        rows = [rows]
    print(table(rows, columns))
