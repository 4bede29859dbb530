"""Registering, reading and loading versions: records, signatures, lineage, profiles, artifacts, bad input."""

from __future__ import annotations

import hashlib
import io
import pickle

import joblib
import numpy as np
import pytest
from mlops.errors import BadRequestError, InvalidNameError, NotFoundError, UnprocessableError
from mlops.registry import Registry
from mlops.registry.keys import artifact_key, version_key


def test_register_from_numpy_records_everything(reg, store, clock, training):
    X, y, names, model = training
    rec = reg.register_version(
        "churn",
        model,
        X,
        y,
        feature_names=names,
        params={"C": 1.0, "solver": "lbfgs"},
        metrics={"auc": 0.91},
        code_commit="abc123",
        description="first",
        tags={"team": "ml"},
    )
    assert rec["model"] == "churn" and rec["version"] == 1
    assert rec["created_by"] == "alice" and rec["created_at"] == "2026-09-21T14:13:20.000Z"
    stored = store.get(artifact_key(rec["artifact"]["sha256"])).data
    assert hashlib.sha256(stored).hexdigest() == rec["artifact"]["sha256"]
    assert rec["artifact"]["size"] == len(stored) and rec["artifact"]["flavor"] == "sklearn"
    assert rec["artifact"]["python_class"].endswith("LogisticRegression")
    sig = rec["signature"]
    assert [f["name"] for f in sig["inputs"]] == names
    assert {f["dtype"] for f in sig["inputs"]} == {"float64"} and {f["kind"] for f in sig["inputs"]} == {
        "numeric"
    }
    assert sig["classes"] == [0, 1] and sig["target"]["dtype"] == "int64"
    assert rec["params"] == {"C": 1.0, "solver": "lbfgs"} and rec["metrics"] == {"auc": 0.91}
    assert rec["training_data"]["rows"] == 300 and rec["training_data"]["columns"] == 3
    assert rec["training_data"]["digest"].startswith("sha256:")
    assert rec["code_commit"] == "abc123" and rec["tags"] == {"team": "ml"} and rec["description"] == "first"
    assert reg.get_version("churn", 1) == rec
    profile = reg.get_reference_profile("churn", 1)
    assert set(profile["features"]) == set(names)
    assert profile["features"]["age"]["kind"] == "numeric" and profile["features"]["age"]["n"] == 300


def test_training_digest_identifies_the_data(reg, training):
    X, y, names, model = training
    a = reg.register_version("m", model, X, y, feature_names=names)
    b = reg.register_version("m", model, X.copy(), y.copy(), feature_names=names)
    X2 = X.copy()
    X2[0, 0] += 1e-9
    c = reg.register_version("m", model, X2, y, feature_names=names)
    assert a["training_data"]["digest"] == b["training_data"]["digest"] != c["training_data"]["digest"]
    assert a["artifact"]["sha256"] == b["artifact"]["sha256"]  # same bytes, stored once
    assert [v["version"] for v in reg.list_versions("m")] == [1, 2, 3]


def test_register_from_records_with_a_categorical_column(reg):
    from sklearn.dummy import DummyClassifier

    rows = [{"plan": "basic" if i % 3 else "pro", "usage": float(i), "active": i % 2 == 0} for i in range(60)]
    y = [i % 2 for i in range(60)]
    model = DummyClassifier().fit(np.zeros((60, 3)), y)
    rec = reg.register_version("plans", model, rows, y)
    inputs = {f["name"]: f for f in rec["signature"]["inputs"]}
    assert [f["name"] for f in rec["signature"]["inputs"]] == ["plan", "usage", "active"]
    assert inputs["plan"] == {"name": "plan", "dtype": "str", "kind": "categorical"}
    assert inputs["usage"]["kind"] == "numeric" and inputs["active"]["dtype"] == "bool"
    profile = reg.get_reference_profile("plans", rec["version"])
    assert profile["features"]["plan"]["kind"] == "categorical"
    assert dict(
        zip(profile["features"]["plan"]["categories"], profile["features"]["plan"]["counts"], strict=True)
    ) == {"basic": 40, "pro": 20}


