"""Plain aligned text tables: the one renderer behind every table the CLI and the build report print."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


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
