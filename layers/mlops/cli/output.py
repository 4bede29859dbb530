"""Tables for people, JSON for scripts: every listing command offers both."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_cell(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def table(rows: Iterable[dict[str, Any]] | Iterable[Sequence[Any]], columns: Sequence[str]) -> str:
    """A plain aligned text table; dict rows are read by column name."""
    cells = []
    for row in rows:
        if isinstance(row, dict):
            cells.append([_cell(row.get(c)) for c in columns])
        else:
            cells.append([_cell(x) for x in row])
    header = [c.upper() for c in columns]
    widths = [max([len(header[i])] + [len(r[i]) for r in cells]) for i in range(len(columns))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def emit(data: Any, args, columns: Sequence[str] | None = None, rows_key: str | None = None) -> None:
    """JSON with --json, else a table of ``data[rows_key]`` (or of data itself)."""
    if getattr(args, "json", False) or columns is None:
        print_json(data)
        return
    rows = data[rows_key] if rows_key else data
    if isinstance(rows, dict):
        rows = [rows]
    print(table(rows, columns))
