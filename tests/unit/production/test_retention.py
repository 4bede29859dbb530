"""``retain_features``: every record keeps its features for training; drift still reads the sample only."""

from __future__ import annotations

import json

from mlops.driftjob import DriftJob, DriftJobConfig
from mlops.local.logship import object_created_event
from mlops.monitoring.metrics import MemoryMetrics

from tests.unit.production.world import World


def test_off_by_default_records_are_unchanged(tmp_path):
    w = World(tmp_path)
    recs = w.predict(w.service(sample_rate=0.0), 50, "2026-08-01T00:00:00Z")
    assert all("features" not in r and "sampled" not in r for r in recs)
    recs = w.predict(w.service(sample_rate=1.0), 5, "2026-08-01T00:00:00Z")
    assert all(r["features"] and "sampled" not in r for r in recs)


def test_retained_rows_carry_features_and_say_they_are_outside_the_sample(tmp_path):
    w = World(tmp_path)
    recs = w.predict(w.service(sample_rate=0.3, retain_features=True), 400, "2026-08-01T00:00:00Z")
    assert all(set(r["features"]) == {"a", "b", "c", "d"} for r in recs)
    outside = [r for r in recs if r.get("sampled") is False]
    assert 40 < len(outside) < 400 and all("sampled" not in r for r in recs if r not in outside)


def test_the_drift_job_reads_only_the_monitoring_sample(tmp_path):
    w = World(tmp_path)
    recs = w.predict(w.service(sample_rate=0.25, retain_features=True), 1000, "2026-08-01T00:00:00Z")
    sampled = sum(1 for r in recs if r.get("sampled", True))
    key = "prediction-logs/ep/2026/08/01/000001.ndjson"
    w.store.put(key, "".join(json.dumps(r) + "\n" for r in recs).encode())
    job = DriftJob(w.store, w.reg, MemoryMetrics(), DriftJobConfig(min_rows=10))
    out = job.run(object_created_event(key, bucket="b", namespace="n", size=1))
    (res,) = out["endpoints"]["ep"]["versions"]
    assert res["rows"] == sampled < 1000
