"""The local metrics store: SQLite in WAL mode, safe for several processes writing at once.

Schema: ``streams(id, namespace, name, dims)`` holds each distinct metric stream once (``dims`` is
canonical JSON, sorted keys) and ``points(stream_id, ts, value, count)`` its datapoints. A window
query finds the streams by ``(namespace, name)`` and reads points through the ``(stream_id, ts)``
index - the same access path as an index on ``(namespace, name, ts)``, without repeating three
strings in every row. Each ``put`` is one ``BEGIN IMMEDIATE`` transaction (one fsync-free commit in
WAL with ``synchronous=NORMAL``); writers in other processes wait on ``busy_timeout``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops.errors import UnavailableError
from mlops.monitoring.metrics import MetricPoint, MetricsStore, Stream, matches, validated_rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL,
    UNIQUE (namespace, name, dims)
);
CREATE TABLE IF NOT EXISTS points (
    stream_id INTEGER NOT NULL REFERENCES streams(id),
    ts REAL NOT NULL,
    value REAL NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS points_stream_ts ON points (stream_id, ts);
CREATE INDEX IF NOT EXISTS points_ts ON points (ts);
"""


class SqliteMetrics(MetricsStore):
    """A :class:`MetricsStore` in one SQLite file; open it from as many processes as you like."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:  # owner-only, like the secrets file; SQLite gives the -wal and -shm files the same mode
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise UnavailableError(f"metrics store {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str, str], int] = {}
        try:
            self._db = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise UnavailableError(f"metrics store {self.path}: {exc}") from None

    # -- transactions
    def _tx(self):
        db = self._db

        class _Tx:
            def __enter__(self_inner):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, exc, tb):
                db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                return False

        return _Tx()

    def _stream_id(self, namespace: str, name: str, dims: str) -> int:
        key = (namespace, name, dims)
        sid = self._ids.get(key)
        if sid is None:
            self._db.execute("INSERT OR IGNORE INTO streams (namespace, name, dims) VALUES (?, ?, ?)", key)
            sid = self._db.execute(
                "SELECT id FROM streams WHERE namespace = ? AND name = ? AND dims = ?", key
            ).fetchone()[0]
            self._ids[key] = sid
        return sid

    # -- MetricsSink
    def put(self, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        rows_by_key = validated_rows(points)
        with self._lock:
            try:
                with self._tx():
                    rows: list[tuple[int, float, float, int]] = []
                    for key, pts in rows_by_key.items():
                        sid = self._stream_id(*key)
                        rows.extend((sid, ts, v, c) for ts, v, c in pts)
                    self._db.executemany(
                        "INSERT INTO points (stream_id, ts, value, count) VALUES (?, ?, ?, ?)", rows
                    )
            except sqlite3.Error as exc:
                self._ids.clear()  # a rolled-back stream insert must not stay cached
                raise UnavailableError(f"metrics store {self.path}: {exc}") from None

    # -- MetricsStore
    def query_streams(
        self, namespace: str, name: str, dimensions_filter: Mapping[str, str] | None, start: float, end: float
    ) -> list[Stream]:
        with self._lock:
            try:
                cands = self._db.execute(
                    "SELECT id, dims FROM streams WHERE namespace = ? AND name = ? ORDER BY dims",
                    (namespace, name),
                ).fetchall()
                streams: dict[int, Stream] = {}
                for sid, dims in cands:
                    d = json.loads(dims)
                    if matches(d, dimensions_filter):
                        streams[sid] = Stream(d)
                if not streams:
                    return []
                ids = list(streams)
                for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
                    part = ids[i : i + 500]
                    q = (
                        f"SELECT stream_id, ts, value, count FROM points WHERE stream_id IN "
                        f"({','.join('?' * len(part))}) AND ts > ? AND ts <= ? ORDER BY ts"
                    )
                    for sid, ts, v, c in self._db.execute(q, (*part, float(start), float(end))):
                        streams[sid].points.append((ts, v, c))
            except sqlite3.Error as exc:
                raise UnavailableError(f"metrics store {self.path}: {exc}") from None
        return [s for s in streams.values() if s.points]

    # statistics SQLite computes itself, with the definitions of ``evaluator.aggregate``
    SQL_STATISTICS = frozenset({"count", "sum", "mean", "avg", "max", "min", "percentile"})

    def stream_ids(
        self, namespace: str, name: str, dimensions_filter: Mapping[str, str] | None
    ) -> list[tuple[int, dict[str, str]]]:
        """``(id, dimensions)`` of the streams of a metric that match the filter, ordered by dimensions."""
        with self._lock:
            try:
                cands = self._db.execute(
                    "SELECT id, dims FROM streams WHERE namespace = ? AND name = ? ORDER BY dims",
                    (namespace, name),
                ).fetchall()
            except sqlite3.Error as exc:
                raise UnavailableError(f"metrics store {self.path}: {exc}") from None
        out = []
        for sid, dims in cands:
            d = json.loads(dims)
            if matches(d, dimensions_filter):
                out.append((sid, d))
        return out

    def aggregate_window(
        self, ids: Sequence[int], start: float, end: float, statistic: str, percentile: float | None = None
    ) -> float | None:
        """One statistic over the points of streams ``ids`` with ``start < ts <= end``, computed inside SQLite.

        The same definitions as ``evaluator.aggregate`` (weighted by ``count``; the percentile is the first
        value whose cumulative count reaches ``p * total``), but without loading the points into Python: an
        evaluation over a busy 15-minute window otherwise held every invocation's point in lists, so the
        runtime's memory grew with traffic x window (issue 13 F, found by the soak benchmark). None when the
        window holds no point.
        """
        if not ids:
            return None
        if statistic == "percentile" and percentile is None:
            raise TypeError("the percentile statistic needs a percentile")
        if len(ids) > 500:  # SQLite's bound-parameter limit; the caller falls back to the points
            raise ValueError("too many streams for one SQL aggregate")
        where = f"stream_id IN ({','.join('?' * len(ids))}) AND ts > ? AND ts <= ?"
        args = (*ids, float(start), float(end))
        expr = {
            "count": "SUM(count)",
            "sum": "SUM(value * count)",
            "mean": "SUM(value * count) / SUM(count)",
            "avg": "SUM(value * count) / SUM(count)",
            "max": "MAX(value)",
            "min": "MIN(value)",
            "percentile": "SUM(count)",
        }[statistic]
        with self._lock:
            try:
                (value,) = self._db.execute(f"SELECT {expr} FROM points WHERE {where}", args).fetchone()
                if value is None or statistic != "percentile":
                    return None if value is None else float(value)
                need = float(percentile or 0.0) * value  # p * total count, as evaluator.aggregate
                row = self._db.execute(
                    f"SELECT value FROM (SELECT value, SUM(count) OVER (ORDER BY value ROWS UNBOUNDED PRECEDING) AS acc "
                    f"FROM points WHERE {where}) WHERE acc >= ? ORDER BY value LIMIT 1",
                    (*args, need),
                ).fetchone()
                if row is None:
                    row = self._db.execute(f"SELECT MAX(value) FROM points WHERE {where}", args).fetchone()
            except sqlite3.Error as exc:
                raise UnavailableError(f"metrics store {self.path}: {exc}") from None
        return float(row[0])

    def read_rows(self, sql: str, args: Sequence[object]) -> list[tuple]:
        """Rows of one read-only query over ``streams``/``points`` (the metrics readers' bucketed scans)."""
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()  # tuples (no row factory is set)
            except sqlite3.Error as exc:
                raise UnavailableError(f"metrics store {self.path}: {exc}") from None

    def names(self) -> list[tuple[str, str, int]]:
        """``(namespace, name, number of streams)`` of everything stored (for the CLI)."""
        with self._lock:
            return [
                tuple(r)
                for r in self._db.execute(
                    "SELECT namespace, name, COUNT(*) FROM streams GROUP BY namespace, name ORDER BY namespace, name"
                )
            ]

    def prune(self, older_than_s: float, now: float | None = None) -> int:
        """Delete points older than ``older_than_s`` seconds; returns how many were deleted."""
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._lock, self._tx():
            return self._db.execute("DELETE FROM points WHERE ts <= ?", (cutoff,)).rowcount

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
