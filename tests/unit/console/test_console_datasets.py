"""The console's dataset routes through the registry function's real router, over a FileStore holding
dataset versions written by ``DatasetStore`` and model versions that reference them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest
from mlops.console import datasetsview
from mlops.console.app import build_app
from mlops.console.sources import ConsoleSources
from mlops.datasets import DatasetStore
from mlops.function import dispatch
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
from mlops.registry import Registry
from mlops.storage import FileStore
from sklearn.tree import DecisionTreeClassifier

from tests.harness import ManualClock


def _table(rows: int, *, extra: bool) -> pa.Table:
    start = dt.datetime(2026, 3, 1)
    cols = {
        "customer_id": pa.array([f"c{i}" for i in range(rows)]),
        "ts": pa.array([start + dt.timedelta(hours=i) for i in range(rows)], pa.timestamp("us")),
        "tenure": pa.array([None if i % 4 == 0 else float(i) for i in range(rows)], pa.float64()),
    }
    if extra:
        cols["plan"] = pa.array(["basic" if i % 2 else "pro" for i in range(rows)])
    else:
        cols["legacy"] = pa.array([i for i in range(rows)], pa.int64())
    return pa.table(cols)


@pytest.fixture
def dsworld(tmp_path):
    clock = ManualClock()
    store = FileStore(tmp_path / "store")
    reg = Registry(store, clock=clock, actor="alice")
    ds = DatasetStore.for_registry(reg)
    v1 = ds.create("churn-train", _table(8, extra=False), event_time="ts", entity_keys=["customer_id"])
    v2 = ds.create(
        "churn-train",
        _table(10, extra=True),
        event_time="ts",
        entity_keys=["customer_id"],
        lineage={"sources": ["s3://raw/churn/2026-03"], "datasets": ["churn-train:1"]},
        description="March, with plans",
    )
    hold = ds.create("churn-holdout", _table(4, extra=False), event_time="ts")
    X = np.random.default_rng(0).normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    names = ["f0", "f1"]
    reg.register_version("churn", model, X, y, feature_names=names, datasets={"train": "churn-train:1"})
    reg.register_version(
        "churn",
        model,
        X,
        y,
        feature_names=names,
        datasets={"train": "churn-train:2", "holdout": "churn-holdout:1"},
    )
    reg.register_version("other", model, X, y, feature_names=names, datasets={"train": "churn-train:2"})
    reg.register_version("other", model, X, y, feature_names=names)  # references nothing
    router = build_app(reg, ConsoleSources(registry=reg, clock=clock), lambda: {"routes": []})
    return {"store": store, "reg": reg, "router": router, "v1": v1, "v2": v2, "hold": hold}


@pytest.fixture
def call(dsworld):
    def get(url: str, *, scopes: str = "mlops:read"):
        headers = {PRINCIPAL_HEADER: "viewer", SCOPES_HEADER: scopes}
        resp = dispatch(dsworld["router"], Request.from_url("GET", url, headers, b""))
        return resp.status, json.loads(resp.encode())

    return get


def test_the_list_has_each_datasets_newest_version(dsworld, call):
    status, doc = call("/v1/console/datasets")
    assert status == 200
    hold, train = doc["datasets"]  # sorted by name
    v2 = dsworld["v2"].to_dict()
    assert train["name"] == "churn-train" and train["latest_version"] == 2 and train["versions"] == 2
    assert train["rows"] == 10 and train["columns"] == 4 and train["digest"] == v2["digest"]
    assert train["time_range"] == v2["time_range"] and train["time_range"]["min"].startswith("2026-03-01T00")
    assert train["created_by"] == "alice" and train["created_at"] == v2["created_at"]
    assert train["entity_keys"] == ["customer_id"] and train["event_time"] == "ts"
    assert train["description"] == "March, with plans"
    assert (hold["name"], hold["versions"], hold["rows"]) == ("churn-holdout", 1, 4)


def test_the_detail_has_schema_lineage_and_the_referencing_model_versions(dsworld, call):
    status, doc = call("/v1/console/datasets/churn-train")
    assert status == 200 and doc["versions_total"] == 2
    new, old = doc["versions"]
    assert (new["version"], old["version"]) == (2, 1)
    assert new["digest"] == dsworld["v2"].to_dict()["digest"] and new["rows"] == 10
    cols = {c["name"]: c for c in new["columns"]}
    assert list(cols) == ["customer_id", "ts", "tenure", "plan"]
    assert cols["tenure"]["null_count"] == 3 and cols["tenure"]["nullable"] is True  # rows 0, 4, 8
    assert cols["tenure"]["type"] == "double" and cols["customer_id"]["null_count"] == 0
    assert new["entity_keys"] == ["customer_id"] and new["event_time"] == "ts"
    assert new["lineage"]["sources"] == ["s3://raw/churn/2026-03"]
    assert new["parts"] == 1 and "arrow_schema" not in new  # the part list and Arrow bytes stay out
    assert new["referenced_by"] == [
        {"model": "churn", "version": 2, "role": "train"},
        {"model": "other", "version": 1, "role": "train"},
    ]
    assert old["referenced_by"] == [{"model": "churn", "version": 1, "role": "train"}]
    assert doc["references_scan"] == {
        "models": 2,
        "versions": 4,
        "read": doc["references_scan"]["read"],
        "per_model_limit": datasetsview.PER_MODEL,
        "complete": True,
    }
    _, hold = call("/v1/console/datasets/churn-holdout")
    assert hold["versions"][0]["referenced_by"] == [{"model": "churn", "version": 2, "role": "holdout"}]
    assert hold["references_scan"]["read"] == 0  # version records are immutable: read once, then cached
    _, limited = call("/v1/console/datasets/churn-train?limit=1")
    assert [v["version"] for v in limited["versions"]] == [2] and limited["versions_total"] == 2


def test_the_scan_is_bounded_and_says_so(dsworld, call, monkeypatch):
    monkeypatch.setattr(datasetsview, "PER_MODEL", 1)
    datasetsview.REFS._items.clear()
    _, doc = call("/v1/console/datasets/churn-train")
    scan = doc["references_scan"]
    assert scan["versions"] == 2 and scan["complete"] is False and scan["per_model_limit"] == 1
    old = doc["versions"][1]
    assert old["referenced_by"] == []  # churn v1 is beyond the bound: not looked at
    monkeypatch.setattr(datasetsview, "PER_MODEL", 500)
    monkeypatch.setattr(datasetsview, "MAX_READS", 1)
    datasetsview.REFS._items.clear()
    _, doc = call("/v1/console/datasets/churn-train")
    assert doc["references_scan"]["read"] == 1 and doc["references_scan"]["complete"] is False


def test_the_diff_is_the_datasets_packages(dsworld, call):
    status, doc = call("/v1/console/datasets/churn-train/diff?a=1&b=2")
    assert status == 200
    assert (doc["name"], doc["a_version"], doc["b_version"]) == ("churn-train", 1, 2)
    assert doc["columns"]["added"] == ["plan"] and doc["columns"]["removed"] == ["legacy"]
    assert doc["rows"] == {"a": 8, "b": 10, "change": 2}
    assert doc["same_content"] is False and doc["a"] == "churn-train:1" and doc["b"] == "churn-train:2"
    (tenure,) = doc["null_rates"]
    assert tenure["name"] == "tenure" and tenure["a"] == 2 / 8 and tenure["b"] == 3 / 10
    _, same = call("/v1/console/datasets/churn-train/diff?a=2&b=2")
    assert same["same_content"] is True and same["columns"]["added"] == []


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/v1/console/datasets/nothing", 404, "dataset_not_found"),
        ("/v1/console/datasets/nothing/diff?a=1&b=2", 404, "dataset_not_found"),
        ("/v1/console/datasets/churn-train/diff?a=1&b=9", 404, "dataset_not_found"),
        ("/v1/console/datasets/churn-train/diff?a=1", 400, "missing_query"),
        ("/v1/console/datasets/churn-train/diff?a=x&b=2", 400, "invalid_query"),
        ("/v1/console/datasets/churn-train?limit=0", 400, "invalid_query"),
        ("/v1/console/datasets/..bad", 400, None),
    ],
)
def test_bad_parameters_and_unknown_datasets(call, url, status, code):
    got, doc = call(url)
    assert got == status, doc
    err = doc["error"]
    assert set(err) >= {"code", "message", "request_id"} and err["message"]
    if code:
        assert err["code"] == code


def test_the_read_scope_is_needed(call):
    status, doc = call("/v1/console/datasets", scopes="mlops:predict")
    assert status == 403 and doc["error"]["code"] == "missing_scope"


def test_the_routes_never_import_pyarrow(dsworld):
    """The registry function answers these routes from manifests and records alone."""
    code = textwrap.dedent(f"""
        import json, sys
        from mlops.console.app import build_app
        from mlops.console.sources import ConsoleSources
        from mlops.function import dispatch
        from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
        from mlops.registry import Registry
        from mlops.storage import FileStore
        reg = Registry(FileStore({str(dsworld["store"].root)!r}))
        router = build_app(reg, ConsoleSources(registry=reg), lambda: {{"routes": []}})
        h = {{PRINCIPAL_HEADER: "v", SCOPES_HEADER: "mlops:read"}}
        for url in ("/v1/console/datasets", "/v1/console/datasets/churn-train",
                    "/v1/console/datasets/churn-train/diff?a=1&b=2"):
            resp = dispatch(router, Request.from_url("GET", url, h, b""))
            assert resp.status == 200, (url, resp.encode())
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pyarrow", "pandas"))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
