"""``open_online(url)``: an online store (``mlops.features.online``) from ``sqlite:PATH`` or ``redis://...``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from mlops.errors import BadRequestError, UnavailableError
from mlops.features.online import SqliteOnlineStore


class OnlineStoreUrlError(BadRequestError):
    code = "invalid_online_store"


def open_online(url: str, *, clock: Callable[[], float] | None = None) -> Any:
    """An online store from ``sqlite:PATH`` (or a bare path ending in .sqlite/.db) or
    ``redis://HOST:PORT[/DB]`` / ``rediss://...``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from mlops.features.online_redis import RedisOnlineStore

        return RedisOnlineStore.from_url(url, clock=clock)
    path = url.removeprefix("sqlite:") if url.startswith("sqlite:") else None
    if path is None and url.endswith((".sqlite", ".db")):
        path = url
    if not path:
        raise OnlineStoreUrlError(
            f"online store {url[:80]!r}: use sqlite:PATH or redis://HOST:PORT[/DB] (rediss:// for TLS)"
        )
    try:
        return SqliteOnlineStore(path, clock=clock)
    except (OSError, sqlite3.Error) as exc:
        raise UnavailableError(
            f"online store {url[:80]!r} cannot be opened: {exc}", code="online_store_unavailable"
        ) from None
