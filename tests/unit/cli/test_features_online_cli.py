"""``mlops features materialize|get``: into the default SQLite online store and an explicit one, then lookups;
bad input is one line on stderr and a non-zero exit."""

from __future__ import annotations

import json

from mlops.cli import main

DEFINITION = """
name: customer_activity
entity_keys:
  - {name: customer_id, type: string}
event_time: event_ts
ttl: none
features:
  - {name: orders_7d, type: int64, nullable: false}
  - {name: spend_7d, type: float64}
"""


def _run(capsys, *words):
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_materialize_then_get(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_ACTOR", "ann")
    monkeypatch.delenv("MLOPS_FEATURES_ONLINE", raising=False)
    store = ["--store", str(tmp_path / "store")]
    (tmp_path / "g.yaml").write_text(DEFINITION)
    assert _run(capsys, "features", "register", str(tmp_path / "g.yaml"), *store)[0] == 0
    (tmp_path / "b.csv").write_text(
        "customer_id,event_ts,orders_7d,spend_7d\n"
        "c-1,2024-03-01T00:00:00Z,3,1.5\nc-1,2024-03-02T00:00:00Z,4,\nc-2,2024-03-01,1,2\n"
    )
    assert _run(capsys, "features", "ingest", "customer_activity", str(tmp_path / "b.csv"), *store)[0] == 0
    code, out, _ = _run(capsys, "features", "materialize", "customer_activity", *store)
    assert code == 0 and "batches 1..1 materialized, 2 entities written to sqlite:" in out
    assert str(tmp_path / "store" / "online" / "features.sqlite") in out
    assert "up to date (batch 1)" in _run(capsys, "features", "materialize", "customer_activity", *store)[1]
    code, out, _ = _run(capsys, "features", "get", "customer_activity", "customer_id=c-1", *store)
    assert code == 0
    assert json.loads(out) == {
        "customer_id": "c-1",
        "orders_7d": 4,
        "spend_7d": None,
        "event_ts": "2024-03-02T00:00:00+00:00",
    }
    explicit = ["--online", f"sqlite:{tmp_path / 'other.sqlite'}"]
    code, out, _ = _run(capsys, "features", "materialize", "customer_activity", *store, *explicit, "--json")
    assert json.loads(out)["entities_written"] == 2
    code, _, err = _run(capsys, "features", "get", "customer_activity", "customer_id=c-9", *store, *explicit)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "no online values" in err
    code, _, err = _run(capsys, "features", "get", "customer_activity", "nope=1", *store)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "KEY=VALUE" in err
    code, _, err = _run(capsys, "features", "materialize", "customer_activity", *store, "--online", "ftp://x")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "sqlite:PATH or redis://" in err


def test_materialize_and_get_with_redis(tmp_path, capsys, monkeypatch):
    from tests.redis_server import redis_server

    monkeypatch.setenv("MLOPS_ACTOR", "ann")
    store = ["--store", str(tmp_path / "store")]
    (tmp_path / "g.yaml").write_text(DEFINITION)
    (tmp_path / "b.csv").write_text(
        "customer_id,event_ts,orders_7d,spend_7d\nc-1,2024-03-01T00:00:00Z,3,1.5\n"
    )
    assert _run(capsys, "features", "register", str(tmp_path / "g.yaml"), *store)[0] == 0
    assert _run(capsys, "features", "ingest", "customer_activity", str(tmp_path / "b.csv"), *store)[0] == 0
    with redis_server(str(tmp_path)) as url:
        monkeypatch.setenv("MLOPS_FEATURES_ONLINE", url)
        code, out, _ = _run(capsys, "features", "materialize", "customer_activity", *store)
        assert code == 0 and f"1 entity written to {url}" in out
        code, out, _ = _run(capsys, "features", "get", "customer_activity", "customer_id=c-1", *store)
        assert code == 0 and json.loads(out)["spend_7d"] == 1.5
