"""The labelled production dataset: late, out-of-order, duplicated and unknown labels; retention."""

from __future__ import annotations

import pyarrow as pa
import pytest
from mlops.errors import BadRequestError
from mlops.production import build, build_labelled, compact_all

from tests.unit.production.world import World


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def fb(pid, actual):
    return {"prediction_id": pid, "actual": actual}


def test_late_out_of_order_duplicate_and_unknown_labels(world):
    svc = world.service(sample_rate=0.0, retain_features=True)
    day1 = world.predict(svc, 4, "2026-04-01T09:00:00.000Z")
    near_midnight = world.predict(svc, 1, "2026-04-01T23:59:59.500Z")
    outside = world.predict(svc, 1, "2026-04-03T00:00:00.000Z")  # after the window
    ids = [r["prediction_id"] for r in day1 + near_midnight]
    # a label that arrives before its prediction's object is shipped (out of order)
    early = world.feedback(svc, [fb(ids[0], 0)], "2026-04-01T09:00:01Z")
    world.ship(early, "2026-04-01T09:00:02Z")
    world.ship(day1, "2026-04-01T09:01:00Z")
    world.ship(near_midnight, "2026-04-02T00:00:10Z")  # rolled the next day
    world.ship(outside, "2026-04-03T00:00:10Z")
    # days late: three days later, a corrected label for ids[0], labels for ids[1] and the midnight one
    late = world.feedback(svc, [fb(ids[0], 1), fb(ids[1], 0), fb(ids[4], 1)], "2026-04-04T12:00:00Z")
    # a re-delivered older label for ids[1], read after the newer one: the latest ts still wins
    stale = world.feedback(svc, [fb(ids[1], 1)], "2026-04-02T08:00:00Z")
    unknown = world.feedback(
        svc, [fb("0" * 32, 1), fb(outside[0]["prediction_id"], 0)], "2026-04-04T12:00:00Z"
    )
    world.ship(late + unknown, "2026-04-04T12:00:01Z")
    world.ship(stale, "2026-04-05T08:00:00Z")
    world.ship(day1[:2], "2026-04-05T09:00:00Z")  # a log object delivered twice
    compact_all(world.store, "ep")

    res = build(world.store, "ep", "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z")
    s = res.stats
    assert (
        s.predictions == 5 and s.duplicate_predictions == 0
    )  # the re-delivered copy lies outside the read days
    rows = {r["prediction_id"]: r for r in res.table.to_pylist()}
    assert set(rows) == {ids[0], ids[1], ids[4]}
    assert rows[ids[0]]["label"] == 1 and rows[ids[1]]["label"] == 0 and rows[ids[4]]["label"] == 1
    assert rows[ids[0]]["a"] == day1[0]["features"]["a"]  # the features as logged at prediction time
    assert s.labelled == 3 and s.rows == 3 and s.feedback_superseded == 2
    assert s.feedback_unmatched == 2  # an unknown id and a prediction of another window
    assert res.table.schema.field("label").type == pa.int64()
    assert res.table.schema.field("prediction_ts").type == pa.timestamp("ms", tz="UTC")
    assert res.table.column("prediction_ts").to_pylist() == sorted(
        res.table.column("prediction_ts").to_pylist()
    )
    assert any(src.endswith("date=2026-04-04/batch-000001.json") for src in res.sources)


def test_redelivered_predictions_are_deduplicated(world):
    svc = world.service(sample_rate=1.0)
    recs = world.predict(svc, 3, "2026-04-10T09:00:00Z")
    world.ship(recs, "2026-04-10T09:01:00Z")
    world.ship(recs, "2026-04-10T09:02:00Z")
    world.ship(
        world.feedback(svc, [fb(r["prediction_id"], "yes") for r in recs], "2026-04-10T10:00:00Z"),
        "2026-04-10T10:00:01Z",
    )
    compact_all(world.store, "ep")
    res = build(world.store, "ep", "2026-04-10", "2026-04-11")
    assert res.stats.duplicate_predictions == 3 and res.stats.rows == 3
    assert res.table.column("label").to_pylist() == ["yes"] * 3


def test_labels_beyond_the_horizon_and_predictions_without_features_are_counted(world):
    sampled_only = world.service(sample_rate=0.0)  # features neither sampled nor retained
    retained = world.service(sample_rate=0.0, retain_features=True)
    a = world.predict(sampled_only, 2, "2026-05-01T09:00:00Z")
    b = world.predict(retained, 2, "2026-05-01T09:00:00Z")
    assert all("features" not in r for r in a) and all(r["features"] and r["sampled"] is False for r in b)
    world.ship(a + b, "2026-05-01T09:01:00Z")
    labels = [fb(r["prediction_id"], 1) for r in a + b[:1]]
    world.ship(world.feedback(retained, labels, "2026-05-03T09:00:00Z"), "2026-05-03T09:00:01Z")
    world.ship(
        world.feedback(retained, [fb(b[1]["prediction_id"], 0)], "2026-05-09T09:00:01Z"),
        "2026-05-09T09:00:02Z",
    )
    compact_all(world.store, "ep")
    res = build(world.store, "ep", "2026-05-01", "2026-05-02", horizon_days=7)
    s = res.stats
    assert (s.labelled, s.labelled_without_features, s.rows, s.feedback_beyond_horizon) == (3, 2, 1, 1)
    assert res.table.column("prediction_id").to_pylist() == [b[0]["prediction_id"]]
    wider = build(world.store, "ep", "2026-05-01", "2026-05-02", horizon_days=30)
    assert wider.stats.rows == 2 and wider.stats.feedback_beyond_horizon == 0


def test_model_filter_shadow_rows_and_bad_windows(world):
    svc = world.service(sample_rate=1.0)
    recs = world.predict(svc, 2, "2026-06-01T09:00:00Z")
    shadow = [dict(r, variant="shadow", model="m") for r in recs]
    world.ship(recs + shadow, "2026-06-01T09:01:00Z")
    world.ship(
        world.feedback(svc, [fb(r["prediction_id"], 1) for r in recs], "2026-06-01T10:00:00Z"),
        "2026-06-01T10:00:01Z",
    )
    compact_all(world.store, "ep")
    t = build_labelled(world.store, "ep", "2026-06-01", "2026-06-02")
    assert t.num_rows == 2 and set(t.column("variant").to_pylist()) == {"stable"}
    assert build_labelled(world.store, "ep", "2026-06-01", "2026-06-02", model="other").num_rows == 0
    assert build_labelled(world.store, "ep", "2026-07-01", "2026-07-02").num_rows == 0
    with pytest.raises(BadRequestError):
        build(world.store, "ep", "2026-06-02", "2026-06-01")
    with pytest.raises(BadRequestError):
        build(world.store, "ep", "soon", "2026-06-01")
