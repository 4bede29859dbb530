"""The drift function's job on real log objects: reports, k-of-n persistence, metrics in one batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.driftjob import DriftJob, DriftJobConfig
from mlops.errors import BadRequestError
from mlops.local.logship import object_created_event
from mlops.monitoring.metrics import MemoryMetrics
from mlops.registry import Registry
from mlops.storage import FileStore
from sklearn.linear_model import LogisticRegression

NAMES = ["a", "b", "c", "d"]


@pytest.fixture
def world(tmp_path):
    store = FileStore(str(tmp_path / "store"))
    reg = Registry(store, actor="alice")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 4))
    y = (X[:, 0] > 0).astype(int)
    v = reg.register_version("m", LogisticRegression().fit(X, y), X, y, feature_names=NAMES)["version"]
    sink = MemoryMetrics()
    job = DriftJob(store, reg, sink, DriftJobConfig(persistence_k=2, persistence_n=3, min_rows=100))
    return store, job, sink, v


def log_object(store, key, X, version, variant="stable", conf=0.9):
    lines = [
        json.dumps(
            {
                "kind": "prediction",
                "ts": "2026-11-22T00:00:00Z",
                "prediction_id": f"{i:032x}",
                "endpoint": "ep",
                "model": "m",
                "version": version,
                "variant": variant,
                "latency_ms": 0.4,
                "prediction": 1,
                "confidence": conf,
                "features": dict(zip(NAMES, row.tolist(), strict=True)),
            },
            separators=(",", ":"),
        )
        for i, row in enumerate(X)
    ]
    lines.append('{"kind":"feedback","prediction_id":"' + "0" * 32 + '","endpoint":"ep","actual":1}')
    lines.append("a function log line that is not a record")
    store.put(key, ("\n".join(lines) + "\n").encode())
    return object_created_event(key, bucket="b", namespace="n", size=1)


def test_null_windows_stay_quiet_and_shifted_windows_alarm_after_k_of_n(world):
    store, job, sink, v = world
    rng = np.random.default_rng(1)
    null = job.run(
        log_object(store, "prediction-logs/ep/2026/11/22/000001.ndjson", rng.normal(size=(800, 4)), v)
    )
    (res,) = null["endpoints"]["ep"]["versions"]
    assert res["window_drifted"] is False and res["drifted"] is False
    shifted = rng.normal(size=(800, 4)) + np.array([1.0, 1.0, 0, 0])
    first = job.run(log_object(store, "prediction-logs/ep/2026/11/22/000002.ndjson", shifted, v))[
        "endpoints"
    ]["ep"]["versions"][0]
    assert first["window_drifted"] is True and first["drifted"] is False  # 1 of the last 3: not yet
    assert set(first["drifted_features"]) == {"a", "b"}
    second = job.run(log_object(store, "prediction-logs/ep/2026/11/22/000003.ndjson", shifted, v))[
        "endpoints"
    ]["ep"]["versions"][0]
    assert second["drifted"] is True  # 2 of the last 3
    html = store.get(second["report"]).data.decode()
    assert "<svg" in html and "https://" not in html
    values = [val for _, val in sink.query("mlops", "drift_detected", {"endpoint": "ep"})]
    assert values == [0.0, 0.0, 1.0]
    assert sink.query("mlops", "confidence_mean", {"endpoint": "ep", "variant": "stable"})


def test_thin_windows_are_skipped_not_judged(world):
    store, job, _, v = world
    out = job.run(log_object(store, "prediction-logs/ep/x/1.ndjson", np.zeros((10, 4)), v))
    assert "min_rows" in out["endpoints"]["ep"]["versions"][0]["skipped"]


def test_events_that_are_not_prediction_logs_are_refused(world):
    _, job, _, _ = world
    with pytest.raises(BadRequestError):
        job.run({"eventType": "com.oraclecloud.objectstorage.deleteobject", "data": {}})
    with pytest.raises(BadRequestError):
        job.run(object_created_event("reports/x.json", bucket="b", namespace="n", size=1))


def test_mlops_drift_reports_and_show(world, tmp_path, capsys):
    from mlops.cli import main

    store, job, _, v = world
    shifted = np.random.default_rng(2).normal(size=(500, 4)) + 2
    job.run(log_object(store, "prediction-logs/ep/2026/11/22/000009.ndjson", shifted, v))
    (tmp_path / "Pulumi.yaml").write_text("name: mlops\nruntime: python\n")
    (tmp_path / "Pulumi.t.yaml").write_text(
        f"config:\n  mlops:store:\n    backend: file\n    path: {store.root}\n"
    )
    base = ["--project-dir", str(tmp_path), "--stack", "t", "drift"]
    assert main([*base, "reports", "ep"]) == 0
    out = capsys.readouterr().out
    assert "reports/drift/ep/m-v1/" in out and "True" in out
    assert main([*base, "show", "latest:ep", "--html"]) == 0
    assert capsys.readouterr().out.lower().startswith("<!doctype html>")
    assert main([*base, "show", "latest:nobody"]) == 1
    assert "no drift reports" in capsys.readouterr().err


def test_cloud_connector_objects_are_read_from_the_logs_bucket_and_normalized(world):
    import gzip

    from mlops.driftjob import LogObject

    store, job, sink, v = world
    job.clock = lambda: (
        1_764_000_000.0
    )  # the normalized key carries the time: a run must not straddle a second
    rng = np.random.default_rng(5)
    records = [
        {
            "kind": "prediction",
            "ts": "2026-11-22T00:00:00Z",
            "prediction_id": f"{i:032x}",
            "endpoint": "ep",
            "model": "m",
            "version": v,
            "variant": "stable",
            "latency_ms": 0.3,
            "prediction": 0,
            "confidence": 0.8,
            "features": dict(zip(NAMES, rng.normal(size=4).tolist(), strict=True)),
        }
        for i in range(300)
    ]
    entries = "\n".join(
        json.dumps({"datetime": 1, "logContent": {"data": {"message": json.dumps(r)}}}) for r in records
    )
    logs_bucket = {("mlops-logs", "conn/2026/x.log.gz"): gzip.compress(entries.encode())}
    seen, verdicts = [], []
    job.log_reader = lambda obj: seen.append(obj) or logs_bucket[(obj.bucket, obj.key)]
    job.after_window = lambda endpoint: verdicts.append(endpoint) or {"action": "none"}
    event = object_created_event("conn/2026/x.log.gz", bucket="mlops-logs", namespace="ns", size=1)
    out = job.run(event)
    assert seen == [LogObject("conn/2026/x.log.gz", "mlops-logs", "ns")] and verdicts == ["ep"]
    key = out["endpoints"]["ep"]["normalized"]
    assert key.startswith("prediction-logs/ep/") and len(store.get(key).data.splitlines()) == 300
    assert out["endpoints"]["ep"]["versions"][0]["window_drifted"] is False
    assert job.run(event)["endpoints"]["ep"]["normalized"] == key  # redelivery writes nothing new
    assert len(list(store.list("prediction-logs/ep/"))) == 1


def test_a_redelivered_event_writes_no_second_report(world):
    """issue 13 F: an event delivered again (retry after a store outage) is recognised, not re-judged."""
    store, job, sink, v = world
    rng = np.random.default_rng(3)
    event = log_object(store, "prediction-logs/ep/2026/11/22/000009.ndjson", rng.normal(size=(300, 4)), v)
    first = job.run(event)
    again = job.run(event)
    assert again["duplicate"] is True and again["endpoints"] == first["endpoints"]
    reports = [k for k in store.list("reports/drift/ep/") if k.endswith(".json")]
    assert len(reports) == 1
    history = json.loads(store.get("drift-state/ep/m-v1.json").data)["history"]
    assert history == [False]
    assert len(sink.query("mlops", "drift_detected", {"endpoint": "ep"})) == 1
