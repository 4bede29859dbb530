"""POST /v1/endpoints/E/explain on the inference service: real registry (file store), real models.

Every answer adds up (base + contributions == output, 1e-9), the output is what the model computes in
the space the answer names, classes are chosen as documented, non-tree models get sampling Shapley values
against the background stored at registration, and prediction records carry top contributions only when
``explain_top_k`` is set.
"""

from __future__ import annotations

import json
import os
import subprocess

import joblib
import numpy as np
import pytest
from mlops.errors import ConflictError, PayloadTooLargeError, UnprocessableError
from mlops.http import Request
from mlops.registry import Registry
from mlops.serving.inference import InferenceService
from mlops.serving.source import RegistrySource
from mlops.storage import FileStore
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from tests.harness import peer_venv_python
from tests.unit.serving.test_tree_shap import SHAP_SCRIPT, SHAP_VENV_HOW

RNG = np.random.default_rng(11)
X = RNG.normal(size=(400, 6))
NAMES = [f"f{i}" for i in range(6)]
Y2 = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
Y3 = np.digitize(X[:, 0] + 0.5 * X[:, 3], [-0.5, 0.5])
YR = X[:, 0] * X[:, 1] + np.sin(X[:, 2])
ROWS = RNG.normal(size=(5, 6)) * 1.3


@pytest.fixture
def reg(tmp_path):
    store = FileStore(str(tmp_path / "store"))
    return Registry(store, actor="alice"), store


def deploy(reg, model, y, name="m", records=None, with_frame=True, **kw) -> InferenceService:
    registry, store = reg
    if with_frame:
        rec = registry.register_version(name, model, X, y, feature_names=NAMES)
    else:  # no training frame: a signature only, so no compiled scorer and no background sample
        sig = {"inputs": [{"name": n, "dtype": "float64"} for n in NAMES]}
        rec = registry.register_version(name, model, signature=sig)
    v = rec["version"]
    registry.request_approval(name, v)
    registry.with_actor("bob").decide_approval(name, v, "approve")
    registry.deployments().set_stable(name, name, v)
    src = RegistrySource(registry, store, endpoint=name, model=name, variant="stable", alias="production")
    return InferenceService(
        src,
        endpoint=name,
        model_name=name,
        variant="stable",
        emit=(records if records is not None else []).append,
        start_refresher=False,
        log=lambda m: None,
        **kw,
    )


def ask(svc: InferenceService, rows=ROWS, path="explain", **extra):
    body = {"instances": np.asarray(rows).tolist(), **extra}
    req = Request.from_url("POST", f"/v1/endpoints/{svc.endpoint}/{path}", {}, json.dumps(body).encode())
    return svc.router().dispatch(req) if path != "explain" else svc.explain(req)


def contributions(out) -> np.ndarray:
    return np.array([[e["contributions"][n] for n in NAMES] for e in out["explanations"]])


def check_additive(out) -> None:
    for e in out["explanations"]:
        assert set(e["contributions"]) == set(NAMES)
        assert e["base_value"] + sum(e["contributions"].values()) == pytest.approx(e["output"], abs=1e-9)


def test_gradient_boosting_binary_explains_the_log_odds_of_the_positive_class(reg):
    model = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(X, Y2)
    out = ask(deploy(reg, model, Y2)).body
    assert (out["method"], out["output_space"], out["model"], out["version"], out["variant"]) == (
        "tree_shap_exact",
        "log_odds",
        "m",
        1,
        "stable",
    )
    assert out["request_id"] and "approximation" not in out
    check_additive(out)
    margin = model.decision_function(ROWS)
    np.testing.assert_allclose([e["output"] for e in out["explanations"]], margin, rtol=0, atol=1e-9)
    assert [e["prediction"] for e in out["explanations"]] == model.predict(ROWS).tolist()
    assert {e["class"] for e in out["explanations"]} == {1}
    # the other class: its log-odds are the negation, and so are the contributions
    other = ask(deploy(reg, model, Y2, name="m2"), **{"class": 0}).body
    check_additive(other)
    np.testing.assert_allclose(contributions(other), -contributions(out), rtol=0, atol=1e-12)


