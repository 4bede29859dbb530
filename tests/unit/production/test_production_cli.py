"""``mlops production compact|dataset`` on a real store: tables, JSON, lineage, one-line errors."""

from __future__ import annotations

import json

from mlops.cli import main
from mlops.datasets import DatasetStore

from tests.unit.production.world import World


def _run(capsys, *words):
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compact_then_register_a_labelled_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_ACTOR", "ann")
    w = World(tmp_path)
    store = ["--store", str(tmp_path / "store")]
    svc = w.service(sample_rate=0.0, retain_features=True)
    recs = w.predict(svc, 3, "2026-07-01T09:00:00Z")
    w.ship(recs, "2026-07-01T09:00:01Z")
    labels = [{"prediction_id": r["prediction_id"], "actual": i % 2} for i, r in enumerate(recs)]
    w.ship(w.feedback(svc, labels, "2026-07-02T09:00:00Z"), "2026-07-02T09:00:01Z")

    code, out, _ = _run(capsys, "production", "compact", "ep", "--all", *store, "--json")
    batches = json.loads(out)["batches"]
    assert code == 0 and [(b["day"], b["batch"]) for b in batches] == [("2026-07-01", 1), ("2026-07-02", 1)]
    code, out, _ = _run(capsys, "production", "compact", "ep", "--day", "2026-07-01", *store)
    assert code == 0 and "up to date" in out

    code, out, _ = _run(
        capsys,
        "production",
        "dataset",
        "ep",
        "--from",
        "2026-07-01",
        "--to",
        "2026-07-02",
        "--name",
        "ep-labelled",
        *store,
        "--json",
    )
    res = json.loads(out)
    assert code == 0 and res["dataset"] == "ep-labelled:1" and res["rows"] == 3
    v = DatasetStore(w.store).get("ep-labelled")
    assert v.lineage["labels"] == "feedback" and v.entity_keys == ["prediction_id"]
    assert v.lineage["sources"] == [
        "compacted/ep/date=2026-07-01/batch-000001.json",
        "compacted/ep/date=2026-07-02/batch-000001.json",
    ]
    assert v.event_time == "prediction_ts" and {"a", "b", "c", "d", "label"} <= set(v.schema.names)


def test_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "store").mkdir()
    store = ["--store", str(tmp_path / "store")]
    code, _, err = _run(capsys, "production", "compact", "ep", *store)
    assert code != 0 and "--day" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(
        capsys,
        "production",
        "dataset",
        "ep",
        "--from",
        "2026-07-01",
        "--to",
        "2026-07-02",
        "--name",
        "x",
        *store,
    )
    assert code != 0 and "no labelled prediction" in err and len(err.strip().splitlines()) == 1
