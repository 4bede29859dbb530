"""The feature store's online side: the latest values of every entity of a group version, for lookups at
inference, kept fresh by ``mlops.features.materialize``.

``OnlineStore`` is what a store offers:

- ``write(gv, rows)``: rows (a pyarrow Table with the group's keys, event time and features; one row per
  entity) replace what the store holds for those entities;
- ``get(gv, entities, now_us=None)``: for each entity (a mapping of the group's key names to values) its
  latest values with the event time, or None when the store has none or they are outside the group's TTL at
  ``now_us`` (default: the store's clock) — ``now - ttl <= event time <= now``, the point-in-time rule of
  ``mlops.features.pit`` applied to the one row the store holds;
- ``watermark(gv)`` / ``set_watermark(gv, batch)``: the last offline batch materialized into the store.

Encoding, shared by every store: an entity key is the msgpack encoding of its key values (typed by the
definition, in key order), a value is the msgpack encoding of ``[event_us, feature values...]``
(timestamps as microseconds). Stores: ``SqliteOnlineStore`` (the embedded default; stdlib ``sqlite3``, WAL,
one ``WITHOUT ROWID`` table per group version keyed by the encoded entity key) and
``mlops.features.online_redis.RedisOnlineStore`` (OCI Cache speaks the Redis protocol);
``mlops.features.online_open.open_online(url)`` opens either from ``sqlite:PATH`` or ``redis://HOST:PORT[/DB]``
(``rediss://`` for TLS).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from mlops.errors import BadRequestError
from mlops.features.groups import GroupVersion

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OnlineStore(Protocol):
    url: str

    def write(self, gv: GroupVersion, rows: Any) -> int: ...

    def get(
        self, gv: GroupVersion, entities: Sequence[Mapping[str, Any]], *, now_us: int | None = None
    ) -> list[dict[str, Any] | None]: ...

    def watermark(self, gv: GroupVersion) -> int: ...

    def set_watermark(self, gv: GroupVersion, batch: int) -> None: ...

    def close(self) -> None: ...


def _us_to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class Codec:
    """Entity keys and rows of one group version as bytes, and back."""

    def __init__(self, gv: GroupVersion):
        import msgspec

        g = gv.group
        self.gv = gv
        self.keys = g.entity_keys
        self.event_time = g.event_time
        self.names = g.feature_names
        self.timestamps = [i for i, f in enumerate(g.features) if f.type == "timestamp"]
        self.ttl_us = g.ttl_us
        self._enc = msgspec.msgpack.Encoder()
        self._dec = msgspec.msgpack.Decoder()

    def key(self, entity: Mapping[str, Any]) -> bytes:
        """The encoded key of one entity; ``BadRequestError`` names a missing or ill-typed key."""
        if not isinstance(entity, Mapping):
            raise BadRequestError(f"an entity must be a mapping of {self._names()}", code="invalid_entity")
        values = []
        for k in self.keys:
            if k.name not in entity:
                raise BadRequestError(
                    f"entity lacks key {k.name!r} of feature group {self.gv.ref}", code="invalid_entity"
                )
            values.append(self._key_value(k.name, k.type, entity[k.name]))
        return self._enc.encode(values)

    def _names(self) -> str:
        return ", ".join(k.name for k in self.keys)

    def _key_value(self, name: str, kind: str, value: Any) -> Any:
        if kind == "string" and isinstance(value, str):
            return value
        if kind == "int64":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                try:
                    return int(value)
                except ValueError:
                    pass
        raise BadRequestError(
            f"entity key {name!r} of {self.gv.ref} must be {kind}, got {str(value)[:40]!r}",
            code="invalid_entity",
        )

    def encode_rows(self, rows: Any) -> tuple[list[bytes], list[bytes], list[int]]:
        """(keys, values, event times in microseconds) of a table of rows, one per entity."""
        import pyarrow as pa

        keys = list(zip(*(rows[k.name].to_pylist() for k in self.keys), strict=True))
        events = rows[self.event_time].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
        cols = []
        for i, name in enumerate(self.names):
            col = rows[name]
            if i in self.timestamps:
                col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
            cols.append(col.to_pylist())
        enc = self._enc.encode
        kb = [enc(list(k)) for k in keys]
        vb = [enc([e, *vals]) for e, *vals in zip(events, *cols, strict=True)]
        return kb, vb, events

    def decode(self, raw: bytes | None, now_us: int) -> dict[str, Any] | None:
        """The row of an encoded value, or None if there is none or it is outside the TTL at ``now_us``."""
        if raw is None:
            return None
        event, *values = self._dec.decode(raw)
        if event > now_us or (self.ttl_us is not None and event < now_us - self.ttl_us):
            return None
        for i in self.timestamps:
            if values[i] is not None:
                values[i] = _us_to_datetime(values[i])
        out = dict(zip(self.names, values, strict=True))
        out[self.event_time] = _us_to_datetime(event)
        return out


class BaseOnlineStore:
    """What every store shares: codecs per group version and the clock; subclasses move bytes."""

    url = ""

    def __init__(self, clock: Callable[[], float] | None = None):
        self.clock = clock or time.time
        self._codecs: dict[tuple[str, int], Codec] = {}

    def codec(self, gv: GroupVersion) -> Codec:
        ident = (gv.group.name, gv.version)
        c = self._codecs.get(ident)
        if c is None or c.gv.group != gv.group:
            c = self._codecs[ident] = Codec(gv)
        return c

    def now_us(self) -> int:
        return int(round(self.clock() * 1_000_000))

    def write(self, gv: GroupVersion, rows: Any) -> int:
        if rows is None or rows.num_rows == 0:
            return 0
        keys, values, events = self.codec(gv).encode_rows(rows)
        self._put(gv, keys, values, events)
        return len(keys)

    def get(
        self, gv: GroupVersion, entities: Sequence[Mapping[str, Any]], *, now_us: int | None = None
    ) -> list[dict[str, Any] | None]:
        c = self.codec(gv)
        keys = [c.key(e) for e in entities]
        now = self.now_us() if now_us is None else now_us
        return [c.decode(raw, now) for raw in self._get(gv, keys)]

    def _put(self, gv: GroupVersion, keys: list[bytes], values: list[bytes], events: list[int]) -> None:
        raise NotImplementedError

    def _get(self, gv: GroupVersion, keys: list[bytes]) -> list[bytes | None]:
        raise NotImplementedError


class SqliteOnlineStore(BaseOnlineStore):
    """The embedded online store: one SQLite file (WAL), a table per group version."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] | None = None):
        super().__init__(clock)
        self.path = Path(path).expanduser().resolve()
        self.url = f"sqlite:{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, cached_statements=256
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS online_watermarks (grp TEXT NOT NULL, version INTEGER NOT NULL, "
            "batch INTEGER NOT NULL, updated_us INTEGER NOT NULL, PRIMARY KEY (grp, version)) WITHOUT ROWID"
        )
        self._tables: set[str] = set()

    def _table(self, gv: GroupVersion) -> str:
        name = f'"fs_{gv.group.name}_v{gv.version}"'  # group names: letters, digits, '.', '_', '-'
        if name not in self._tables:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {name} (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
            )
            self._tables.add(name)
        return name

    def _put(self, gv: GroupVersion, keys: list[bytes], values: list[bytes], events: list[int]) -> None:
        with self._lock:
            table = self._table(gv)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {table} (k, v) VALUES (?, ?)", zip(keys, values, strict=True)
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _get(self, gv: GroupVersion, keys: list[bytes]) -> list[bytes | None]:
        with self._lock:
            table = self._table(gv)
            if len(keys) == 1:
                row = self._db.execute(f"SELECT v FROM {table} WHERE k = ?", keys).fetchone()
                return [row[0] if row else None]
            found: dict[bytes, bytes] = {}
            for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT k, v FROM {table} WHERE k IN ({marks})", chunk))
        return [found.get(k) for k in keys]

    def watermark(self, gv: GroupVersion) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT batch FROM online_watermarks WHERE grp = ? AND version = ?",
                (gv.group.name, gv.version),
            ).fetchone()
        return int(row[0]) if row else 0

    def set_watermark(self, gv: GroupVersion, batch: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO online_watermarks (grp, version, batch, updated_us) VALUES (?, ?, ?, ?)",
                (gv.group.name, gv.version, batch, self.now_us()),
            )

    def count(self, gv: GroupVersion) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM {self._table(gv)}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
