"""Expectations at training and registration: ``mlops train`` refuses a training set that breaks the
project's suite (per-column report on stderr, exit 1), ``--expectations-infer`` writes one, and the
registered version keeps its suite as an artifact verified by sha256. Also ``mlops expectations``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
from mlops.cli import main
from mlops.errors import IntegrityError, NotFoundError
from mlops.quality import check, dumps, infer, loads
from mlops.registry import Registry
from mlops.registry.expectations import load_expectations
from mlops.storage import FileStore

PROJECT = """
PARAMS = {"broken": False}

def load_data(params):
    import numpy as np
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (400, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    if params["broken"]:  # an upstream change: a quarter of x1 missing, x2 in other units
        X[:100, 1] = np.nan
        X[:, 2] *= 1000
    return {"X_train": X[:300], "y_train": y[:300], "X_holdout": np.nan_to_num(X[300:]), "y_holdout": y[300:],
            "feature_names": ["x0", "x1", "x2"]}

def train(params, data):
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(np.nan_to_num(data["X_train"]), data["y_train"])
"""


@pytest.fixture
def project(tmp_path) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "train.py").write_text(PROJECT)
    return d / "train.py"


def train(project: Path, store: str, *extra: str) -> int:
    return main(["train", str(project), "--model", "clf", "--store", store, "--json", *extra])


def test_train_infers_then_refuses_a_broken_training_set_with_a_per_column_report(tmp_path, project, capsys):
    store = str(tmp_path / "store")
    assert train(project, store, "--expectations-infer") == 0
    suite_file = project.parent / "expectations.yaml"
    suite = loads(suite_file.read_text())
    assert [c.name for c in suite.columns] == ["x0", "x1", "x2"]
    first = json.loads(capsys.readouterr().out)

    assert train(project, store, "--param", "broken=true") == 1
    err = capsys.readouterr().err
    assert err.startswith("mlops: error: training data violates expectations.yaml (2 failed, 300 rows):")
    lines = err.splitlines()
    assert any(line.strip().startswith("x1: null rate 33.33% > max 1.00%") for line in lines), err
    assert any(line.strip().startswith("x2: ") and "outside" in line for line in lines), err
    assert lines[-1].endswith("[expectations_failed]") and len(lines) <= 4

    registry = Registry(FileStore(store), actor="ci")
    assert [v["version"] for v in registry.list_versions("clf")] == [first["version"]], "nothing registered"
    assert main(["runs", "list", "--store", store, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    failed = [r for r in (runs["runs"] if isinstance(runs, dict) else runs) if r["status"] == "failed"]
    assert failed and "violates" in failed[0]["error"], "the refused run is recorded"

    assert train(project, store) == 0, "the clean data still passes the suite beside train.py"


def test_an_explicit_suite_file_is_used_and_must_exist(tmp_path, project, capsys):
    store = str(tmp_path / "store")
    strict = tmp_path / "strict.yaml"
    assert train(project, store, "--expectations-infer", "--expectations", str(strict)) == 0
    assert strict.is_file() and not (project.parent / "expectations.yaml").exists()
    assert train(project, store, "--expectations", str(strict), "--param", "broken=true") == 1
    assert "violates strict.yaml" in capsys.readouterr().err
    assert train(project, store, "--expectations", str(tmp_path / "nope.yaml")) == 1
    assert "does not exist" in capsys.readouterr().err


def test_the_registered_version_keeps_the_suite_it_met_verified_by_sha256(tmp_path, project, capsys):
    store_dir = tmp_path / "store"
    assert train(project, str(store_dir), "--expectations-infer") == 0
    version = json.loads(capsys.readouterr().out)["version"]
    store = FileStore(store_dir)
    record = Registry(store, actor="ci").get_version("clf", version)
    ref = record["expectations"]
    blob = store.get(ref["key"]).data
    assert (
        ref["key"] == f"artifacts/sha256/{ref['sha256']}"
        and hashlib.sha256(blob).hexdigest() == ref["sha256"]
    )
    on_disk = loads((project.parent / "expectations.yaml").read_text())
    kept = load_expectations(store, record)
    assert kept == on_disk and ref["digest"] == on_disk.digest() and ref["columns"] == 3

    store.put(ref["key"], blob.replace(b"x0", b"y0"))  # tampered: same key, other bytes
    with pytest.raises(IntegrityError):
        load_expectations(store, record)


def test_registration_without_a_suite_infers_one_from_the_training_frame(tmp_path):
    from sklearn.linear_model import LogisticRegression

    store = FileStore(tmp_path / "store")
    X = np.random.default_rng(0).normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    record = Registry(store, actor="ci").register_version(
        "m", LogisticRegression().fit(X, y), X, y, feature_names=["a", "b"]
    )
    suite = load_expectations(store, record)
    assert suite is not None and [c.name for c in suite.columns] == ["a", "b"]
    assert check(suite, {"a": X[:, 0], "b": X[:, 1]}).ok
    assert not check(suite, {"a": X[:, 0] * 100, "b": X[:, 1]}).ok


def test_a_version_without_training_data_has_no_suite(tmp_path):
    store = FileStore(tmp_path / "store")
    assert load_expectations(store, {"expectations": None}) is None
    with pytest.raises(NotFoundError):
        load_expectations(store, {"expectations": {"sha256": "0" * 64, "size": 1}})


def test_cli_infer_check_and_diff(tmp_path, capsys):
    rng = np.random.default_rng(5)
    n = 2000
    good = pa.table({"id": np.arange(n), "v": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    pq.write_table(good, tmp_path / "good.parquet")
    bad = good.set_column(1, "v", pa.array(np.where(np.arange(n) < 500, np.nan, good.column("v").to_numpy())))
    bad = bad.set_column(0, "id", pa.array(np.zeros(n, dtype=np.int64)))
    pa.csv.write_csv(bad, tmp_path / "bad.csv")
    suite = tmp_path / "suite.yaml"
    assert (
        main(
            ["expectations", "infer", str(tmp_path / "good.parquet"), "-o", str(suite), "--entity-key", "id"]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().err and loads(suite.read_text()).unique_keys == ("id",)

    assert main(["expectations", "check", str(suite), str(tmp_path / "good.parquet")]) == 0
    assert capsys.readouterr().out.strip() == f"all expectations met ({n} rows)"
    assert main(["expectations", "check", str(suite), str(tmp_path / "bad.csv")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("v: null rate 25.00%") and out[1].startswith(
        "(dataset): 1999 rows repeat the key (id)"
    )
    assert main(["expectations", "check", str(suite), str(tmp_path / "bad.csv"), "--json"]) == 1
    assert {f["check"] for f in json.loads(capsys.readouterr().out)["failures"]} == {
        "null_rate",
        "unique_keys",
    }

    other = tmp_path / "other.yaml"
    other.write_text(dumps(infer(pq.read_table(tmp_path / "good.parquet"))))
    assert main(["expectations", "diff", str(suite), str(other)]) == 0
    assert capsys.readouterr().out.strip() == '- dataset.unique_keys: ["id"]'
    assert main(["expectations", "diff", str(suite), str(other), "--exit-code"]) == 1
    capsys.readouterr()
    assert main(["expectations", "diff", str(suite), str(suite)]) == 0
    assert capsys.readouterr().out.strip() == "no differences"
    assert main(["expectations", "check", str(suite), str(tmp_path / "x.txt")]) == 1
    assert "expected a .parquet or .csv file" in capsys.readouterr().err
