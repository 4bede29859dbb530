"""A small time-to-live cache with an injectable clock, the one behind every cache of the serving path.

An entry is fresh while ``now - stored_at < ttl_s`` or, when it was stored with its own absolute
``expires_at``, while ``now < expires_at``. What a user does with a stale entry is the user's rule:
``keep_stale=True`` keeps it for :meth:`TTLCache.stale` (serve the last value while the source is
down: secrets, canary weights), otherwise :meth:`TTLCache.get` drops it (authorizer answers).
``max_entries`` bounds the size, the oldest insertion going first. ``hits``/``misses`` count lookups.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Entry(NamedTuple, Generic[V]):
    value: V
    stored_at: float
    expires_at: float | None  # absolute expiry; None: ``stored_at + ttl_s``


class TTLCache(Generic[K, V]):
    """Values by key, each fresh for ``ttl_s`` after it was stored (or until its own ``expires_at``)."""

    def __init__(
        self,
        ttl_s: float = math.inf,
        *,
        max_entries: int | None = None,
        keep_stale: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s, self.max_entries, self.keep_stale, self.clock = ttl_s, max_entries, keep_stale, clock
        self._d: OrderedDict[K, Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._d)

    def fresh(self, entry: Entry[V], now: float, max_age_s: float | None = None) -> bool:
        """Whether ``entry`` may be served at ``now`` (and is younger than ``max_age_s``, if given)."""
        if entry.expires_at is not None:
            ok = entry.expires_at > now
        else:
            ok = now - entry.stored_at < self.ttl_s
        return ok and (max_age_s is None or now - entry.stored_at < max_age_s)

    def get(self, key: K, *, max_age_s: float | None = None) -> V | None:
        """The fresh value of ``key``, or None (a stale entry is dropped unless ``keep_stale``)."""
        entry = self._d.get(key)
        if entry is not None:
            if self.fresh(entry, self.clock(), max_age_s):
                self.hits += 1
                return entry.value
            if not self.keep_stale:
                with self._lock:
                    self._d.pop(key, None)
        self.misses += 1
        return None

    def stale(self, key: K) -> V | None:
        """The last value stored for ``key`` whatever its age (None if there is none)."""
        entry = self._d.get(key)
        return None if entry is None else entry.value

    def age(self, key: K) -> float | None:
        """Seconds since ``key`` was stored, or None."""
        entry = self._d.get(key)
        return None if entry is None else self.clock() - entry.stored_at

    def put(self, key: K, value: V, *, now: float | None = None, expires_at: float | None = None) -> bool:
        """Store ``value`` as of ``now`` (default: the clock); False, and nothing stored, if already expired."""
        now = self.clock() if now is None else now
        if expires_at is not None and expires_at <= now:
            return False
        with self._lock:
            self._d[key] = Entry(value, now, expires_at)
            if self.max_entries is not None and len(self._d) > self.max_entries:
                self._d.popitem(last=False)
        return True

    def get_or_load(
        self,
        key: K,
        load: Callable[[], V],
        *,
        max_age_s: float | None = None,
        stale_on: tuple[type[Exception], ...] = (),
        default: Callable[[], V] | None = None,
    ) -> V:
        """The fresh value, else ``load()`` stored as of the time of the lookup.

        When ``load`` raises one of ``stale_on``: the last value (not re-stamped, so the next call
        tries again), else ``default()`` stored as a fresh value when given, else the exception.
        """
        now = self.clock()
        entry = self._d.get(key)
        if entry is not None and self.fresh(entry, now, max_age_s):
            self.hits += 1
            return entry.value
        self.misses += 1
        try:
            value = load()
        except stale_on:
            if entry is not None:
                return entry.value
            if default is None:
                raise
            value = default()
        self.put(key, value, now=now)
        return value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
