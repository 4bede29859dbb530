"""The console's feature-group routes through the registry function's real router, over a FileStore holding
groups registered by ``register_group`` and batches written by ``ingest`` (some rows quarantined)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from mlops.console import featuresview
from mlops.console.app import build_app
from mlops.console.sources import ConsoleSources
from mlops.features.definition import parse_definition
from mlops.features.groups import register_group
from mlops.features.ingest import ingest
from mlops.features.offline import batch_summary, committed_batches
from mlops.function import dispatch
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.harness import ManualClock

NOW_S = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
DAY_US = 86_400 * 10**6
T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 10**6)


def _definition(name: str, *, extra: bool = False, ttl: str = "30d") -> dict:
    features = [
        {"name": "orders_7d", "type": "int64", "description": "orders in the last 7 days", "nullable": False},
        {"name": "spend_7d", "type": "float64"},
    ]
    if extra:
        features.append({"name": "is_vip", "type": "bool", "description": "a VIP customer"})
    return {
        "name": name,
        "description": "Rolling activity of a customer",
        "owner": "growth-team",
        "entity_keys": [{"name": "customer_id", "type": "string"}],
        "event_time": "event_ts",
        "ttl": ttl,
        "features": features,
    }


def _register(store, doc, when: str):
    gv, created = register_group(store, parse_definition(doc, "x.yaml"), now=lambda: when, actor="alice")
    assert created
    return gv


def _batch(n: int, *, bad: int = 0, day: int = 0, extra: bool = False) -> pa.Table:
    """``n`` rows over two event dates; the first ``bad`` have a null orders_7d (non-nullable), and the
    last has a null key when ``bad`` > 1."""
    times = [T0 + (day + i % 2) * DAY_US + i for i in range(n)]
    cols = {
        "customer_id": pa.array([None if bad > 1 and i == n - 1 else f"c{i}" for i in range(n)]),
        "event_ts": pa.array(times, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "orders_7d": pa.array([None if i < bad else i for i in range(n)], pa.int64()),
        "spend_7d": pa.array([i * 1.5 for i in range(n)], pa.float64()),
    }
    if extra:
        cols["is_vip"] = pa.array([i % 3 == 0 for i in range(n)])
    return pa.table(cols)


@pytest.fixture
def fsworld(tmp_path):
    clock = ManualClock()
    store = FileStore(tmp_path / "store")
    reg = Registry(store, clock=clock, actor="alice")
    _register(store, _definition("customer_activity"), "2026-03-01T00:00:00.000Z")
    r1 = ingest(store, "customer_activity", _batch(6), now=lambda: NOW_S, actor="dana")
    _register(store, _definition("customer_activity", extra=True), "2026-03-02T00:00:00.000Z")
    r2 = ingest(store, "customer_activity", _batch(10, extra=True), now=lambda: NOW_S, actor="dana")
    r3 = ingest(store, "customer_activity", _batch(8, bad=3, day=2, extra=True), now=lambda: NOW_S + 60)
    _register(store, {**_definition("orders", ttl="none"), "owner": ""}, "2026-03-03T00:00:00.000Z")
    router = build_app(reg, ConsoleSources(registry=reg, clock=clock), lambda: {"routes": []})
    return {"store": store, "router": router, "results": (r1, r2, r3)}


@pytest.fixture
def call(fsworld):
    def get(url: str, *, scopes: str = "mlops:read"):
        headers = {PRINCIPAL_HEADER: "viewer", SCOPES_HEADER: scopes}
        resp = dispatch(fsworld["router"], Request.from_url("GET", url, headers, b""))
        return resp.status, json.loads(resp.encode())

    return get


def test_the_list_has_each_groups_latest_version_and_what_features_list_counts(fsworld, call):
    _, _, r3 = fsworld["results"]
    assert r3.rows_quarantined == 4 and r3.rows_ok == 4  # the batch really quarantined rows
    status, doc = call("/v1/console/features")
    assert status == 200
    act, orders = doc["groups"]  # sorted by name
    s = batch_summary(fsworld["store"], "customer_activity", 2)
    assert (act["group"], act["latest_version"], act["versions"]) == ("customer_activity", 2, 2)
    assert (act["rows"], act["quarantined"], act["batches"]) == (s["rows"], s["quarantined"], s["batches"])
    assert (act["rows"], act["quarantined"], act["batches"]) == (14, 4, 2)  # v1's batch is not v2's
    assert act["last_ingested_at"] == s["last_ingested_at"]
    assert act["owner"] == "growth-team" and act["description"] == "Rolling activity of a customer"
    assert act["entity_keys"] == ["customer_id"] and act["event_time"] == "event_ts"
    assert (act["ttl"], act["features"], act["source"]) == ("30d", 3, "ingest")
    assert act["created_by"] == "alice" and act["created_at"] == "2026-03-02T00:00:00.000Z"
    assert (orders["group"], orders["ttl"], orders["owner"], orders["batches"], orders["rows"]) == (
        "orders",
        "none",
        "",
        0,
        0,
    )
    assert orders["last_ingested_at"] is None


def test_the_detail_has_versions_definitions_and_batches_with_their_quarantine(fsworld, call):
    r1, r2, r3 = fsworld["results"]
    status, doc = call("/v1/console/features/customer_activity")
    assert status == 200
    assert (doc["group"], doc["latest_version"], doc["versions_total"]) == ("customer_activity", 2, 2)
    v2, v1 = doc["versions"]
    assert (v2["version"], v1["version"]) == (2, 1)
    assert v2["definition"] == parse_definition(_definition("customer_activity", extra=True), "x").to_doc()
    orders = v2["definition"]["features"][0]
    assert orders == {
        "name": "orders_7d",
        "type": "int64",
        "description": "orders in the last 7 days",
        "nullable": False,
    }
    assert [f["name"] for f in v1["definition"]["features"]] == ["orders_7d", "spend_7d"]
    assert v2["created_at"] == "2026-03-02T00:00:00.000Z" and v2["created_by"] == "alice"
    manifests = list(committed_batches(fsworld["store"], "customer_activity", 2))
    assert [b["batch"] for b in v2["batches"]] == [2, 1] and v2["batches_total"] == 2
    newest, older = v2["batches"]
    m3 = manifests[1]
    assert (newest["rows_in"], newest["rows_ok"], newest["rows_quarantined"]) == (8, 4, 4)
    assert newest["reasons"] == m3["reasons"] == r3.reasons
    assert newest["reasons"] == {
        "customer_id: null entity key": 1,
        "orders_7d: null in a non-nullable feature": 3,
    }
    assert newest["quarantine"] == r3.quarantine and newest["ingested_at"] == m3["ingested_at"]
    assert newest["ingested_by"] == "" and older["ingested_by"] == "dana"
    assert newest["parts"] == len(m3["parts"]) == 2 and "offline/" not in json.dumps(newest)  # no part list
    assert (newest["first_date"], newest["last_date"]) == ("2026-03-03", "2026-03-04")
    assert (older["rows_ok"], older["rows_quarantined"], older["reasons"]) == (r2.rows_ok, 0, {})
    assert v2["offline"]["rows"] == 14 and v2["offline"]["quarantined"] == 4
    assert list(v2["offline"]["reasons"].items()) == [
        ("orders_7d: null in a non-nullable feature", 3),
        ("customer_id: null entity key", 1),
    ]  # most rows first
    assert (v2["offline"]["first_date"], v2["offline"]["last_date"]) == ("2026-03-01", "2026-03-04")
    assert [b["rows_ok"] for b in v1["batches"]] == [r1.rows_ok] and v1["offline"]["batches"] == 1
    _, limited = call("/v1/console/features/customer_activity?limit=1")
    assert [b["batch"] for b in limited["versions"][0]["batches"]] == [2]
    assert limited["versions"][0]["batches_total"] == 2 and limited["versions"][0]["offline"]["rows"] == 14


def test_manifests_are_read_once_and_a_new_batch_shows_up(fsworld, call, monkeypatch):
    featuresview.BATCHES._items.clear()
    call("/v1/console/features/customer_activity")
    reads = []
    real = featuresview.cas.read
    monkeypatch.setattr(
        featuresview.cas,
        "read",
        lambda store, key: ("/batches/" in key and reads.append(key)) or real(store, key),
    )
    _, before = call("/v1/console/features/customer_activity")
    assert reads == []  # every manifest summary came from the cache
    res = ingest(fsworld["store"], "customer_activity", _batch(4, extra=True), now=lambda: NOW_S)
    _, after = call("/v1/console/features/customer_activity")
    assert [k.rsplit("/", 1)[-1] for k in reads] == [f"{res.batch:012d}.json"]
    assert after["versions"][0]["batches"][0]["batch"] == res.batch == 3
    assert after["versions"][0]["offline"]["rows"] == before["versions"][0]["offline"]["rows"] + 4


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/v1/console/features/nothing", 404, "feature_group_not_found"),
        ("/v1/console/features/customer_activity?limit=0", 400, "invalid_query"),
        ("/v1/console/features/customer_activity?limit=x", 400, "invalid_query"),
        ("/v1/console/features/..bad", 400, None),
    ],
)
def test_bad_parameters_and_unknown_groups(call, url, status, code):
    got, doc = call(url)
    assert got == status, doc
    err = doc["error"]
    assert set(err) >= {"code", "message", "request_id"} and err["message"]
    if code:
        assert err["code"] == code


def test_the_read_scope_is_needed(call):
    for url in ("/v1/console/features", "/v1/console/features/customer_activity"):
        status, doc = call(url, scopes="mlops:predict")
        assert status == 403 and doc["error"]["code"] == "missing_scope"


def test_an_empty_store_lists_no_groups(tmp_path):
    reg = Registry(FileStore(tmp_path / "empty"))
    router = build_app(reg, ConsoleSources(registry=reg), lambda: {"routes": []})
    h = {PRINCIPAL_HEADER: "v", SCOPES_HEADER: "mlops:read"}
    resp = dispatch(router, Request.from_url("GET", "/v1/console/features", h, b""))
    assert resp.status == 200 and json.loads(resp.encode()) == {"groups": []}


def test_the_routes_never_import_pyarrow(fsworld):
    """The registry function answers these routes from group documents and batch manifests alone."""
    code = textwrap.dedent(f"""
        import json, sys
        from mlops.console.app import build_app
        from mlops.console.sources import ConsoleSources
        from mlops.function import dispatch
        from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
        from mlops.registry import Registry
        from mlops.storage import FileStore
        reg = Registry(FileStore({str(fsworld["store"].root)!r}))
        router = build_app(reg, ConsoleSources(registry=reg), lambda: {{"routes": []}})
        h = {{PRINCIPAL_HEADER: "v", SCOPES_HEADER: "mlops:read"}}
        for url in ("/v1/console/features", "/v1/console/features/customer_activity"):
            resp = dispatch(router, Request.from_url("GET", url, h, b""))
            assert resp.status == 200, (url, resp.encode())
            assert json.loads(resp.encode()), url
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in ("pyarrow", "pandas", "duckdb"))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
