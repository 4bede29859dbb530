"""``mlops features``: register, ingest (with a quarantine), list, show, training-set, and one-line errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from mlops.cli import main

DEFINITION = """
name: customer_activity
owner: growth-team
entity_keys:
  - {name: customer_id, type: string}
event_time: event_ts
ttl: 30d
features:
  - {name: orders_7d, type: int64, nullable: false}
  - {name: spend_7d, type: float64}
"""


def _run(capsys, *words):
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_register_ingest_list_show_and_training_set(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_ACTOR", "ann")
    store = ["--store", str(tmp_path / "store")]
    (tmp_path / "g.yaml").write_text(DEFINITION)
    assert _run(capsys, "features", "register", str(tmp_path / "g.yaml"), *store)[:2] == (
        0,
        "customer_activity@1: registered (new version)\n",
    )
    assert "unchanged" in _run(capsys, "features", "register", str(tmp_path / "g.yaml"), *store)[1]
    (tmp_path / "b.csv").write_text(
        "customer_id,event_ts,orders_7d,spend_7d\nc-1,2024-03-01T00:00:00Z,3,1.5\n,2024-03-01,1,2\n"
    )
    code, out, _ = _run(
        capsys, "features", "ingest", "customer_activity", str(tmp_path / "b.csv"), *store, "--json"
    )
    res = json.loads(out)
    assert code == 0 and (res["rows_ok"], res["rows_quarantined"], res["batch"]) == (1, 1, 1)
    assert res["reasons"] == {"customer_id: null entity key": 1}
    code, out, _ = _run(capsys, "features", "list", *store, "--json")
    assert json.loads(out) == [
        {"group": "customer_activity", "version": 1, "keys": "customer_id", "features": 2, "ttl": "30d",
         "owner": "growth-team", "rows": 1, "quarantined": 1, "batches": 1}
    ]  # fmt: skip
    shown = json.loads(_run(capsys, "features", "show", "customer_activity@1", *store)[1])
    assert shown["created_by"] == "ann" and shown["offline"]["first_date"] == "2024-03-01"
    labels = pa.table(
        {
            "customer_id": ["c-1", "c-2"],
            "event_timestamp": pa.array([1709337600000000] * 2, pa.timestamp("us")),
        }
    )
    pq.write_table(labels, tmp_path / "labels.parquet")
    out_file = tmp_path / "ts.parquet"
    code, out, _ = _run(
        capsys, "features", "training-set", str(tmp_path / "labels.parquet"), "customer_activity", "-o",
        str(out_file), *store,
    )  # fmt: skip
    assert code == 0 and pq.read_table(out_file)["orders_7d"].to_pylist() == [3, None]
    entries = [p for p in (tmp_path / "store").rglob("*") if "audit" in str(p) and p.is_file()]
    assert entries  # registration and ingestion are in the audit log


def test_errors_are_one_line_on_stderr_with_a_non_zero_exit(tmp_path, capsys):
    store = ["--store", str(tmp_path / "store")]
    (tmp_path / "bad.yaml").write_text("name: x\nentity_keys: []\n")
    code, out, err = _run(capsys, "features", "register", str(tmp_path / "bad.yaml"), *store)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "bad.yaml: entity_keys: required" in err and "[invalid_definition]" in err
    code, _, err = _run(capsys, "features", "ingest", "nope", str(tmp_path / "bad.yaml"), *store)
    assert code == 1 and err.count("\n") == 1 and "feature_group_not_found" in err
    code, _, err = _run(capsys, "features", "register", str(tmp_path / "missing.yaml"), *store)
    assert code == 1 and err.count("\n") == 1 and "missing.yaml" in err
    (tmp_path / "g.yaml").write_text(DEFINITION)
    assert _run(capsys, "features", "register", str(tmp_path / "g.yaml"), *store)[0] == 0
    code, _, err = _run(capsys, "features", "ingest", "customer_activity", *store)
    assert code == 1 and "has no source file" in err and err.count("\n") == 1


def test_ingest_without_a_file_reads_the_definitions_source(tmp_path, capsys):
    store = ["--store", str(tmp_path / "store")]
    data = tmp_path / "activity.csv"
    data.write_text("customer_id,event_ts,orders_7d,spend_7d\nc-1,2024-03-01T00:00:00Z,3,1.5\n")
    (tmp_path / "g.yaml").write_text(DEFINITION + f"source: {data}\n")
    assert _run(capsys, "features", "register", str(tmp_path / "g.yaml"), *store)[0] == 0
    code, out, _ = _run(capsys, "features", "ingest", "customer_activity", *store)
    assert code == 0 and "1 rows in, 1 stored" in out
