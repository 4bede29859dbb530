"""Dataset versions on a real file store: exact round trips, the content digest, verification of every part
before it is parsed, atomic commits (a writer that dies before its manifest leaves no version), diff, lineage
and the audit trail."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from mlops.datasets import DatasetStore, keys
from mlops.errors import BadRequestError, IntegrityError, InvalidNameError, NotFoundError, UnprocessableError
from mlops.storage import FileStore

from tests.unit.datasets.conftest import sample


def batches_of(table: pa.Table, size: int) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=size))


def test_round_trip_keeps_types_values_and_nulls(ds):
    t = sample(20)
    v = ds.create("churn", t, entity_keys=["customer_id"], event_time="ts", description="first")
    assert (v.ref, v.version, v.rows) == ("churn:1", 1, 20)
    assert [p["rows"] for p in v.parts] == [7, 7, 6]
    back = ds.read("churn", 1)
    assert back.schema == t.schema and back.equals(t)
    assert v.schema == t.schema
    nulls = {c["name"]: c["null_count"] for c in v.columns}
    assert nulls == {name: t.column(name).null_count for name in t.column_names}
    assert nulls["tenure"] == 4 and nulls["customer_id"] == 0
    assert v.time_range == {"min": "2026-03-01T00:00:00.000000Z", "max": "2026-03-01T19:00:00.000000Z"}
    assert v.entity_keys == ["customer_id"] and v.event_time == "ts"
    assert {c["name"]: c["type"] for c in v.columns}["ts"] == "timestamp[ns, tz=UTC]"
    assert v.manifest["location"] == {"store": ds.store.url, "prefix": "datasets/churn/parts/"}
    # each part is plain Parquet (zstd, row groups of 3 rows) that any reader opens
    part = pq.ParquetFile(pa.BufferReader(ds.store.get(keys.part_key("churn", v.parts[0]["sha256"])).data))
    assert part.metadata.num_row_groups == 3
    assert part.metadata.row_group(0).column(0).compression == "ZSTD"


def test_columns_filter_scan_and_duckdb(ds):
    ds.create("churn", sample(20), entity_keys=["customer_id"], event_time="ts")
    t = ds.read("churn", columns=["customer_id", "spend"], filter=pc.field("spend") > 20)
    assert t.column_names == ["customer_id", "spend"]
    assert sorted(t.column("spend").to_pylist()) == [i * 1.5 for i in range(14, 20) if i % 4]
    assert ds.read("churn", 1, filter=[("tenure", "<", 3)]).column("tenure").to_pylist() == [1, 2]
    reader = ds.scan("churn", 1, columns=["plan", "spend"])
    rows = duckdb.from_arrow(reader).aggregate("plan, count(*) AS n, sum(spend) AS s", "plan").fetchall()
    plans = sample(20).column("plan").to_pylist()
    assert sorted((r[0] or "", r[1]) for r in rows) == sorted((p or "", plans.count(p)) for p in set(plans))
    with pytest.raises(BadRequestError, match="unknown column 'nope'"):
        ds.read("churn", 1, columns=["nope"])


def test_empty_dataset_has_schema_and_no_time_range(ds):
    t = sample(0)
    v = ds.create("empty", t, event_time="ts")
    assert v.rows == 0 and v.parts == [] and v.time_range == {"min": None, "max": None}
    back = ds.read("empty", 1)
    assert back.num_rows == 0 and back.schema == t.schema


def test_digest_is_stable_across_rewrites_and_chunking(ds):
    t = sample(30)
    a = ds.create("d", t, entity_keys=["customer_id"], event_time="ts")
    b = ds.create("d", batches_of(t, 4), entity_keys=["customer_id"], event_time="ts")
    c = ds.create("d", batches_of(t, 1), entity_keys=["customer_id"], event_time="ts")
    assert a.digest == b.digest == c.digest and a.parts == b.parts == c.parts
    assert a.digest.startswith("sha256:") and len(a.digest) == 71
    # another store, another name: the digest is of the content only
    other = DatasetStore(FileStore(ds.store.root.parent / "other"), rows_per_part=7, row_group_rows=3)
    assert other.create("elsewhere", t, entity_keys=["customer_id"], event_time="ts").digest == a.digest


def test_digest_changes_with_any_value_type_or_key(ds):
    t = sample(30)
    base = ds.create("d", t, entity_keys=["customer_id"], event_time="ts").digest
    spend = t.column("spend").to_pylist()
    spend[17] = 0.25
    changed = t.set_column(t.schema.get_field_index("spend"), "spend", pa.array(spend))
    wider = t.set_column(2, "tenure", t.column("tenure").cast(pa.int64()))
    digests = [
        ds.create("d", changed, entity_keys=["customer_id"], event_time="ts").digest,
        ds.create("d", wider, entity_keys=["customer_id"], event_time="ts").digest,
        ds.create("d", t, entity_keys=[], event_time="ts").digest,
        ds.create("d", t, entity_keys=["customer_id"], event_time="local_time").digest,
        ds.create("d", t.slice(0, 29), entity_keys=["customer_id"], event_time="ts").digest,
    ]
    assert len({base, *digests}) == 6


def test_tampered_or_missing_part_is_refused_before_parsing(ds):
    v = ds.create("churn", sample(20), entity_keys=["customer_id"], event_time="ts")
    key = keys.part_key("churn", v.parts[1]["sha256"])
    good = ds.store.get(key).data
    # another valid Parquet file swapped in: parses fine, so only the sha256 check can refuse it
    sink = pa.BufferOutputStream()
    pq.write_table(sample(7, offset=100), sink)
    for bad in (sink.getvalue().to_pybytes(), good[:-1] + bytes([good[-1] ^ 1])):
        ds.store.put(key, bad)
        with pytest.raises(IntegrityError) as exc:
            ds.read("churn", 1)
        assert exc.value.code == "dataset_part_corrupt" and key in exc.value.message
        with pytest.raises(IntegrityError):
            ds.scan("churn", 1).read_all()
    ds.store.delete(key)
    with pytest.raises(IntegrityError) as exc:
        ds.read("churn", 1)
    assert exc.value.code == "dataset_part_missing"
    ds.store.put(key, good)
    assert ds.read("churn", 1).equals(sample(20))


class ManifestCrash(FileStore):
    """A real file store whose writer dies at the commit point: every part lands, the manifest never does."""

    def put(self, key, data, **kwargs):
        if "/versions/" in key:
            raise RuntimeError("writer killed before its manifest")
        return super().put(key, data, **kwargs)


def test_a_writer_that_dies_before_its_manifest_leaves_no_version(store, reg):
    crashing = DatasetStore(ManifestCrash(store.root), rows_per_part=7)
    with pytest.raises(RuntimeError, match="killed"):
        crashing.create("churn", sample(20), entity_keys=["customer_id"], event_time="ts")
    ds = DatasetStore.for_registry(reg, rows_per_part=7)
    assert list(store.list("datasets/churn/parts/"))  # orphan parts only
    assert list(store.list("datasets/churn/versions/")) == []
    assert ds.names() == [] and ds.versions("churn") == []
    with pytest.raises(NotFoundError):
        ds.get("churn")
    assert not [e for e in reg.audit.entries() if e["action"] == "dataset.create"]
    v = ds.create("churn", sample(20), entity_keys=["customer_id"], event_time="ts")
    assert v.version == 1 and ds.read("churn", 1).equals(sample(20))


def test_names_versions_and_references(ds):
    for name in ("b-set", "a.set", "a", "a-b"):
        ds.create(name, sample(3), event_time="ts")
    ds.create("a", sample(4), event_time="ts")
    # a name with only orphan parts (a crashed first writer) is not a dataset
    ds.store.put("datasets/zz/parts/" + "0" * 64 + ".parquet", b"orphan")
    assert ds.names() == ["a", "a-b", "a.set", "b-set"]
    assert [v.ref for v in ds.latest()] == ["a:2", "a-b:1", "a.set:1", "b-set:1"]
    assert [v.version for v in ds.versions("a")] == [1, 2]
    assert ds.get("a").version == 2 and ds.get("a", "latest").version == 2
    assert ds.get_ref("a:1").rows == 3 and ds.get_ref("a").rows == 4
    with pytest.raises(NotFoundError):
        ds.get("a", 3)
    for bad in ("../a", "a/b", "", ".a"):
        with pytest.raises(InvalidNameError):
            ds.get(bad)
    with pytest.raises(BadRequestError):
        ds.get_ref("a:0")


def test_bad_input_is_refused_before_any_write(ds):
    t = sample(5)
    cases = [
        (dict(event_time="nope"), "unknown_column"),
        (dict(event_time="plan"), "invalid_event_time"),
        (dict(event_time="ts", entity_keys=["missing"]), "unknown_column"),
        (dict(event_time="ts", entity_keys="customer_id"), "invalid_schema"),
        (dict(event_time="ts", lineage={"datasets": ["nope:1"]}), "dataset_not_found"),
        (dict(event_time="ts", lineage={"sources": "x.csv"}), "invalid_lineage"),
        (dict(event_time="ts", lineage={"bad": float("nan")}), "invalid_lineage"),
    ]
    for kwargs, code in cases:
        with pytest.raises((BadRequestError, UnprocessableError, NotFoundError)) as exc:
            ds.create("churn", t, **kwargs)
        assert exc.value.code == code, (kwargs, exc.value.code)
    with pytest.raises(BadRequestError, match="pyarrow Table"):
        ds.create("churn", t.to_pylist(), event_time="ts")
    with pytest.raises(InvalidNameError):
        ds.create("../escape", t, event_time="ts")
    assert list(ds.store.list("datasets/")) == []


def test_lineage_and_audit(ds, reg):
    base = ds.create("raw", sample(10), event_time="ts", lineage={"sources": ["s3://raw/2026-03"]})
    v = ds.create(
        "train",
        sample(10),
        entity_keys=["customer_id"],
        event_time="ts",
        lineage={
            "datasets": ["raw"],
            "feature_groups": ["customer-profile:4"],
            "labels": "feedback:churn",
            "sql": "select * from raw",
        },
    )
    assert v.lineage == {
        "datasets": ["raw:1"],  # pinned to the version that existed
        "feature_groups": ["customer-profile:4"],
        "labels": "feedback:churn",
        "sql": "select * from raw",
    }
    assert base.manifest["created_by"] == "alice"
    entries = [e for e in reg.audit.entries() if e["action"] == "dataset.create"]
    assert [(e["subject"], e["details"]["version"], e["actor"]) for e in entries] == [
        ("dataset:raw", 1, "alice"),
        ("dataset:train", 1, "alice"),
    ]
    assert entries[1]["details"]["digest"] == v.digest and entries[1]["details"]["rows"] == 10
    assert reg.audit.verify()["ok"] is True


def test_diff(ds):
    t = sample(20)
    ds.create("d", t, entity_keys=["customer_id"], event_time="ts")
    ds.create("d", t, entity_keys=["customer_id"], event_time="ts")
    later = sample(30, offset=10)
    spend = pa.array([None] * 30, pa.float64())
    later = later.set_column(later.schema.get_field_index("spend"), "spend", spend)
    later = later.drop_columns(["blob"]).append_column("region", pa.array(["eu"] * 30))
    later = later.set_column(2, "tenure", later.column("tenure").cast(pa.int64()))
    ds.create("d", later, entity_keys=["customer_id", "plan"], event_time="ts")
    same = ds.diff("d:1", "d:2")
    assert same["same_content"] and same["null_rates"] == [] and same["rows"]["change"] == 0
    assert same["columns"] == {"added": [], "removed": [], "changed": [], "order_changed": False}
    d = ds.diff("d:1", "d:3")
    assert not d["same_content"]
    assert d["columns"]["added"] == ["region"] and d["columns"]["removed"] == ["blob"]
    assert d["columns"]["changed"] == [
        {"name": "tenure", "type": ["int32", "int64"], "nullable": [True, True]}
    ]
    assert d["entity_keys"] == [["customer_id"], ["customer_id", "plan"]] and d["event_time"] is None
    assert d["rows"] == {"a": 20, "b": 30, "change": 10}
    assert d["time_range"]["changed"] and d["time_range"]["b"]["max"] == "2026-03-02T15:00:00.000000Z"
    spend_rate = next(r for r in d["null_rates"] if r["name"] == "spend")
    assert (
        spend_rate["a"] == 5 / 20 and spend_rate["b"] == 1.0 and spend_rate["change"] == pytest.approx(0.75)
    )


def test_a_large_input_is_streamed_in_parts(tmp_path):
    """A 200k-row reader is written as parts of 50k rows (never one table in memory) and read back."""
    ds = DatasetStore(FileStore(tmp_path / "s"), rows_per_part=50_000)
    n = 200_000
    start = dt.datetime(2026, 1, 1)

    def gen():
        for off in range(0, n, 30_000):
            m = min(30_000, n - off)
            yield pa.record_batch(
                {
                    "id": pa.array(range(off, off + m), pa.int64()),
                    "ts": pa.array(
                        [start + dt.timedelta(seconds=i) for i in range(off, off + m)], pa.timestamp("us")
                    ),
                }
            )

    schema = pa.schema({"id": pa.int64(), "ts": pa.timestamp("us")})
    v = ds.create(
        "big", pa.RecordBatchReader.from_batches(schema, gen()), entity_keys=["id"], event_time="ts"
    )
    assert [p["rows"] for p in v.parts] == [50_000] * 4
    assert v.time_range["max"] == "2026-01-03T07:33:19.000000"
    assert pc.sum(ds.read("big", columns=["id"]).column("id")).as_py() == n * (n - 1) // 2