def test_register_from_a_column_mapping(reg, training):
    X, y, names, model = training
    rec = reg.register_version("cols", model, {n: X[:, i] for i, n in enumerate(names)}, y)
    assert [f["name"] for f in rec["signature"]["inputs"]] == names


def test_load_model_returns_the_same_predictions(reg, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y, feature_names=names)
    loaded, rec = reg.load_model("churn", 1)
    assert rec["version"] == 1
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert reg.load_model("churn", "latest")[1]["version"] == 1


def test_register_by_uploaded_sha256_with_a_signature(reg, store, training):
    X, y, names, model = training
    data = joblib_bytes(model)
    up = reg.upload_artifact(data)
    assert up["sha256"] == hashlib.sha256(data).hexdigest() and up["size"] == len(data)
    assert reg.upload_artifact(data) == up  # idempotent
    sig = {"inputs": [{"name": n, "dtype": "float64"} for n in names], "classes": [0, 1]}
    rec = reg.register_version(
        "api", artifact_sha256=up["sha256"], signature=sig, training_data_digest="sha256:" + "ab" * 32
    )
    assert rec["artifact"]["sha256"] == up["sha256"] and rec["reference_profile"] is None
    assert rec["signature"]["inputs"][0] == {"name": "age", "dtype": "float64", "kind": "numeric"}
    assert rec["training_data"]["digest"] == "sha256:" + "ab" * 32


def test_register_with_a_client_supplied_profile(reg, training):
    from mlops.drift.profile import build_reference_profile

    X, y, names, model = training
    profile = build_reference_profile(
        {n: X[:, i] for i, n in enumerate(names)}, dict.fromkeys(names, "numeric")
    )
    sig = {"inputs": [{"name": n, "dtype": "float64"} for n in names]}
    rec = reg.register_version("api", joblib_bytes(model), signature=sig, reference_profile=profile)
    assert reg.get_reference_profile("api", rec["version"]) == profile
    with pytest.raises(UnprocessableError):
        reg.register_version(
            "api",
            joblib_bytes(model),
            signature=sig,
            reference_profile={"format": "x", "features": {"age": {}}},
        )  # lacks features


def test_unknown_uploads_and_bad_digests(reg, training):
    X, y, names, model = training
    sig = {"inputs": [{"name": "a"}]}
    with pytest.raises(NotFoundError) as e:
        reg.register_version("api", artifact_sha256="0" * 64, signature=sig)
    assert e.value.code == "artifact_missing"
    with pytest.raises(BadRequestError):
        reg.register_version("api", artifact_sha256="../../etc/passwd", signature=sig)
    with pytest.raises(BadRequestError):
        reg.register_version("api", joblib_bytes(model), artifact_sha256="1" * 64, signature=sig)


def test_a_signature_is_required(reg, training):
    X, y, names, model = training
    with pytest.raises(UnprocessableError) as e:
        reg.register_version("m", joblib_bytes(model))
    assert e.value.code == "missing_signature"
    with pytest.raises(BadRequestError):
        reg.register_version("m", model, X, y, signature={"inputs": [{"name": "a"}]})
    with pytest.raises(UnprocessableError):
        reg.register_version(
            "m", joblib_bytes(model), signature={"inputs": [{"name": "a", "dtype": "complex"}]}
        )


def test_model_must_fit_the_training_frame(reg, training):
    X, y, names, model = training
    with pytest.raises(UnprocessableError) as e:
        reg.register_version("m", model, X[:, :2], y)
    assert e.value.code == "feature_count_mismatch"
    with pytest.raises(UnprocessableError):
        reg.register_version("m", model, X, y, feature_names=["a", "b"])
    assert reg.version_numbers("m") == []  # nothing half-written


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "a..b", "x" * 200, "with space", "é"])
def test_bad_model_names_are_rejected(reg, training, name):
    X, y, names, model = training
    with pytest.raises(InvalidNameError):
        reg.register_version(name, model, X, y)
    with pytest.raises(InvalidNameError):
        reg.get_version(name, 1)


@pytest.mark.parametrize("version", ["0", "-1", "1.5", "01", "abc", ""])
def test_bad_version_numbers_are_rejected(reg, training, version):
    with pytest.raises(InvalidNameError):
        reg.get_version("m", version)