def test_gradient_boosting_multiclass_explains_the_predicted_class_unless_told(reg):
    model = GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0).fit(X, Y3)
    svc = deploy(reg, model, Y3)
    out = ask(svc).body
    assert out["output_space"] == "raw_margin"
    check_additive(out)
    predicted = model.predict(ROWS)
    raw = model.decision_function(ROWS)
    for i, e in enumerate(out["explanations"]):
        assert e["class"] == e["prediction"] == predicted[i]
        assert e["output"] == pytest.approx(raw[i, int(predicted[i])], abs=1e-9)
    told = ask(svc, **{"class": "2"}).body  # a label as a string matches too
    check_additive(told)
    assert {e["class"] for e in told["explanations"]} == {2}
    np.testing.assert_allclose([e["output"] for e in told["explanations"]], raw[:, 2], rtol=0, atol=1e-9)
    for wrong in (7, True, [1]):
        with pytest.raises(UnprocessableError) as bad:
            ask(svc, **{"class": wrong})
        assert bad.value.status == 422 and "class" in bad.value.message


def test_forest_explains_a_probability_and_regressor_its_prediction(reg):
    forest = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(X, Y3)
    out = ask(deploy(reg, forest, Y3, name="rf")).body
    assert (out["method"], out["output_space"]) == ("tree_shap_exact", "probability")
    check_additive(out)
    proba = forest.predict_proba(ROWS)
    for i, e in enumerate(out["explanations"]):
        assert e["output"] == pytest.approx(proba[i].max(), abs=1e-9)
    gbr = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, YR)
    svc = deploy(reg, gbr, YR, name="gbr")
    out = ask(svc).body
    assert out["output_space"] == "prediction" and "class" not in out["explanations"][0]
    check_additive(out)
    np.testing.assert_allclose([e["output"] for e in out["explanations"]], gbr.predict(ROWS), atol=1e-9)
    with pytest.raises(UnprocessableError, match="classifiers only"):
        ask(svc, **{"class": 1})


def test_a_model_that_is_not_a_tree_ensemble_gets_sampling_shapley_values(reg):
    model = LogisticRegression().fit(X, Y2)
    svc = deploy(reg, model, Y2)
    out = ask(svc).body
    assert (out["method"], out["output_space"]) == ("sampling_shapley", "probability")
    assert out["approximation"] == {"permutations": 16, "antithetic": True, "seed": 0, "background_rows": 100}
    check_additive(out)
    proba = model.predict_proba(ROWS)[:, 1]
    np.testing.assert_allclose([e["output"] for e in out["explanations"]], proba, rtol=0, atol=1e-12)
    for e in out["explanations"]:
        assert set(e["standard_errors"]) == set(NAMES) and all(v >= 0 for v in e["standard_errors"].values())
    assert ask(svc).body["explanations"] == out["explanations"]  # deterministic: fixed seed
    more = ask(svc, permutations=64).body
    assert more["approximation"]["permutations"] == 64
    for bad in (3, 2, 1000, "8", True):
        with pytest.raises(UnprocessableError) as exc:
            ask(svc, permutations=bad)
        assert exc.value.code == "invalid_permutations"


def test_a_linear_regressor_gets_w_times_x_minus_the_background_mean(reg):
    model = LinearRegression().fit(X, YR)
    svc = deploy(reg, model, YR)
    out = ask(svc).body
    assert out["output_space"] == "prediction"
    background = svc.current.background
    assert background is not None and background.shape == (100, 6)
    # the stored sample is training rows
    assert all((np.abs(X - row).sum(axis=1) == 0).any() for row in background)
    expected = model.coef_ * (ROWS - background.mean(axis=0))
    np.testing.assert_allclose(contributions(out), expected, rtol=0, atol=1e-9)
    for e in out["explanations"]:
        assert max(e["standard_errors"].values()) < 1e-9


def test_without_a_background_sample_the_answer_is_409_reregister(reg):
    svc = deploy(reg, LogisticRegression().fit(X, Y2), Y2, with_frame=False)
    with pytest.raises(ConflictError, match="re-register") as exc:
        ask(svc)
    assert exc.value.code == "reregister_to_explain" and exc.value.status == 409
    assert ask(svc, path="predict").status == 200  # predicting does not need it


