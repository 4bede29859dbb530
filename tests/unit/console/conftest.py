"""A small real world for the console routes: a registry on a FileStore with two approved versions, a
stable and a canary deployment, metrics in SQLite written by the producers' helpers, a drift report made
by the drift job, an alarm evaluated into its state file and notified into an NDJSON file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.console.app import build_app, gateway_spec
from mlops.console.sources import ConsoleSources
from mlops.driftjob import DriftJob, DriftJobConfig
from mlops.function import dispatch
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
from mlops.local.logship import object_created_event
from mlops.monitoring.alarms import AlarmRule
from mlops.monitoring.evaluator import AlarmEvaluator
from mlops.monitoring.metrics import invocation_points
from mlops.monitoring.notify import NdjsonNotifier, publish_events
from mlops.monitoring.reader import SqliteMetricsReader
from mlops.monitoring.sqlite import SqliteMetrics
from mlops.registry import Registry
from mlops.settings import settings_from_config
from mlops.storage import FileStore
from mlops.times import iso
from sklearn.tree import DecisionTreeClassifier

from tests.harness import ManualClock

NAMES = ["a", "b", "c", "d"]
APP = "mlops-t-app"
STABLE_MS = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]


def _model(X, y, depth):
    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)


def _records(X, version, variant, t0, conf, window=0):
    return [
        json.dumps(
            {
                "kind": "prediction",
                "ts": iso(t0 + i * 0.01),
                "prediction_id": f"{variant[0]}{window}{i:030x}",
                "endpoint": "ep",
                "model": "churn",
                "version": version,
                "variant": variant,
                "principal": f"caller-{i % 50}",
                "latency_ms": 1.0,
                "prediction": 1,
                "confidence": conf,
                "features": dict(zip(NAMES, row.tolist(), strict=True)),
            },
            separators=(",", ":"),
        )
        for i, row in enumerate(X)
    ]


def _deploy(reg, clock, X, y):
    v1 = reg.register_version(
        "churn",
        _model(X, y, 2),
        X,
        y,
        feature_names=NAMES,
        params={"max_depth": 2},
        metrics={"acc": 0.8},
        code_commit="c1",
    )["version"]
    v2 = reg.register_version(
        "churn",
        _model(X, y, 3),
        X,
        y,
        feature_names=NAMES,
        params={"max_depth": 3},
        metrics={"acc": 0.85},
        code_commit="c2",
    )["version"]
    for v in (v1, v2):
        reg.request_approval("churn", v, comment="please")
        reg.with_actor("bob").decide_approval("churn", v, "approve", comment="fine")
    clock.tick(60)
    reg.deployments().set_stable("ep", "churn", v1, reason="first deploy")
    clock.tick(600)
    reg.with_actor("carol").deployments().start_canary("ep", v2, 1000, reason="try v2")
    return v1, v2


def _metrics(sqlite, clock):
    now = clock()
    points = []
    for i, ms in enumerate(STABLE_MS):
        points += invocation_points("inference-ep-stable", 200, ms, now - 1800 + i, application=APP)
    points += invocation_points("inference-ep-stable", 502, 500.0, now - 1700, application=APP)
    for i in range(4):
        points += invocation_points("inference-ep-canary", 200, 15.0 + i, now - 1600 + i, application=APP)
    points += invocation_points("inference-ep-stable", 200, 5.0, now - 5 * 86400, application=APP)  # old
    sqlite.put(points)


def _drift(store, reg, sqlite, clock, X, v1, v2):
    job = DriftJob(store, reg, sqlite, DriftJobConfig(persistence_k=2, persistence_n=3, min_rows=100), clock)
    rng = np.random.default_rng(3)
    for n in range(2):
        shifted = rng.normal(size=(400, 4)) + np.array([2.0, 0.0, 0.0, 0.0])
        lines = _records(shifted, v1, "stable", clock() - 30, 0.9, n) + _records(
            rng.normal(size=(120, 4)), v2, "canary", clock() - 20, 0.7, n
        )
        key = f"prediction-logs/ep/2026/09/21/00000{n}.ndjson"
        store.put(key, ("\n".join(lines) + "\n").encode())
        job.run(object_created_event(key, bucket="b", namespace="n", size=1))
        clock.tick(60)


def _alarms(sqlite, clock, tmp_path):
    rule = AlarmRule(
        name="ep-drift-share",
        namespace="mlops",
        metric="drift_share",
        dimensions={"endpoint": "ep"},
        interval="5m",
        statistic="max",
        operator=">",
        threshold=0.1,
        pending_duration="PT1M",
        severity="CRITICAL",
    )
    state = tmp_path / "alarm-state.json"
    notify = tmp_path / "notifications.ndjson"
    ev = AlarmEvaluator(sqlite, [rule], clock, state_path=state)
    notifier = NdjsonNotifier(notify, clock=clock)
    for _ in range(2):
        publish_events(notifier, ev.evaluate())
        clock.tick(60)
    return rule, state, notify


@pytest.fixture
def world(tmp_path):
    clock = ManualClock(1_790_000_000.0)
    store = FileStore(tmp_path / "store")
    reg = Registry(store, clock=clock, actor="alice")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    v1, v2 = _deploy(reg, clock, X, y)
    sqlite = SqliteMetrics(tmp_path / "metrics.sqlite")
    _drift(store, reg, sqlite, clock, X, v1, v2)
    _metrics(sqlite, clock)
    rule, state, notify = _alarms(sqlite, clock, tmp_path)
    src = ConsoleSources(
        registry=reg,
        metrics=SqliteMetricsReader(sqlite),
        namespace="mlops",
        application=APP,
        alarm_rules=[rule],
        alarm_state_path=state,
        notify_file=notify,
        clock=clock,
        endpoints=("ep", "later"),
    )
    settings = settings_from_config(
        {
            "mlops:endpoints": [{"name": "ep", "model": "churn"}],
            "mlops:store": {"backend": "file", "path": "/x"},
        },
        stack="t",
    )
    router = build_app(reg, src, lambda: gateway_spec(settings))
    yield {
        "reg": reg,
        "store": store,
        "clock": clock,
        "src": src,
        "router": router,
        "v1": v1,
        "v2": v2,
        "settings": settings,
        "sqlite": sqlite,
    }
    sqlite.close()


@pytest.fixture
def get(world):
    def call(
        url: str, *, who: str | None = "viewer", scopes: str = "mlops:read", method: str = "GET", body=None
    ):
        headers = {}
        if who:
            headers[PRINCIPAL_HEADER] = who
        if scopes:
            headers[SCOPES_HEADER] = scopes
        raw = json.dumps(body).encode() if body is not None else b""
        if raw:
            headers["content-type"] = "application/json"
        resp = dispatch(world["router"], Request.from_url(method, url, headers, raw))
        return resp.status, json.loads(resp.encode() or b"null") if resp.content_type().startswith(
            "application/json"
        ) else resp.encode()

    return call
