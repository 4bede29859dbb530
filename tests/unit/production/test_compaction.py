"""Compaction: log objects of a day -> Parquet partitions + an exclusive manifest; once per line."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest
from mlops.errors import BadRequestError
from mlops.production import compact, compact_all, manifests
from mlops.production.compact import parse_day
from mlops.production.labelled import read_partitions

from tests.unit.production.world import World


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def _ids(store, day, kind):
    t, _ = read_partitions(store, "ep", [parse_day(day)], kind)
    return [] if t is None else t.column("prediction_id").to_pylist()


def test_compaction_types_the_records_and_is_idempotent(world):
    svc = world.service(sample_rate=0.0, retain_features=True)
    p1 = world.predict(svc, 5, "2026-03-01T10:00:00.000Z")
    fb = world.feedback(svc, [{"prediction_id": p1[0]["prediction_id"], "actual": 1}], "2026-03-01T10:05:00Z")
    world.ship(p1 + fb, "2026-03-01T10:06:00Z")
    world.ship(world.predict(svc, 3, "2026-03-01T11:00:00.000Z"), "2026-03-01T11:01:00Z")

    r = compact(world.store, "ep", "2026-03-01")
    assert r.batch == 1 and len(r.sources) == 2
    assert (r.counts.predictions, r.counts.feedback, r.counts.with_features) == (8, 1, 8)
    assert all(f["key"].startswith("compacted/ep/date=2026-03-01/") for f in r.files)
    assert {f["kind"] for f in r.files} == {"predictions", "feedback"}
    assert world.store.exists("compacted/ep/date=2026-03-01/batch-000001.json")

    preds, sources = read_partitions(world.store, "ep", [parse_day("2026-03-01")], "predictions")
    assert sources == ["compacted/ep/date=2026-03-01/batch-000001.json"]
    assert preds.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert preds.schema.field("version").type == pa.int64()
    assert preds.schema.field("features.a").type == pa.float64()
    row = preds.slice(0, 1).to_pylist()[0]
    assert row["prediction_id"] == p1[0]["prediction_id"] and row["features.a"] == p1[0]["features"]["a"]
    assert row["has_features"] is True and row["version"] == world.version

    again = compact(world.store, "ep", "2026-03-01")  # nothing new: nothing written
    assert again.batch is None and len(manifests(world.store, "ep", parse_day("2026-03-01"))) == 1


def test_late_objects_of_a_day_become_a_second_batch_never_lost_nor_double_counted(world):
    svc = world.service(sample_rate=1.0)
    first = world.predict(svc, 4, "2026-03-01T10:00:00Z")
    world.ship(first, "2026-03-01T10:01:00Z")
    assert compact(world.store, "ep", "2026-03-01").batch == 1
    late = world.predict(svc, 6, "2026-03-01T23:59:00Z")
    world.ship(late, "2026-03-01T23:59:30Z")
    r2 = compact(world.store, "ep", "2026-03-01")
    assert r2.batch == 2 and len(r2.sources) == 1 and r2.counts.predictions == 6
    ids = _ids(world.store, "2026-03-01", "predictions")
    assert sorted(ids) == sorted(r["prediction_id"] for r in first + late)  # each line exactly once
    assert compact(world.store, "ep", "2026-03-01").batch is None


def test_racing_compactors_cover_every_object_exactly_once(world):
    svc = world.service(sample_rate=1.0)
    expected = []
    for h in range(6):
        recs = world.predict(svc, 3, f"2026-03-02T0{h}:00:00Z")
        expected += [r["prediction_id"] for r in recs]
        world.ship(recs, f"2026-03-02T0{h}:00:30Z")
    errors: list[BaseException] = []

    def run():
        try:
            compact(world.store, "ep", "2026-03-02")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    ms = manifests(world.store, "ep", parse_day("2026-03-02"))
    covered = [s for m in ms for s in m["sources"]]
    assert len(covered) == len(set(covered)) == 6
    assert sorted(_ids(world.store, "2026-03-02", "predictions")) == sorted(expected)


def test_feature_sets_of_different_versions_unify_by_name(world):
    svc = world.service(sample_rate=1.0)
    recs = world.predict(svc, 2, "2026-03-03T10:00:00Z")
    newer = world.predict(svc, 2, "2026-03-03T10:00:01Z")
    for r in newer:  # a later version with one more (categorical) feature and one fewer
        r["version"] = 7
        r["features"].pop("d")
        r["features"]["e"] = "red"
    world.ship(recs, "2026-03-03T10:01:00Z")
    compact(world.store, "ep", "2026-03-03", chunk_rows=2)  # each version its own chunk and file
    world.ship(newer, "2026-03-03T10:02:00Z")
    compact(world.store, "ep", "2026-03-03")
    t, _ = read_partitions(world.store, "ep", [parse_day("2026-03-03")], "predictions")
    rows = {r["prediction_id"]: r for r in t.to_pylist()}
    assert rows[recs[0]["prediction_id"]]["features.e"] is None
    assert rows[newer[0]["prediction_id"]]["features.d"] is None
    assert rows[newer[0]["prediction_id"]]["features.e"] == "red"
    assert t.schema.field("features.a").type == pa.float64()


def test_junk_and_other_endpoints_are_counted_not_written(world):
    svc = world.service(sample_rate=1.0)
    recs = world.predict(svc, 2, "2026-03-04T10:00:00Z")
    bad_ts = dict(recs[0], prediction_id="f" * 32, ts="yesterday")
    other = dict(recs[1], prediction_id="e" * 32, endpoint="other")
    world.ship([*recs, bad_ts], "2026-03-04T10:01:00Z")
    key = next(iter(world.store.list("prediction-logs/ep/2026/03/04/")))
    data = world.store.get(key).data + b'{"kind":"prediction","endpoint":"other"' + b"\n"
    import json

    data += json.dumps(other).encode() + b"\nnot json\n"
    world.store.put(key, data)
    r = compact(world.store, "ep", "2026-03-04")
    assert r.counts.predictions == 2 and r.counts.other_endpoint == 1 and r.counts.lines_skipped == 1


def test_compact_all_and_bad_day(world):
    svc = world.service(sample_rate=1.0)
    world.ship(world.predict(svc, 1, "2026-03-05T10:00:00Z"), "2026-03-05T10:00:01Z")
    world.ship(world.predict(svc, 1, "2026-03-06T10:00:00Z"), "2026-03-06T10:00:01Z")
    assert [r.day for r in compact_all(world.store, "ep")] == ["2026-03-05", "2026-03-06"]
    assert all(r.batch is None for r in compact_all(world.store, "ep"))
    with pytest.raises(BadRequestError):
        compact(world.store, "ep", "March 5")


def test_chunks_and_files_are_cut_and_a_new_feature_set_starts_a_new_file(world):
    svc = world.service(sample_rate=1.0)
    recs = world.predict(svc, 12, "2026-03-07T10:00:00Z")
    for r in recs[7:]:
        r["features"]["extra"] = 1.5  # from the 8th row on, another feature set
    world.ship(recs, "2026-03-07T10:01:00Z")
    r = compact(world.store, "ep", "2026-03-07", chunk_rows=3, rows_per_file=5)
    pred_files = [f for f in r.files if f["kind"] == "predictions"]
    # chunks [0-2][3-5] -> file 1 (6 rows), [6-8] has "extra" -> new file, [9-11] -> same file
    assert [f["rows"] for f in pred_files] == [6, 6]
    t, _ = read_partitions(world.store, "ep", [parse_day("2026-03-07")], "predictions")
    assert t.column("prediction_id").to_pylist() == [x["prediction_id"] for x in recs]
    assert t.column("features.extra").to_pylist() == [None] * 7 + [1.5] * 5
