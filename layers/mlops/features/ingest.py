"""Ingestion: check every row of a batch against its group's definition, write the good rows to the offline
store (Parquet per event date) and the bad ones to the quarantine with every reason, then commit the batch.

Nothing is dropped silently: ``rows_in == rows_ok + rows_quarantined`` always, and both sets are stored.
The manifest is created (exclusively, next free batch number) only after all its parts are written, so
a reader sees a batch entirely or not at all (``mlops.features.offline``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import BadRequestError, ConflictError, PreconditionFailedError, UnprocessableError
from mlops.features.groups import GroupVersion, get_group
from mlops.features.offline import (
    MAX_BATCH_ROWS,
    batch_key,
    batch_numbers,
    offline_prefix,
    parquet_bytes,
    quarantine_prefix,
)
from mlops.features.validate import check_rows
from mlops.storage import cas
from mlops.storage.base import ObjectStore
from mlops.times import iso

DEFAULT_FUTURE_TOLERANCE_S = 300.0
MAX_FUTURE_TOLERANCE_S = 366 * 86400.0
MAX_BATCH_ATTEMPTS = 1000


@dataclass(frozen=True)
class IngestResult:
    group: str
    version: int
    batch: int
    rows_in: int
    rows_ok: int
    rows_quarantined: int
    parts: list[str] = field(default_factory=list)
    quarantine: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # "column: kind" -> rows
    ignored_columns: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


def read_input(source: Any, group_columns: list[str]) -> Any:
    """A pyarrow Table from a Table, a Parquet file or a CSV file (CSV columns of the group read as text,
    so a bad value is quarantined with its reason rather than failing the whole file)."""
    import pyarrow as pa

    if isinstance(source, pa.Table):
        return source
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise UnprocessableError(
            f"{path}: cannot ingest a {suffix or 'suffix-less'} file (use .parquet or .csv)",
            code="unsupported_input",
        )
    if not path.is_file():
        raise UnprocessableError(f"{path}: not a readable file", code="unsupported_input")
    try:
        return _read_file(path, suffix, group_columns)
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UnprocessableError(
            f"{path}: cannot read it as {suffix[1:]}: {first}", code="unreadable_input"
        ) from None


def _read_file(path: Path, suffix: str, group_columns: list[str]) -> Any:
    import pyarrow as pa

    if suffix == ".csv":
        import pyarrow.csv as pacsv

        opts = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in group_columns}, strings_can_be_null=True
        )
        return pacsv.read_csv(path, convert_options=opts)
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _partitions(table: Any, event_time: str) -> list[tuple[str, Any]]:
    """(YYYY-MM-DD, rows of that event date) for each date present: one sort by event time, then slices."""
    import numpy as np
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    table = table.sort_by([(event_time, "ascending")])
    days = pc.cast(pc.floor_temporal(table[event_time], unit="day"), "int64").to_numpy()
    starts = np.flatnonzero(np.diff(days)) + 1
    bounds = [0, *starts.tolist(), table.num_rows]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        rows = table.slice(lo, hi - lo)
        out.append((pc.strftime(rows[event_time][0], format="%Y-%m-%d").as_py(), rows))
    return out


def _put_content(store: ObjectStore, key: str, data: bytes) -> None:
    """Create a content-named object; an existing one holds the same bytes (its name is their sha256)."""
    try:
        store.put(key, data, if_none_match=True)
    except PreconditionFailedError:
        pass


def _write_parts(store: ObjectStore, gv: GroupVersion, good: Any) -> list[dict[str, Any]]:
    import pyarrow.compute as pc

    name, ev = gv.group.name, gv.group.event_time
    parts = []
    for day, rows in _partitions(good, ev):
        data = parquet_bytes(rows)
        sha = hashlib.sha256(data).hexdigest()
        key = f"{offline_prefix(name, gv.version)}date={day}/part-{sha}.parquet"
        _put_content(store, key, data)
        times = pc.min_max(rows[ev].cast("int64"))
        parts.append(
            {
                "key": key,
                "date": day,
                "rows": rows.num_rows,
                "sha256": sha,
                "size": len(data),
                "min_event_us": times["min"].as_py(),
                "max_event_us": times["max"].as_py(),
            }
        )
    return parts


def _reason_counts(bad: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for text in bad["_reason"].to_pylist():
        for reason in text.split("; "):
            col, _, rest = reason.partition(": ")
            kind = (
                "future event time"
                if "future" in rest
                else rest.split(" is ")[-1]
                if " is " in rest
                else rest
            )
            label = f"{col}: {kind}"
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def _commit(store: ObjectStore, gv: GroupVersion, manifest: dict[str, Any]) -> int:
    """Create the batch manifest with the next free batch number; returns it."""
    nums = batch_numbers(store, gv.group.name, gv.version)
    n = (nums[-1] if nums else 0) + 1

    def once(_attempt: int) -> int:
        nonlocal n
        manifest["batch"] = n
        manifest.pop("write_id", None)
        try:
            cas.put_or_lose(lambda: cas.create(store, batch_key(gv.group.name, gv.version, n), manifest))
        except cas.LostRace:
            n += 1
            raise
        return n

    return cas.retry_lost_races(
        once,
        attempts=MAX_BATCH_ATTEMPTS,
        exhausted=lambda: ConflictError(
            f"could not commit a batch of feature group {gv.ref}", code="too_much_contention"
        ),
    )


def _check_tolerance(seconds: float) -> None:
    if not (isinstance(seconds, (int, float)) and 0 <= seconds <= MAX_FUTURE_TOLERANCE_S):
        raise BadRequestError(
            f"the future tolerance must be 0 to {MAX_FUTURE_TOLERANCE_S:.0f} seconds, not {seconds!r}",
            code="invalid_argument",
        )


def _batch_table(gv: GroupVersion, source: Any, columns: list[str]) -> Any:
    table = read_input(source, columns)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UnprocessableError(
            f"input for feature group {gv.ref} lacks column(s) {', '.join(missing)}", code="missing_columns"
        )
    if table.num_rows > MAX_BATCH_ROWS:
        raise UnprocessableError(f"a batch holds at most {MAX_BATCH_ROWS} rows", code="batch_too_large")
    return table


def _write_quarantine(store: ObjectStore, gv: GroupVersion, bad: Any) -> str | None:
    if not bad.num_rows:
        return None
    data = parquet_bytes(bad)
    key = f"{quarantine_prefix(gv.group.name, gv.version)}part-{hashlib.sha256(data).hexdigest()}.parquet"
    _put_content(store, key, data)
    return key


def ingest(
    store: ObjectStore,
    ref: str,
    source: Any,
    *,
    now: Callable[[], float] = time.time,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    actor: str = "",
) -> IngestResult:
    """Ingest ``source`` (a pyarrow Table, or a .parquet / .csv path) into group ``ref`` (``name[@n]``)."""
    _check_tolerance(future_tolerance_s)
    gv = get_group(store, ref)
    g = gv.group
    columns = [*g.key_names, g.event_time, *g.feature_names]
    table = _batch_table(gv, source, columns)
    now_s = now()
    checked = check_rows(g, table, now_s=now_s, tolerance_s=future_tolerance_s)
    parts = _write_parts(store, gv, checked.good)
    quarantine = _write_quarantine(store, gv, checked.bad)
    reasons = _reason_counts(checked.bad) if checked.bad.num_rows else {}
    manifest: dict[str, Any] = {
        "group": g.name,
        "version": gv.version,
        "ingested_at": iso(now_s),
        "ingested_by": actor,
        "source": source if isinstance(source, str) else str(source) if isinstance(source, Path) else "table",
        "rows_in": table.num_rows,
        "rows_ok": checked.good.num_rows,
        "rows_quarantined": checked.bad.num_rows,
        "parts": parts,
        "quarantine": quarantine,
        "reasons": reasons,
    }
    batch = _commit(store, gv, manifest)
    return IngestResult(
        group=g.name,
        version=gv.version,
        batch=batch,
        rows_in=table.num_rows,
        rows_ok=checked.good.num_rows,
        rows_quarantined=checked.bad.num_rows,
        parts=[p["key"] for p in parts],
        quarantine=quarantine,
        reasons=reasons,
        ignored_columns=[c for c in table.column_names if c not in columns],
    )
