"""Inference service: real registry (file store), real model; hot swap, records, feedback, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.errors import UnavailableError, UnprocessableError
from mlops.http import Request
from mlops.registry import Registry
from mlops.serving.inference import InferenceService
from mlops.serving.source import RegistrySource
from mlops.storage import FileStore
from sklearn.linear_model import LogisticRegression


@pytest.fixture
def world(tmp_path):
    store = FileStore(str(tmp_path / "store"))
    reg = Registry(store, actor="alice")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    names = ["a", "b", "c", "d"]
    v1 = reg.register_version("m", LogisticRegression().fit(X, y), X, y, feature_names=names)["version"]
    v2 = reg.register_version("m", LogisticRegression(C=0.01).fit(X, 1 - y), X, 1 - y, feature_names=names)[
        "version"
    ]
    for v in (v1, v2):
        reg.request_approval("m", v)
        reg.with_actor("bob").decide_approval("m", v, "approve")
    return store, reg, X, v1, v2


def service(store, reg, variant="stable", records=None, **kw):
    src = RegistrySource(reg, store, endpoint="ep", model="m", variant=variant, alias="production")
    return InferenceService(
        src,
        endpoint="ep",
        model_name="m",
        variant=variant,
        emit=(records if records is not None else []).append,
        start_refresher=False,
        log=lambda m: None,
        **kw,
    )


def served_key(reg, v):
    """The object serving loads for version ``v``: its ONNX export when it has one (issue 18), else its
    joblib artifact; altering it makes the version unservable."""
    rec = reg.get_version("m", v)
    return (rec.get("onnx") or {}).get("key") or rec["artifact"]["key"]


def req(body, **headers):
    return Request.from_url("POST", "/v1/endpoints/ep/predict", headers, json.dumps(body).encode())


def test_no_deployment_is_a_clear_503(world):
    store, reg, *_ = world
    svc = service(store, reg)
    with pytest.raises(UnavailableError, match="no model version is deployed"):
        svc.predict(req({"instances": [[0, 0, 0, 0]]}))


def test_predict_serves_the_deployed_version_and_hot_swaps_on_promote(world):
    store, reg, X, v1, v2 = world
    reg.deployments().set_stable("ep", "m", v1)
    records: list = []
    svc = service(store, reg, records=records, sample_rate=1.0)
    out = svc.predict(req({"instances": [X[0].tolist()]}, **{"x-mlops-principal": "bob"})).body
    assert out["version"] == v1 and out["variant"] == "stable"
    assert len(out["probabilities"][0]) == 2 and 0.5 <= out["confidence"][0] <= 1
    assert out["prediction_id"] == out["prediction_ids"][0]
    rec = records[-1]
    assert rec["kind"] == "prediction" and rec["version"] == v1 and rec["features"]["a"] == X[0, 0]
    assert rec["principal"] and rec["principal"] != "bob"  # hashed, never the raw principal
    reg.deployments().start_canary("ep", v2, 1000)
    reg.deployments().promote("ep")
    svc.refresh()  # what the refresher thread does
    assert svc.predict(req({"instances": [X[0].tolist()]})).body["version"] == v2


def test_canary_variant_serves_the_canary_version(world):
    store, reg, X, v1, v2 = world
    reg.deployments().set_stable("ep", "m", v1)
    reg.deployments().start_canary("ep", v2, 1000)
    svc = service(store, reg, variant="canary")
    assert svc.predict(req({"inputs": dict(zip("abcd", X[0].tolist(), strict=True))})).body["version"] == v2


def test_store_unreachable_keeps_serving_the_cached_model(world):
    store, reg, X, v1, _ = world
    reg.deployments().set_stable("ep", "m", v1)
    logs: list = []
    src = RegistrySource(reg, store, endpoint="ep", model="m", variant="stable", alias="production")
    svc = InferenceService(
        src,
        endpoint="ep",
        model_name="m",
        variant="stable",
        emit=lambda r: None,
        start_refresher=False,
        log=logs.append,
    )
    src.resolve = lambda: (_ for _ in ()).throw(OSError("store down"))
    svc.refresh()
    svc.refresh()
    assert svc.predict(req({"instances": [X[0].tolist()]})).body["version"] == v1
    assert sum("cannot refresh" in m for m in logs) == 1  # said once, not per refresh


def test_sample_rate_zero_keeps_features_out_of_records(world):
    store, reg, X, v1, _ = world
    reg.deployments().set_stable("ep", "m", v1)
    records: list = []
    svc = service(store, reg, records=records, sample_rate=0.0)
    svc.predict(req({"instances": X[:5].tolist()}))
    assert len(records) == 5 and all("features" not in r for r in records)


def test_feedback_records_and_validation(world):
    store, reg, X, v1, _ = world
    reg.deployments().set_stable("ep", "m", v1)
    records: list = []
    svc = service(store, reg, records=records)
    pid = svc.predict(req({"instances": [X[0].tolist()]})).body["prediction_id"]
    r = svc.feedback(req({"prediction_id": pid, "actual": 1}))
    assert r.status == 202 and records[-1] == {
        **records[-1],
        "kind": "feedback",
        "prediction_id": pid,
        "actual": 1,
    }
    for bad, code in (
        ({"prediction_id": "x", "actual": 1}, "invalid_prediction_id"),
        ({"prediction_id": pid}, "missing_actual"),
        ({"prediction_id": pid, "actual": [1]}, "invalid_actual"),
        ({"feedback": []}, "invalid_shape"),
    ):
        with pytest.raises(UnprocessableError) as ei:
            svc.feedback(req(bad))
        assert ei.value.code == code


def test_tampered_artifact_is_refused_before_deserialization(world, tmp_path):
    store, reg, X, v1, _ = world
    key = served_key(reg, v1)
    reg.deployments().set_stable("ep", "m", v1)  # deploy-time verification passes, then the bytes change
    store.put(key, store.get(key).data + b"tamper")
    logs: list = []
    src = RegistrySource(reg, store, endpoint="ep", model="m", variant="stable", alias="production")
    svc = InferenceService(
        src,
        endpoint="ep",
        model_name="m",
        variant="stable",
        emit=lambda r: None,
        start_refresher=False,
        log=logs.append,
    )
    assert svc.current is None and any("sha256" in m.lower() or "integrity" in m.lower() for m in logs)


def test_direct_invoke_smoke_check(world):
    store, reg, X, v1, _ = world
    reg.deployments().set_stable("ep", "m", v1)
    svc = service(store, reg)
    r = svc.router().dispatch(
        Request.from_url("POST", "/", {}, json.dumps({"smoke": True, "version": v1}).encode())
    )
    assert r.body["ok"] is True and r.body["version"] == v1
    with pytest.raises(UnavailableError, match="expected v99"):
        svc.router().dispatch(Request.from_url("POST", "/", {}, b'{"smoke": true, "version": 99}'))
    r = svc.router().dispatch(
        Request.from_url("POST", "/", {}, json.dumps({"instances": [X[0].tolist()]}).encode())
    )
    assert r.body["version"] == v1


def test_a_pipeline_with_a_categorical_feature_serves_end_to_end(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    store = FileStore(str(tmp_path / "s"))
    reg = Registry(store, actor="alice")
    rng = np.random.default_rng(0)
    plans = rng.choice(["basic", "gold", "pro"], size=400)
    age = rng.normal(40, 10, size=400)
    X = np.empty((400, 2), dtype=object)
    X[:, 0], X[:, 1] = plans, age
    y = ((plans == "gold") | (age > 45)).astype(int)
    model = make_pipeline(
        ColumnTransformer([("plan", OneHotEncoder(handle_unknown="ignore"), [0])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, y)
    v = reg.register_version("m", model, {"plan": plans, "age": age}, y)["version"]
    rec = reg.get_version("m", v)
    assert [i["dtype"] for i in rec["signature"]["inputs"]] == ["str", "float64"]
    reg.request_approval("m", v)
    reg.with_actor("bob").decide_approval("m", v, "approve")
    reg.deployments().set_stable("ep", "m", v)
    svc = service(store, reg)
    out = svc.predict(
        req({"dataframe_records": [{"plan": "gold", "age": 20.0}, {"plan": "basic", "age": 20.0}]})
    )
    assert out.body["predictions"] == [1, 0]


def test_an_unservable_canary_falls_back_to_stable_and_recovers_when_repaired(world):
    """issue 13 D: the canary's cohort gets stable's predictions (variant reported as stable) while the
    canary's artifact fails verification; with stable broken too, 503 model_unavailable; repaired, v2 again."""
    store, reg, X, v1, v2 = world
    reg.deployments().set_stable("ep", "m", v1)
    reg.deployments().start_canary("ep", v2, 1000)
    key2, key1 = served_key(reg, v2), served_key(reg, v1)
    good2, good1 = store.get(key2).data, store.get(key1).data
    store.put(key2, good2 + b"x")
    records: list = []
    logs: list = []
    src = RegistrySource(reg, store, endpoint="ep", model="m", variant="canary", alias="canary")
    canary = InferenceService(
        src,
        endpoint="ep",
        model_name="m",
        variant="canary",
        emit=records.append,
        start_refresher=False,
        log=logs.append,
        sample_rate=0.0,
    )
    out = canary.predict(req({"instances": [X[0].tolist()]}, **{"x-mlops-cohort": "canary"}))
    assert (out.body["variant"], out.body["version"], out.headers["x-variant"]) == ("stable", v1, "stable")
    assert out.body["fallback"]["version"] == v2 and records[-1]["fallback"]["reason"] == "artifact_integrity"
    assert records[-1]["variant"] == "stable" and records[-1]["cohort"] == "canary"
    canary.refresh()
    assert sum("cannot be served" in m for m in logs) == 1  # said once, not every refresh
    store.put(key1, good1 + b"y")  # stable's bytes broken as well:
    fresh = InferenceService(
        src,
        endpoint="ep",
        model_name="m",
        variant="canary",
        emit=records.append,
        start_refresher=False,
        log=logs.append,
    )  # a new container has nothing to serve
    with pytest.raises(UnavailableError) as e:
        fresh.predict(req({"instances": [X[0].tolist()]}))
    assert e.value.code == "model_unavailable" and "failed verification" in e.value.message
    store.put(key1, good1)
    store.put(key2, good2)  # repaired
    canary.refresh()
    out = canary.predict(req({"instances": [X[0].tolist()]}))
    assert (out.body["variant"], out.body["version"]) == ("canary", v2) and "fallback" not in out.body


def test_a_stable_function_keeps_its_version_when_the_next_one_is_unservable(world):
    """issue 13 D: a promotion whose artifact was altered after the deploy check does not take stable down."""
    store, reg, X, v1, v2 = world
    reg.deployments().set_stable("ep", "m", v1)
    stable = service(store, reg)
    reg.deployments().start_canary("ep", v2, 1000)
    reg.deployments().promote("ep")
    key2 = served_key(reg, v2)
    store.put(key2, store.get(key2).data + b"x")
    stable.refresh()
    out = stable.predict(req({"instances": [X[0].tolist()]}))
    assert (out.body["variant"], out.body["version"]) == ("stable", v1) and "fallback" not in out.body
    assert stable.info(None)["unavailable"]["version"] == v2