def test_a_tampered_background_is_not_used_and_predict_keeps_working(reg):
    registry, store = reg
    v = registry.register_version("t", LogisticRegression().fit(X, Y2), X, Y2, feature_names=NAMES)
    key = v["explain_background"]["key"]
    store.put(key, store.get(key).data + b"x")
    registry.request_approval("t", v["version"])
    registry.with_actor("bob").decide_approval("t", v["version"], "approve")
    registry.deployments().set_stable("t", "t", v["version"])
    src = RegistrySource(registry, store, endpoint="t", model="t", variant="stable", alias="production")
    svc = InferenceService(src, endpoint="t", model_name="t", variant="stable", start_refresher=False)
    with pytest.raises(ConflictError, match="failed sha256 verification"):
        ask(svc)
    assert ask(svc, path="predict").status == 200


def test_batch_limit_is_predicts(reg):
    svc = deploy(reg, GradientBoostingClassifier(n_estimators=5).fit(X, Y2), Y2, max_batch=3)
    with pytest.raises(PayloadTooLargeError) as exc:
        ask(svc, rows=ROWS[:4])
    assert exc.value.code == "batch_too_large"
    assert len(ask(svc, rows=ROWS[:3]).body["explanations"]) == 3


def test_the_router_serves_explain_on_its_path(reg):
    svc = deploy(reg, GradientBoostingClassifier(n_estimators=5).fit(X, Y2), Y2)
    req = Request.from_url(
        "POST", "/v1/endpoints/m/explain", {}, json.dumps({"instances": ROWS[:1].tolist()}).encode()
    )
    resp = svc.router().dispatch(req)
    assert resp.status == 200 and resp.body["method"] == "tree_shap_exact"
    assert resp.headers["x-variant"] == "stable" and resp.headers["x-model-version"] == "1"


def test_prediction_records_carry_top_contributions_only_when_asked(reg):
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, Y2)
    records: list = []
    ask(deploy(reg, model, Y2, records=records), path="predict")
    assert len(records) == len(ROWS) and all("explanation" not in r for r in records)  # off by default
    records.clear()
    svc = deploy(reg, model, Y2, name="k", records=records, explain_top_k=3)
    ask(svc, path="predict")
    full = ask(svc).body["explanations"]
    assert len(records) == len(ROWS)
    for rec, e in zip(records, full, strict=True):
        ex = rec["explanation"]
        assert (ex["method"], ex["output_space"]) == ("tree_shap_exact", "log_odds")
        assert ex["base_value"] == pytest.approx(e["base_value"], abs=1e-12)
        ranked = sorted(e["contributions"].items(), key=lambda kv: -abs(kv[1]))[:3]
        assert [f for f, _ in ex["top"]] == [f for f, _ in ranked]
        np.testing.assert_allclose([c for _, c in ex["top"]], [c for _, c in ranked], rtol=0, atol=1e-12)
    # a model without exact Tree SHAP: records go without (sampling per prediction would cost too much)
    records.clear()
    ask(
        deploy(reg, LogisticRegression().fit(X, Y2), Y2, name="lr", records=records, explain_top_k=3),
        path="predict",
    )
    assert records and all("explanation" not in r for r in records)


# ---------------------------------------------------------------- the real shap package, in its own venv
def test_the_endpoint_answer_equals_shap_tree_explainer_for_gradient_boosting(reg, tmp_path):
    """What a caller of /explain gets (base value, contributions of the log-odds) is what
    ``shap.TreeExplainer(model).shap_values`` says of the same fitted model, to 1e-6."""
    python = peer_venv_python("shap")
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(SHAP_VENV_HOW)
        pytest.skip(SHAP_VENV_HOW)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, Y2)
    rows = RNG.normal(size=(50, 6)) * 1.5
    out = ask(deploy(reg, model, Y2), rows=rows).body
    joblib.dump(model, tmp_path / "model.joblib")
    np.save(tmp_path / "rows.npy", rows)
    (tmp_path / "explain.py").write_text(SHAP_SCRIPT)
    args = [
        str(python),
        str(tmp_path / "explain.py"),
        str(tmp_path / "model.joblib"),
        str(tmp_path / "rows.npy"),
    ]
    subprocess.run([*args, str(tmp_path / "out.npz")], check=True, timeout=300, cwd=tmp_path)
    theirs = np.load(tmp_path / "out.npz")
    ours = contributions(out)
    np.testing.assert_allclose(ours, theirs["values"].reshape(ours.shape), rtol=0, atol=1e-6)
    bases = {e["base_value"] for e in out["explanations"]}
    assert len(bases) == 1 and bases.pop() == pytest.approx(float(theirs["base"][0]), abs=1e-6)
