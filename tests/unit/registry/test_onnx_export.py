"""ONNX export at registration (issue 18): the supported set exports and verifies, anything else keeps joblib
and says why, the bytes are refused when altered, and serving an ONNX version imports neither sklearn nor joblib."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from mlops.errors import IntegrityError
from mlops.registry import Registry, onnxexport
from mlops.registry.onnxexport import PROBA_ATOL, served_as
from mlops.serving.onnxscorer import OnnxScorer
from mlops.serving.source import RegistrySource
from mlops.storage import FileStore
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC

RNG = np.random.default_rng(0)
X = RNG.normal(size=(1200, 5)) * [1.0, 3.0, 10.0, 0.1, 1.0] + [0.0, 5.0, 100.0, 0.0, 0.0]
Y2 = (X[:, 0] + X[:, 1] - 5 > 0).astype(int)
Y3 = np.digitize(X[:, 0], [-0.5, 0.5])
YS = np.where(Y2 == 1, "churn", "stay")
YR = X @ np.array([1.0, -2.0, 0.3, 5.0, 0.0]) + 7.0
XT = RNG.normal(size=(300, 5)) * [2.0, 6.0, 20.0, 0.2, 2.0] + [
    0.0,
    5.0,
    100.0,
    0.0,
    0.0,
]  # wider than training
NAMES = [f"f{i}" for i in range(5)]


def fit(model, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an MLP that has not converged in a few iterations is still a model
        return model.fit(X, y)


def registry(tmp_path) -> tuple[FileStore, Registry]:
    store = FileStore(str(tmp_path / "s"))
    return store, Registry(store, actor="alice")


SUPPORTED = [
    (LogisticRegression(), Y2),
    (LogisticRegression(max_iter=500), Y3),
    (LogisticRegression(), YS),
    (make_pipeline(StandardScaler(), LogisticRegression()), Y2),
    (make_pipeline(MinMaxScaler(), LogisticRegression()), Y3),
    (make_pipeline(MaxAbsScaler(), RobustScaler(), LogisticRegression()), Y2),
    (LinearRegression(), YR),
    (make_pipeline(StandardScaler(), Ridge()), YR),
    (Lasso(alpha=0.01), YR),
    (ElasticNet(alpha=0.01), YR),
    (
        make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0)),
        Y3,
    ),
    (
        make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0)),
        YR,
    ),
    (make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)), Y2),
    (make_pipeline(StandardScaler(), SVC()), Y3),
]


@pytest.mark.parametrize(
    "model,y", SUPPORTED, ids=lambda v: type(v).__name__ if not hasattr(v, "shape") else ""
)
def test_the_supported_set_exports_verifies_and_serves_like_the_model(tmp_path, model, y):
    _store, reg = registry(tmp_path)
    model = fit(model, y)
    rec = reg.register_version("m", model, X, y, feature_names=NAMES)
    ref = rec["onnx"]
    assert ref["status"] == "verified" and ref["format"] == "onnx" and ref["dtype"] == "double", ref
    assert ref["rows"] == 1000 and ref["key"] == f"artifacts/sha256/{ref['sha256']}"
    assert served_as(rec) == "onnx (onnxruntime)"
    loaded = RegistrySource(reg, _store, endpoint="ep", model="m", variant="stable", alias="production").load(
        rec["version"]
    )
    scorer = loaded.model
    assert isinstance(scorer, OnnxScorer)
    assert loaded.has_proba == hasattr(model, "predict_proba")
    if hasattr(model, "classes_"):  # rows it never saw, wider than training: same labels, close probabilities
        assert loaded.classes == model.classes_.tolist()
        np.testing.assert_array_equal(scorer.predict(XT), model.predict(XT))
        if loaded.has_proba:
            np.testing.assert_allclose(
                scorer.predict_proba(XT), model.predict_proba(XT), rtol=0, atol=PROBA_ATOL
            )
    else:
        assert loaded.classes is None
        np.testing.assert_allclose(scorer.predict(XT), model.predict(XT), rtol=1e-9, atol=1e-9)


def test_string_features_are_fed_as_strings_and_verified_in_float32(tmp_path):
    store, reg = registry(tmp_path)
    plans = RNG.choice(["basic", "gold", "pro"], size=600)
    age = RNG.normal(40, 10, size=600)
    tenure = RNG.integers(0, 120, size=600).astype(float)
    rows = np.empty((600, 3), dtype=object)
    rows[:, 0], rows[:, 1], rows[:, 2] = age, plans, tenure
    y = ((plans == "gold") | (age > 45) | (tenure > 100)).astype(int)
    model = make_pipeline(
        ColumnTransformer(
            [("plan", OneHotEncoder(handle_unknown="ignore"), [1]), ("age", StandardScaler(), [0])],
            remainder="passthrough",  # tenure: an identity FunctionTransformer inside the fitted transformer
        ),
        LogisticRegression(max_iter=1000),
    ).fit(rows, y)
    rec = reg.register_version("m", model, {"age": age, "plan": plans, "tenure": tenure}, y)
    # a OneHotEncoder's float output next to float64 columns does not type-check in double: float32 it is
    assert rec["onnx"]["status"] == "verified" and rec["onnx"]["dtype"] == "float", rec["onnx"]
    assert rec["onnx"]["max_abs_diff"] <= PROBA_ATOL
    scorer, _ = reg.get_onnx("m", rec["version"])
    served = np.array([[20.0, "gold", 3.0], [20.0, "basic", 3.0], [70.0, "never-seen", 110.0]], dtype=object)
    np.testing.assert_allclose(
        scorer.predict_proba(served), model.predict_proba(served), rtol=0, atol=PROBA_ATOL
    )
    assert scorer.predict(served).tolist() == model.predict(served).tolist()


@pytest.mark.parametrize(
    "model,what",
    [
        (make_pipeline(FunctionTransformer(np.tanh), LogisticRegression()), "FunctionTransformer"),
        (HistGradientBoostingClassifier(max_iter=5), "HistGradientBoostingClassifier"),
    ],
)
def test_anything_else_keeps_joblib_and_the_record_says_why(tmp_path, model, what):
    store, reg = registry(tmp_path)
    rec = reg.register_version("m", fit(model, Y2), X, Y2)
    assert rec["onnx"] == {"status": "unsupported", "reason": f"not in the ONNX-exported set: {what}"}
    assert served_as(rec) == f"joblib (unsupported: not in the ONNX-exported set: {what})"
    assert reg.get_onnx("m", rec["version"])[0] is None
    loaded = RegistrySource(reg, store, endpoint="ep", model="m", variant="stable", alias="production").load(
        1
    )
    assert type(loaded.model) is type(model)  # the joblib artifact


def test_tree_ensembles_keep_their_compiled_scorer_and_get_no_export(tmp_path):
    _store, reg = registry(tmp_path)
    rec = reg.register_version("m", fit(GradientBoostingClassifier(n_estimators=5), Y2), X, Y2)
    assert rec["compiled"] and rec["onnx"] is None and served_as(rec) == "compiled trees"


def test_without_training_rows_there_is_nothing_to_verify_against(tmp_path):
    _store, reg = registry(tmp_path)
    model = fit(LogisticRegression(), Y2)
    sig = {"inputs": [{"name": n, "dtype": "float64"} for n in NAMES], "classes": [0, 1]}
    rec = reg.register_version("m", model, signature=sig)
    assert rec["onnx"] is None and served_as(rec).startswith("joblib (no ONNX export")


def test_an_export_that_disagrees_with_the_model_is_a_mismatch_not_an_artifact(tmp_path, monkeypatch):
    """The check itself must be able to fail: a scorer whose probabilities are off by 1e-3 is refused."""
    real = onnxexport.check_same

    def off_by_a_little(scorer, expected, rows):
        orig = scorer.predict_proba
        scorer.predict_proba = lambda Z: orig(Z) + np.array([1e-3, -1e-3])
        return real(scorer, expected, rows)

    monkeypatch.setattr(onnxexport, "check_same", off_by_a_little)
    store, reg = registry(tmp_path)
    before = set(store.list("artifacts/"))
    rec = reg.register_version("m", fit(LogisticRegression(), Y2), X, Y2)
    assert rec["onnx"]["status"] == "mismatch"
    assert "max |diff| 0.001 > 1e-05" in rec["onnx"]["reason"]
    assert served_as(rec).startswith("joblib (mismatch: ")
    others = {
        rec[k]["key"]
        for k in ("artifact", "reference_profile", "explain_background", "expectations")
        if rec.get(k)
    }
    assert set(store.list("artifacts/")) - before == others  # no ONNX bytes were stored


def test_check_same_refuses_different_labels_and_values():
    model = fit(LogisticRegression(), Y2)
    expected = {"predict": model.predict(X[:50]), "proba": model.predict_proba(X[:50]), "classes": [0, 1]}

    class Flipped:
        def predict(self, Z):
            return 1 - model.predict(Z)

        def predict_proba(self, Z):
            return model.predict_proba(Z)

    assert onnxexport.check_same(Flipped(), expected, X[:50]) is None
    reg_model = fit(LinearRegression(), YR)

    class Shifted:
        def predict(self, Z):
            return reg_model.predict(Z) + 1e-3

    assert onnxexport.check_same(Shifted(), {"predict": reg_model.predict(X[:50])}, X[:50]) is None


def test_a_tampered_onnx_export_is_refused_before_onnxruntime_parses_it(tmp_path, monkeypatch):
    store, reg = registry(tmp_path)
    rec = reg.register_version("m", fit(LogisticRegression(), Y2), X, Y2)
    key = rec["onnx"]["key"]
    store.put(key, store.get(key).data[:-1] + b"x")
    parsed: list[bytes] = []
    monkeypatch.setattr(onnxexport, "scorer", parsed.append)
    with pytest.raises(IntegrityError, match="ONNX export"):
        reg.get_onnx("m", rec["version"])
    assert parsed == []  # never handed to onnxruntime
    assert reg.audit.history(action="artifact.verify_failed", limit=1)
    with pytest.raises(IntegrityError, match="ONNX export of m v1"):
        reg.verify_servable("m", rec["version"])  # and the deploy gate refuses the version


def test_serving_an_onnx_version_imports_neither_sklearn_nor_joblib(tmp_path):
    store, reg = registry(tmp_path)
    model = fit(make_pipeline(StandardScaler(), LogisticRegression()), Y2)
    rec = reg.register_version("m", model, X, Y2, feature_names=NAMES)
    reg.request_approval("m", rec["version"])
    reg.with_actor("bob").decide_approval("m", rec["version"], "approve")
    reg.deployments().set_stable("ep", "m", rec["version"])
    expected = model.predict_proba(X[:3])[:, 1].round(6).tolist()
    code = textwrap.dedent(f"""
        import json, sys
        from mlops.http import Request
        from mlops.registry import Registry
        from mlops.serving.inference import InferenceService
        from mlops.serving.source import RegistrySource
        from mlops.storage import FileStore
        store = FileStore({str(tmp_path / "s")!r})
        src = RegistrySource(Registry(store), store, endpoint="ep", model="m", variant="stable", alias="production")
        svc = InferenceService(src, endpoint="ep", model_name="m", variant="stable", emit=lambda r: None,
                               start_refresher=False, log=lambda m: None)
        body = json.dumps({{"instances": {X[:3].tolist()!r}}}).encode()
        out = svc.predict(Request.from_url("POST", "/v1/endpoints/ep/predict", {{}}, body)).body
        heavy = sorted(m for m in ("sklearn", "joblib", "skl2onnx", "onnx", "scipy") if m in sys.modules)
        print(json.dumps({{"p": [round(p[1], 6) for p in out["probabilities"]], "heavy": heavy,
                          "scorer": type(svc.current.model).__name__}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"p": expected, "heavy": [], "scorer": "OnnxScorer"}


def test_an_unexpected_export_failure_never_fails_the_registration(tmp_path, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(onnxexport, "probe_rows", boom)
    _store, reg = registry(tmp_path)
    rec = reg.register_version("m", fit(LogisticRegression(), Y2), X, Y2)
    assert rec["version"] == 1
    assert rec["onnx"] == {
        "status": "unsupported",
        "reason": "export failed: RuntimeError: converter exploded",
    }
