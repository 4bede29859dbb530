"""``mlops datasets create|list|show|diff`` and ``mlops models register --dataset`` on a real file store:
tables and JSON out, one-line errors and a non-zero exit for every mistake."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from mlops.cli import main
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.unit.datasets.conftest import sample


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLOPS_ACTOR", "carol")
    monkeypatch.delenv("MLOPS_STORE_BACKEND", raising=False)
    monkeypatch.delenv("MLOPS_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, f"--store={store}"])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def files(tmp_path):
    pq.write_table(sample(20), tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text(
        "customer_id,ts,spend,region\nc-1,2026-03-01T00:00:00Z,1.5,eu\nc-2,2026-03-05T12:00:00Z,,us\n"
    )
    (tmp_path / "bad.csv").write_text("customer_id,ts\nc-1,2026-03-01T00:00:00Z\nc-2\n")
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path


def one_line_error(result, *words: str) -> None:
    code, _, err = result
    assert code == 1, result
    assert err.startswith("mlops: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_create_list_show_diff(cli, files, tmp_path):
    code, out, err = cli(
        "datasets", "create", "churn", "a.parquet", "--entity-key", "customer_id", "--event-time", "ts"
    )
    assert code == 0, err
    assert "churn" in out and "20" in out and "sha256:" in out
    code, out, _ = cli(
        "datasets", "create", "churn", "b.csv", "--entity-key", "customer_id", "--event-time", "ts",
        "--description", "from csv", "--feature-group", "profile:2", "--parent", "churn:1", "--json",
    )  # fmt: skip
    v2 = json.loads(out)
    assert code == 0 and v2["version"] == 2 and v2["rows"] == 2
    assert v2["lineage"] == {"sources": ["b.csv"], "feature_groups": ["profile:2"], "datasets": ["churn:1"]}
    assert v2["created_by"] == "carol" and v2["description"] == "from csv"
    code, out, _ = cli("datasets", "list", "--json")
    assert [d["ref"] for d in json.loads(out)["datasets"]] == ["churn:2"]
    code, out, _ = cli("datasets", "list", "churn")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["DATASET", "VERSION", "DIGEST", "ROWS"] and len(lines) == 3
    code, out, _ = cli("datasets", "show", "churn:1")
    assert (
        code == 0 and "entity key" in out and "event time" in out and "lineage.sources: ['a.parquet']" in out
    )
    assert "timestamp[ns, tz=UTC]" in out
    code, out, _ = cli("datasets", "show", "churn", "--json")
    assert json.loads(out)["version"] == 2
    code, out, _ = cli("datasets", "diff", "churn:1", "churn:2")
    assert code == 0 and "content differs" in out and "rows: 20 -> 2 (-18)" in out
    assert "columns added: region" in out and "columns removed: tenure" in out
    code, out, _ = cli("datasets", "diff", "churn:1", "churn:1", "--json")
    assert json.loads(out)["same_content"] is True
    audit = Registry(FileStore(tmp_path / "store")).audit
    assert [(e["action"], e["actor"]) for e in audit.entries()] == [("dataset.create", "carol")] * 2


def test_cli_errors_are_one_line(cli, files):
    base = ["--entity-key", "customer_id", "--event-time", "ts"]
    one_line_error(cli("datasets", "create", "churn", "notes.txt", *base), "give a .parquet or .csv file")
    one_line_error(cli("datasets", "create", "churn", "missing.parquet", *base), "missing.parquet")
    one_line_error(cli("datasets", "create", "../x", "a.parquet", *base), "invalid_name")
    one_line_error(cli("datasets", "create", "churn", "a.parquet", "--event-time", "plan"), "not a timestamp")
    one_line_error(
        cli("datasets", "create", "churn", "a.parquet", "--entity-key", "k", "--event-time", "ts"), "'k'"
    )
    one_line_error(cli("datasets", "create", "churn", "bad.csv", *base), "bad.csv")
    one_line_error(cli("datasets", "create", "churn", "a.parquet", *base, "--parent", "nope:3"), "nope:3")
    one_line_error(cli("datasets", "show", "churn:1"), "does not exist")
    one_line_error(cli("datasets", "show", "churn:x"), "invalid_dataset_ref")
    one_line_error(cli("datasets", "list", "churn"), "has no versions")
    one_line_error(cli("datasets", "diff", "churn:1", "churn:2"), "dataset_not_found")
    code, out, _ = cli("datasets", "list")
    assert code == 0 and out.split() == [
        "DATASET",
        "VERSION",
        "DIGEST",
        "ROWS",
        "COLUMNS",
        "PARTS",
        "FROM",
        "TO",
        "CREATED_AT",
    ]


def test_models_register_with_dataset_references(cli, files, tmp_path):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    joblib.dump(LogisticRegression().fit(X, y), tmp_path / "m.joblib")
    (tmp_path / "train.csv").write_text(
        "a,b,label\n" + "".join(f"{r[0]},{r[1]},{t}\n" for r, t in zip(X, y, strict=True))
    )
    assert cli("datasets", "create", "churn", "a.parquet", "--event-time", "ts")[0] == 0
    reg_args = [
        "models",
        "register",
        "m",
        "--artifact",
        "m.joblib",
        "--data",
        "train.csv",
        "--target",
        "label",
    ]
    one_line_error(cli(*reg_args, "--dataset", "train=churn:2"), "churn:2 does not exist")
    one_line_error(cli(*reg_args, "--dataset", "train"), "KEY=VALUE")
    code, out, err = cli(*reg_args, "--dataset", "train=churn:1", "--dataset", "holdout=churn", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["datasets"]["train"]["ref"] == "churn:1" and rec["datasets"]["holdout"]["ref"] == "churn:1"
    assert rec["datasets"]["train"]["rows"] == 20 and rec["datasets"]["train"]["digest"].startswith("sha256:")
    code, out, _ = cli("models", "show", "m", "--version", "1")
    assert code == 0 and "datasets: holdout=churn:1 (sha256:" in out and "train=churn:1" in out


def test_gc_command(cli, files, tmp_path):
    assert cli("datasets", "create", "churn", "a.parquet", "--event-time", "ts")[0] == 0
    store = FileStore(tmp_path / "store")
    store.put("datasets/churn/parts/" + "a" * 64 + ".parquet", b"orphan of a failed write")
    code, out, _ = cli("datasets", "gc", "churn", "--json")
    assert code == 0 and json.loads(out)["deleted_parts"] == 1
    assert len(list(store.list("datasets/churn/parts/"))) == 1
    code, out, _ = cli("datasets", "gc", "churn")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["DATASET", "SKIPPED", "DELETED_PARTS"]
    one_line_error(cli("datasets", "gc", "churn", "--grace-hours", "nan"), "--grace-hours")
    one_line_error(cli("datasets", "gc", "../x"), "invalid_name")
