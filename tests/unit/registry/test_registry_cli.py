"""``mlops models`` and ``mlops audit`` end to end on a file store: tables, --json, exit codes, one-line errors."""

from __future__ import annotations

import csv
import json

import joblib
import numpy as np
import pytest
from mlops.cli import main
from mlops.registry import Registry
from mlops.storage import FileStore


@pytest.fixture
def files(tmp_path, training):
    X, y, names, model = training
    joblib.dump(model, tmp_path / "model.joblib")
    with open(tmp_path / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, "churned"])
        for row, label in zip(X, y, strict=True):
            w.writerow([*row, label])
    np.save(tmp_path / "train.npy", X)
    return tmp_path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_register_list_show_versions(files, capsys, training):
    X, y, names, model = training
    store = f"--store={files / 'store'}"
    code, out, _ = run(
        capsys,
        "models",
        "register",
        "churn",
        "--artifact",
        str(files / "model.joblib"),
        "--data",
        str(files / "train.csv"),
        "--target",
        "churned",
        "--metric",
        "auc=0.93",
        "--param",
        "C=1.0",
        "--tag",
        "team=ml",
        "--code-commit",
        "cafe",
        store,
        "--as",
        "alice",
    )
    assert code == 0 and "churn" in out and "yes" in out  # profile stored
    code, out, _ = run(
        capsys,
        "models",
        "register",
        "churn",
        "--artifact",
        str(files / "model.joblib"),
        "--data",
        str(files / "train.npy"),
        "--feature-names",
        ",".join(names),
        "--json",
        store,
    )
    rec = json.loads(out)
    assert rec["version"] == 2 and [f["name"] for f in rec["signature"]["inputs"]] == names
    reg = Registry(FileStore(files / "store"))
    v1 = reg.get_version("churn", 1)
    assert v1["metrics"] == {"auc": 0.93} and v1["params"] == {"C": 1.0} and v1["code_commit"] == "cafe"
    assert v1["signature"]["target"]["name"] == "churned" and v1["signature"]["classes"] == [0, 1]
    assert (
        v1["artifact"]["sha256"]
        == __import__("hashlib").sha256((files / "model.joblib").read_bytes()).hexdigest()
    )
    assert v1["created_by"] == "alice"
    code, out, _ = run(capsys, "models", "list", store)
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "ALIASES", "GOVERNED"] and "churn" in out
    code, out, _ = run(capsys, "models", "versions", "churn", "--json", store)
    assert [v["version"] for v in json.loads(out)["versions"]] == [1, 2]
    code, out, _ = run(capsys, "models", "show", "churn", "--version", "1", store)
    assert code == 0 and "approval: none" in out and "age" in out
    # a logistic regression is served from its verified ONNX export (issue 18)
    assert "served as: onnx (onnxruntime)" in out
    code, out, _ = run(capsys, "models", "show", "churn", "--version", "2", "--json", store)
    assert json.loads(out)["served_as"] == "onnx (onnxruntime)"
    loaded, _ = reg.load_model("churn", 1)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_governance_from_the_cli(files, capsys):
    store = f"--store={files / 'store'}"
    reg = Registry(FileStore(files / "store"), actor="alice")
    reg.register_version("churn", b"bytes", signature={"inputs": [{"name": "x"}]})
    code, _, err = run(capsys, "models", "alias", "churn", "production", "1", store, "--as", "alice")
    assert code == 1 and err.startswith("mlops: error: ") and "[approval_required]" in err
    assert err.count("\n") == 1
    assert run(capsys, "models", "request-approval", "churn", "1", store, "--as", "alice")[0] == 0
    code, _, err = run(capsys, "models", "approve", "churn", "1", store, "--as", "alice")
    assert code == 1 and "[self_approval]" in err
    code, out, _ = run(
        capsys, "models", "approve", "churn", "1", store, "--as", "bob", "--comment", "ok", "--json"
    )
    assert code == 0 and json.loads(out)["state"] == "approved"
    assert run(capsys, "models", "alias", "churn", "production", "1", store, "--as", "alice")[0] == 0
    code, out, _ = run(capsys, "models", "alias", "churn", "production", store)
    assert out.strip() == "1"
    code, _, err = run(capsys, "models", "alias", "churn", "production", "1", "--expect", "2", store)
    assert code == 1 and "[alias_moved]" in err
    code, out, _ = run(
        capsys,
        "models",
        "create",
        "strict",
        "--require",
        "code_commit",
        "--governed",
        "prod",
        "--json",
        store,
    )
    assert json.loads(out)["governed_aliases"] == ["prod"]


def test_audit_verify_history_and_at(files, capsys):
    store = f"--store={files / 'store'}"
    reg = Registry(FileStore(files / "store"), actor="alice")
    reg.register_version("churn", b"bytes", signature={"inputs": [{"name": "x"}]})
    reg.set_alias("churn", "staging", 1)
    code, out, _ = run(capsys, "audit", "verify", store)
    assert code == 0 and "intact: 3 entries" in out
    code, out, _ = run(capsys, "audit", "history", "--model", "churn", store)
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["3", "2", "1"]
    code, out, _ = run(
        capsys,
        "audit",
        "at",
        "--model",
        "churn",
        "--alias",
        "staging",
        "--time",
        "2100-01-01T00:00:00Z",
        "--json",
        store,
    )
    assert json.loads(out)["version"] == 1
    (files / "store" / "objects" / "audit" / "000000000002.json").write_text('{"seq": 2}')
    code, out, _ = run(capsys, "audit", "verify", store)
    assert code == 1 and "TAMPERED" in out and "edited" in out
    code, out, _ = run(capsys, "audit", "verify", "--json", store)
    assert json.loads(out)["problems"][0]["seq"] == 2


def test_bad_input_is_one_line(files, capsys):
    store = f"--store={files / 'store'}"
    code, _, err = run(
        capsys,
        "models",
        "register",
        "../etc",
        "--artifact",
        str(files / "model.joblib"),
        "--data",
        str(files / "train.csv"),
        store,
    )
    assert code == 1 and "[invalid_name]" in err
    code, _, err = run(
        capsys,
        "models",
        "register",
        "m",
        "--artifact",
        str(files / "model.joblib"),
        "--data",
        str(files / "train.csv"),
        "--target",
        "nope",
        store,
    )
    assert code == 1 and "[unknown_target]" in err
    code, _, err = run(capsys, "models", "show", "missing", store)
    assert code == 1 and "[model_not_found]" in err
    code, _, err = run(capsys, "models", "list", "--store", "ftp://x")
    assert code == 1 and "[config_error]" in err