def test_bad_params_and_metrics_are_rejected(reg, training):
    X, y, names, model = training
    with pytest.raises(BadRequestError):
        reg.register_version("m", model, X, y, metrics={"auc": float("nan")})
    with pytest.raises(BadRequestError):
        reg.register_version("m", model, X, y, metrics={"auc": "high"})
    with pytest.raises(BadRequestError):
        reg.register_version("m", model, X, y, params={"nested": {"a": 1}})
    with pytest.raises(InvalidNameError):
        reg.register_version("m", model, X, y, tags={"bad/tag": "x"})
    # numpy scalars are fine
    rec = reg.register_version("m", model, X, y, metrics={"auc": np.float64(0.5)}, params={"n": np.int64(3)})
    assert rec["metrics"] == {"auc": 0.5} and rec["params"] == {"n": 3}


def test_unknown_model_and_version_are_404(reg, training):
    X, y, names, model = training
    with pytest.raises(NotFoundError) as e:
        reg.get_version("nope", 1)
    assert e.value.code == "model_not_found"
    reg.register_version("m", model, X, y)
    with pytest.raises(NotFoundError) as e:
        reg.get_version("m", 2)
    assert e.value.code == "version_not_found"
    with pytest.raises(NotFoundError):
        reg.list_versions("nope")
    with pytest.raises(NotFoundError):
        reg.load_model("m", "production")


def test_models_are_listed_and_created_once(reg, training):
    X, y, names, model = training
    reg.create_model("b-model", description="second", required_metadata=["code_commit"])
    reg.register_version("a-model", model, X, y)
    assert [m["name"] for m in reg.list_models()] == ["a-model", "b-model"]
    with pytest.raises(Exception) as e:
        reg.create_model("b-model")
    assert e.value.status == 409
    assert reg.get_model("a-model")["governed_aliases"] == ["production"]
    with pytest.raises(BadRequestError):
        reg.create_model("c-model", governed_aliases="production")  # a string, not a list


def test_import_mlflow_sklearn_directory(reg, tmp_path, training):
    """An MLflow model directory (MLmodel + pickled model, sklearn flavor) imports without mlflow."""
    X, y, names, model = training
    d = tmp_path / "mlflow-model"
    d.mkdir()
    (d / "model.pkl").write_bytes(pickle.dumps(model))
    cols = ", ".join(f'{{"type": "double", "name": "{n}", "required": true}}' for n in names)
    (d / "MLmodel").write_text(
        "artifact_path: model\n"
        "flavors:\n"
        "  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
        "  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n"
        "    sklearn_version: 1.5.0\n"
        "mlflow_version: 2.17.0\nmodel_uuid: 0f1e\nrun_id: 9a8b7c\n"
        f"signature:\n  inputs: '[{cols}]'\n  outputs: '[{{\"type\": \"long\"}}]'\n"
    )
    rec = reg.import_mlflow("imported", str(d))
    assert [f["name"] for f in rec["signature"]["inputs"]] == names
    assert rec["signature"]["classes"] == [0, 1]
    assert rec["source"]["kind"] == "mlflow" and rec["source"]["run_id"] == "9a8b7c"
    loaded, _ = reg.load_model("imported", rec["version"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with_data = reg.import_mlflow("imported", str(d), X, y)
    assert with_data["reference_profile"] is not None
    (d / "MLmodel").write_text("flavors:\n  pytorch: {}\n")
    with pytest.raises(BadRequestError):
        reg.import_mlflow("imported", str(d))


def test_version_records_are_create_exclusive(reg, store, training):
    """A second writer that picked the same number cannot overwrite the record (it takes the next)."""
    X, y, names, model = training
    reg.register_version("m", model, X, y)
    first = store.get(version_key("m", 1)).data

    class StaleView(Registry):
        def latest_version(self, model: str) -> int:  # a writer whose listing is behind
            return 0

    rec = StaleView(store, clock=reg.clock, actor="carol").register_version("m", model, X, y)
    assert rec["version"] == 2 and store.get(version_key("m", 1)).data == first


def joblib_bytes(obj) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()
