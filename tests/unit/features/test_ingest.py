"""Ingestion: every row checked, good rows in Parquet per event date, bad rows quarantined with every reason,
counts that add up, batches visible only once committed — on a file store and on S3 (moto)."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlops.errors import UnprocessableError
from mlops.features import ingest as ingest_mod
from mlops.features.ingest import ingest
from mlops.features.offline import committed_batches, read_offline, read_part
from mlops.features.pit import training_set
from mlops.storage.s3 import S3Store

from tests.unit.features.conftest import NOW_S, T0, register, ts

FEATURES = (("orders", "int64"), ("spend", "float64"), ("vip", "bool"), ("segment", "string"))


def _group(store, name="cust", ttl="none"):
    gv = register(store, name, features=FEATURES, ttl=ttl)
    return gv


def _strict(store):
    """A group whose 'orders' may not be null."""
    from mlops.features.definition import parse_definition
    from mlops.features.groups import register_group

    doc = {
        "name": "strict",
        "entity_keys": [{"name": "customer_id", "type": "string"}, {"name": "region", "type": "int64"}],
        "event_time": "event_ts",
        "features": [
            {"name": "orders", "type": "int64", "nullable": False},
            {"name": "spend", "type": "float64"},
        ],
    }
    return register_group(store, parse_definition(doc, "strict.yaml"), now=lambda: "x", actor="t")[0]


def test_every_bad_row_is_quarantined_with_every_reason(store):
    _strict(store)
    table = pa.table(
        {
            "customer_id": ["a", None, "c", "d", "e", "f"],
            "region": ["1", "2", "x", "4", "5", " 6 "],
            "event_ts": [
                "2024-03-01T00:00:00Z",
                "2024-03-01",
                "2024-03-02T10:00:00+02:00",
                "soon",
                None,
                "2024-03-03",
            ],
            "orders": ["3", "1.5", None, "4", "5", "+7"],
            "spend": ["1.25", "2", "nan", "cheap", "1", "1e3"],
            "extra": [1, 2, 3, 4, 5, 6],
        }
    )
    res = ingest(store, "strict", table, now=lambda: NOW_S)
    assert (res.rows_in, res.rows_ok, res.rows_quarantined) == (6, 2, 4)
    assert res.ignored_columns == ["extra"]
    bad = read_part(store, res.quarantine).to_pylist()
    assert [(r["_row"], r["_reason"]) for r in bad] == [
        (1, "customer_id: null entity key; orders: '1.5' is not int64"),
        (2, "region: 'x' is not int64; orders: null in a non-nullable feature"),
        (3, "event_ts: 'soon' is not a timestamp; spend: 'cheap' is not float64"),
        (4, "event_ts: null event time"),
    ]
    assert bad[1]["region"] == "x" and bad[2]["event_ts"] == "soon"  # original values are kept, as text
    assert res.reasons["orders: null in a non-nullable feature"] == 1
    good = read_offline(store, "strict", 1, ["customer_id", "region", "event_ts", "orders", "spend"])
    assert good.sort_by("event_ts").to_pylist() == [
        {"customer_id": "a", "region": 1, "event_ts": good["event_ts"][0].as_py(), "orders": 3, "spend": 1.25,
         "_seq": (1 << 32) | 0},
        {"customer_id": "f", "region": 6, "event_ts": good["event_ts"][1].as_py(), "orders": 7, "spend": 1000.0,
         "_seq": (1 << 32) | 5},
    ]  # fmt: skip
    assert {p.split("/")[-2] for p in res.parts} == {"date=2024-03-01", "date=2024-03-03"}


def test_the_future_is_refused_beyond_the_tolerance_to_the_microsecond(store):
    _group(store)
    now_s = T0 / 1_000_000
    limit = T0 + 300 * 1_000_000
    table = pa.table(
        {
            "customer_id": ["a", "b"],
            "event_ts": ts([limit, limit + 1]),
            "orders": [1, 2],
            "spend": [1.0, 2.0],
            "vip": [True, False],
            "segment": ["x", "y"],
        }
    )
    res = ingest(store, "cust", table, now=lambda: now_s, future_tolerance_s=300)
    assert (res.rows_ok, res.rows_quarantined) == (1, 1)
    assert "is in the future" in read_part(store, res.quarantine)["_reason"][0].as_py()


def test_csv_and_parquet_files_and_a_file_without_the_columns(store, tmp_path):
    _group(store)
    csv = tmp_path / "batch.csv"
    csv.write_text(
        "customer_id,event_ts,orders,spend,vip,segment\n"
        "a,2024-03-01T00:00:00Z,1,1.5,true,x\n"
        "b,2024-03-01T00:00:01Z,two,,false,\n"
    )
    res = ingest(store, "cust", str(csv), now=lambda: NOW_S)
    assert (res.rows_ok, res.rows_quarantined) == (1, 1)
    assert read_part(store, res.quarantine)["_reason"].to_pylist() == ["orders: 'two' is not int64"]
    good = read_offline(store, "cust", 1, ["customer_id", "orders", "vip"])
    assert good.select(["customer_id", "orders", "vip"]).to_pylist() == [
        {"customer_id": "a", "orders": 1, "vip": True}
    ]
    pq.write_table(pa.table({"customer_id": ["a"], "event_ts": ts([T0])}), tmp_path / "short.parquet")
    with pytest.raises(UnprocessableError, match="lacks column"):
        ingest(store, "cust", str(tmp_path / "short.parquet"), now=lambda: NOW_S)
    with pytest.raises(UnprocessableError, match="cannot ingest"):
        ingest(store, "cust", str(tmp_path / "x.txt"), now=lambda: NOW_S)


def _batch(values, t=T0):
    return pa.table(
        {
            "customer_id": [f"c{i}" for i in range(len(values))],
            "event_ts": ts([t] * len(values)),
            "orders": values,
            "spend": [0.5] * len(values),
            "vip": [False] * len(values),
            "segment": ["s"] * len(values),
        }
    )


def test_a_crashed_ingestion_leaves_nothing_visible_and_parts_are_named_by_content(store, monkeypatch):
    _group(store)

    def crash(*_a, **_k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(ingest_mod, "_commit", crash)
    with pytest.raises(RuntimeError):
        ingest(store, "cust", _batch([1, 2]), now=lambda: NOW_S)
    assert list(store.list("features/offline/"))  # its part was written ...
    assert read_offline(store, "cust", 1, ["customer_id"]) is None  # ... but no reader sees it
    labels = pa.table({"customer_id": ["c0"], "event_timestamp": ts([T0])})
    assert training_set(store, labels, ["cust"])["orders"].to_pylist() == [None]
    monkeypatch.undo()
    first = ingest(store, "cust", _batch([1, 2]), now=lambda: NOW_S)
    second = ingest(store, "cust", _batch([1, 2]), now=lambda: NOW_S)
    assert (first.batch, second.batch) == (1, 2) and first.parts == second.parts
    assert [m["batch"] for m in committed_batches(store, "cust", 1)] == [1, 2]
    assert training_set(store, labels, ["cust"])["orders"].to_pylist() == [1]


def test_round_trip_on_s3(moto_server):
    bucket = moto_server.create_bucket(f"features-{uuid.uuid4().hex[:12]}")
    store = S3Store(bucket, client=moto_server.client())
    _group(store, ttl="1h")
    res = ingest(store, "cust", _batch([5, 6, 7]), now=lambda: NOW_S)
    bad = _batch([8])
    bad = bad.set_column(0, "customer_id", pa.array([None], pa.string()))
    res2 = ingest(store, "cust", bad, now=lambda: NOW_S)
    assert (res.rows_ok, res2.rows_quarantined) == (3, 1)
    assert read_part(store, res2.quarantine)["_reason"].to_pylist() == ["customer_id: null entity key"]
    labels = pa.table(
        {"customer_id": ["c2", "c0", "c9"], "event_timestamp": ts([T0 + 3_600_000_000, T0, T0])}
    )
    out = training_set(store, labels, ["cust"])
    assert out["orders"].to_pylist() == [7, 5, None]
    keys = list(store.list("features/"))
    assert any(k.startswith("features/offline/cust/v1/date=2024-03-01/part-") for k in keys)
    assert "features/batches/cust/v1/000000000002.json" in keys
