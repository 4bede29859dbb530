"""The online store (SQLite embedded and Redis, the latter against a real redis-server) and materialization:
lookups, TTL, incremental watermarks, and no training/serving skew — for sampled entities and times T the
online vector at T equals the point-in-time offline vector at T."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from mlops.errors import BadRequestError
from mlops.features.definition import parse_definition
from mlops.features.groups import register_group
from mlops.features.ingest import ingest
from mlops.features.materialize import materialize
from mlops.features.online import SqliteOnlineStore
from mlops.features.online_open import open_online
from mlops.features.pit import training_set

from tests.redis_server import redis_server
from tests.unit.features.conftest import NOW_S, T0, ts

S = 1_000_000
DAY = 86_400 * S
FEATURES = ["value", "n", "flag", "tag", "seen"]


class Clock:
    def __init__(self, us: int):
        self.us = us

    def __call__(self) -> float:
        return self.us / S


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(str(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def online(request, tmp_path):
    clock = Clock(T0)
    if request.param == "sqlite":
        store = open_online(f"sqlite:{tmp_path / 'online.sqlite'}", clock=clock)
    else:
        store = open_online(request.getfixturevalue("redis_url"), clock=clock)
        store.client.flushdb()
    yield store
    store.close()


def _group(store, ttl="2d"):
    doc = {
        "name": "g",
        "entity_keys": [{"name": "customer_id", "type": "string"}, {"name": "region", "type": "int64"}],
        "event_time": "event_ts",
        "ttl": ttl,
        "features": [
            {"name": "value", "type": "float64", "nullable": False},
            {"name": "n", "type": "int64"},
            {"name": "flag", "type": "bool"},
            {"name": "tag", "type": "string"},
            {"name": "seen", "type": "timestamp"},
        ],
    }
    gv, _ = register_group(
        store, parse_definition(doc, "g.yaml"), now=lambda: "2026-01-01T00:00:00Z", actor="t"
    )
    return gv


def _feed(store, rows):
    """Ingest rows [(customer_id, region, event_us, value, n, flag, tag, seen_us)] as one batch."""
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "customer_id": pa.array(cols[0], pa.string()),
            "region": pa.array(cols[1], pa.int64()),
            "event_ts": ts(cols[2]),
            "value": pa.array(cols[3], pa.float64()),
            "n": pa.array(cols[4], pa.int64()),
            "flag": pa.array(cols[5], pa.bool_()),
            "tag": pa.array(cols[6], pa.string()),
            "seen": ts(cols[7]),
        }
    )
    res = ingest(store, "g", table, now=lambda: NOW_S)
    assert res.rows_quarantined == 0
    return res


def _row(cid, region, event_us, value):
    return (
        cid,
        region,
        event_us,
        value,
        int(value),
        value > 0,
        None if value < 0 else f"t{value}",
        event_us - S,
    )


def _at(us):
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def test_get_returns_the_latest_row_per_entity_with_its_event_time(store, online):
    gv = _group(store)
    _feed(store, [_row("c1", 1, T0, 1.0), _row("c1", 1, T0 + 5 * S, 2.0), _row("c2", 1, T0, -3.0)])
    _feed(store, [_row("c1", 1, T0 + 3 * S, 9.0)])  # late: an older event changes nothing
    res = materialize(store, online, "g")
    assert (res.from_batch, res.to_batch, res.entities_written) == (0, 2, 2)
    got = online.get(gv, [{"customer_id": "c1", "region": 1}, {"customer_id": "c2", "region": "1"},
                          {"customer_id": "c1", "region": 2}], now_us=T0 + 10 * S)  # fmt: skip
    assert got[0] == {"value": 2.0, "n": 2, "flag": True, "tag": "t2.0", "seen": _at(T0 + 4 * S),
                      "event_ts": _at(T0 + 5 * S)}  # fmt: skip
    assert got[1] is not None and got[1]["tag"] is None and got[1]["value"] == -3.0
    assert got[2] is None  # another region: another entity


def test_ttl_and_rows_from_the_future_are_not_returned(store, online):
    gv = _group(store, ttl="2d")
    _feed(store, [_row("c1", 1, T0, 1.0)])
    materialize(store, online, "g")
    key = [{"customer_id": "c1", "region": 1}]
    assert online.get(gv, key, now_us=T0 + 2 * DAY)[0]["value"] == 1.0  # the TTL's end is included
    assert online.get(gv, key, now_us=T0 + 2 * DAY + 1) == [None]
    assert online.get(gv, key, now_us=T0 - 1) == [None]  # never a value from after `now`
    online.clock.us = T0 + DAY
    assert online.get(gv, key)[0]["value"] == 1.0  # the store's clock when no `now` is given
    online.clock.us = T0 + 3 * DAY
    assert online.get(gv, key) == [None]


def test_materialize_is_incremental_by_batch_watermark(store, online):
    gv = _group(store, ttl="none")
    _feed(store, [_row(f"c{i}", 1, T0 + i, float(i)) for i in range(50)])
    first = materialize(store, online, "g")
    assert (first.from_batch, first.to_batch, first.entities_written) == (0, 1, 50)
    assert materialize(store, online, "g").entities_written == 0  # nothing new
    _feed(store, [_row("c3", 1, T0 + DAY, 33.0), _row("c3", 1, T0 + DAY, 34.0), _row("new", 7, T0, 1.0)])
    second = materialize(store, online, "g")
    assert (second.from_batch, second.to_batch, second.entities_written) == (1, 2, 2)
    assert online.watermark(gv) == 2
    got = online.get(gv, [{"customer_id": "c3", "region": 1}, {"customer_id": "new", "region": 7}],
                     now_us=T0 + 2 * DAY)  # fmt: skip
    assert [g["value"] for g in got] == [34.0, 1.0]  # equal event times: the later row wins, as offline


def test_bad_entities_are_refused_with_the_key_named(store, online):
    gv = _group(store)
    with pytest.raises(BadRequestError, match="lacks key 'region'"):
        online.get(gv, [{"customer_id": "c1"}])
    with pytest.raises(BadRequestError, match="'region' of g@1 must be int64"):
        online.get(gv, [{"customer_id": "c1", "region": "x"}])
    with pytest.raises(BadRequestError, match="must be string"):
        online.get(gv, [{"customer_id": 5, "region": 1}])


def test_open_online_refuses_an_unknown_url(tmp_path):
    with pytest.raises(BadRequestError, match="use sqlite:PATH or redis://"):
        open_online("ftp://x")
    assert isinstance(open_online(str(tmp_path / "a.sqlite")), SqliteOnlineStore)


def test_redis_keys_expire_with_the_groups_ttl(store, redis_url):
    clock = Clock(T0 + DAY)
    online = open_online(redis_url, clock=clock)
    online.client.flushdb()
    gv = _group(store, ttl="2d")
    _feed(store, [_row("fresh", 1, T0, 1.0), _row("old", 1, T0 - 3 * DAY, 2.0)])
    materialize(store, online, "g")
    keys = sorted(online.client.keys("mlops:fs:e:g:v1:*"))
    assert len(keys) == 1  # the row already outside its TTL was not written
    assert DAY / 1000 - 60_000 < online.client.pttl(keys[0]) <= DAY / 1000  # expires at event + ttl
    assert online.get(gv, [{"customer_id": "fresh", "region": 1}])[0]["value"] == 1.0
    online.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_no_training_serving_skew(store, online, seed):
    """Time advances in 5 windows of 2 days. In window k a batch arrives with events of that window, late rows
    of earlier windows and exact duplicates (equal keys and event time) of older rows; it is ingested and
    materialized at T_k, its window's end. For sampled entities (plus unknown ones) and times T from T_k to
    just before the next batch — as the TTL (2 days) expires rows — ``online.get(now=T)`` equals the
    point-in-time offline vector ``training_set`` gives for a label at T, over the same ingested data."""
    rnd = random.Random(seed)
    gv = _group(store, ttl="2d")
    entities = [(f"c{i}", rnd.randint(1, 3)) for i in range(40)]
    history: list[tuple] = []
    found = expired = 0
    for k in range(5):
        start, end = T0 + k * 2 * DAY, T0 + (k + 1) * 2 * DAY
        rows = [_row(c, r, rnd.randrange(start, end), round(rnd.uniform(-5, 5), 3))
                for c, r in rnd.sample(entities, 25)]  # fmt: skip
        rows += [_row(c, r, rnd.randrange(T0, end), 100.0 + k) for c, r in rnd.sample(entities, 5)]  # late
        rows += [
            (*old[:3], 200.0 + k, *_row(*old[:3], 200.0 + k)[4:])
            for old in rnd.sample(history, min(3, len(history)))
        ]
        history += rows
        _feed(store, rows)
        online.clock.us = end
        materialize(store, online, "g")
        sample = rnd.sample(entities, 15) + [("nobody", 1)]
        for t in (end, end + rnd.randrange(DAY), end + 2 * DAY - 1):
            labels = pa.table({"customer_id": [c for c, _ in sample], "region": [r for _, r in sample],
                               "event_timestamp": ts([t] * len(sample))})  # fmt: skip
            offline = training_set(store, labels, ["g"]).select(FEATURES).to_pylist()
            got = online.get(gv, [{"customer_id": c, "region": r} for c, r in sample], now_us=t)
            for entity, off, on in zip(sample, offline, got, strict=True):
                if on is None:
                    assert all(v is None for v in off.values()), (entity, t, off)
                else:
                    assert on.pop("event_ts") <= _at(t)
                    assert on == off, (entity, t)
                found += on is not None
                expired += on is None and entity[0] != "nobody"
    assert found > 50 and expired > 20  # both sides of the TTL were compared


def test_an_unreachable_redis_is_an_unavailable_error(store):
    from mlops.errors import UnavailableError

    from tests.redis_server import _free_port

    gv = _group(store)
    online = open_online(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(UnavailableError, match="online store redis://127.0.0.1:.*: get failed"):
        online.get(gv, [{"customer_id": "c1", "region": 1}])
    online.close()
