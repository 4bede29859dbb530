"""mlops.ttlcache: freshness by age or absolute expiry, stale values, bounds, load-through, with a fake clock."""

from __future__ import annotations

import pytest
from mlops.ttlcache import TTLCache

from tests.harness import ManualClock


def test_an_entry_is_fresh_for_ttl_seconds_then_dropped():
    clock = ManualClock(0.0)
    c: TTLCache[str, int] = TTLCache(10.0, clock=clock)
    c.put("a", 1)
    clock.t = 9.999
    assert c.get("a") == 1
    clock.t = 10.0
    assert c.get("a") is None and len(c) == 0
    assert (c.hits, c.misses) == (1, 1)


def test_an_absolute_expiry_overrides_the_ttl_and_an_expired_value_is_not_stored():
    clock = ManualClock(100.0)
    c: TTLCache[str, str] = TTLCache(clock=clock)
    assert c.put("k", "v", expires_at=105.0)
    assert not c.put("old", "v", expires_at=100.0)
    assert c.get("old") is None
    clock.t = 104.9
    assert c.get("k") == "v"
    clock.t = 105.0
    assert c.get("k") is None


def test_keep_stale_serves_the_last_value_and_max_age_is_per_lookup():
    clock = ManualClock(0.0)
    c: TTLCache[str, int] = TTLCache(10.0, keep_stale=True, clock=clock)
    c.put("a", 1)
    clock.t = 5.0
    assert c.get("a", max_age_s=5.0) is None and c.get("a", max_age_s=6.0) == 1
    clock.t = 50.0
    assert c.get("a") is None and c.stale("a") == 1 and c.age("a") == 50.0


def test_max_entries_drops_the_oldest_insertion():
    c: TTLCache[int, int] = TTLCache(max_entries=2, clock=ManualClock(0.0))
    for i in range(3):
        c.put(i, i)
    assert c.get(0) is None and c.get(1) == 1 and c.get(2) == 2


def test_get_or_load_loads_once_per_ttl_and_stamps_the_time_of_the_lookup():
    clock = ManualClock(0.0)
    calls = []

    def load() -> int:
        calls.append(clock.t)
        clock.t += 3.0  # a slow read: the entry's age counts from before it
        return len(calls)

    c: TTLCache[str, int] = TTLCache(10.0, clock=clock)
    assert c.get_or_load("a", load) == 1
    clock.t = 9.9
    assert c.get_or_load("a", load) == 1
    clock.t = 10.0
    assert c.get_or_load("a", load) == 2 and calls == [0.0, 10.0]


def test_get_or_load_failures_serve_stale_not_restamped_else_default_else_raise():
    clock = ManualClock(0.0)
    c: TTLCache[str, str] = TTLCache(1.0, keep_stale=True, clock=clock)

    def boom() -> str:
        raise OSError("down")

    with pytest.raises(OSError):
        c.get_or_load("a", boom, stale_on=(OSError,))
    assert c.get_or_load("a", boom, stale_on=(OSError,), default=lambda: "safe") == "safe"
    clock.t = 0.5
    assert c.get_or_load("a", boom, stale_on=(OSError,)) == "safe"  # fresh default, no read
    clock.t = 2.0
    assert c.get_or_load("a", boom, stale_on=(OSError,), default=lambda: "other") == "safe"  # stale wins
    assert c.age("a") == 2.0  # not re-stamped: the next lookup tries again
    with pytest.raises(ValueError):  # not a stale_on error: raised
        c.get_or_load("a", lambda: (_ for _ in ()).throw(ValueError("bad")), stale_on=(OSError,))
