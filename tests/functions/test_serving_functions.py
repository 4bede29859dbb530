"""Inference, authorizer and guardian functions through the real fdk request path, configured by env vars."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from mlops.blueprint.functions import function_spec
from mlops.local.setup import add_api_key, local_api_key
from mlops.registry import Registry
from mlops.settings import settings_from_config
from mlops.storage import FileStore
from sklearn.linear_model import LogisticRegression

from tests.harness import fdk_call

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path):
    settings = settings_from_config(
        {
            "mlops:endpoints": [{"name": "ep", "model": "m", "model_refresh_s": 3600}],
            "mlops:store": {"backend": "file", "path": str(tmp_path / "store")},
            "mlops:local": {
                "state_dir": str(tmp_path / "state"),
                "secrets_file": str(tmp_path / "secrets.json"),
            },
        },
        stack="fn",
        project_dir=tmp_path,
    )
    store = FileStore(str(tmp_path / "store"))
    reg = Registry(store, actor="alice")
    X = np.random.default_rng(0).normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int)
    v = reg.register_version("m", LogisticRegression().fit(X, y), X, y, feature_names=["a", "b", "c"])[
        "version"
    ]
    reg.request_approval("m", v)
    reg.with_actor("bob").decide_approval("m", v, "approve")
    reg.deployments().set_stable("ep", "m", v)
    return settings, reg, X


def load(name: str, source: str, settings, monkeypatch, module_name: str):
    for k, v in function_spec(settings, name).config.items():
        monkeypatch.setenv(k, v)
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / source / "func.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inference_predicts_and_rejects_through_fdk(stack, monkeypatch):
    settings, _, X = stack
    fn = load("inference-ep-stable", "inference", settings, monkeypatch, "inference_under_test")
    status, headers, body = fdk_call(
        fn.handler, url="/v1/endpoints/ep/predict", body={"instances": [X[0].tolist()]}
    )
    out = json.loads(body)
    assert status == 200 and out["version"] == 1 and headers["fn-http-h-x-model-version"] == "1"
    status, _, body = fdk_call(fn.handler, url="/v1/endpoints/ep/predict", body={"instances": [[1, 2]]})
    assert status == 422 and json.loads(body)["error"]["code"] == "wrong_width"
    status, _, body = fdk_call(fn.handler, url="/v1/endpoints/ep/nope", body={})
    assert status == 404 and json.loads(body)["error"]["code"] == "route_not_found"
    # issue 13 G: the pinned route of its own variant reaches it too; the other variant's does not
    status, _, body = fdk_call(
        fn.handler, url="/v1/endpoints/ep/variants/stable/predict", body={"instances": [X[0].tolist()]}
    )
    assert status == 200 and json.loads(body)["variant"] == "stable"
    status, _, body = fdk_call(fn.handler, url="/v1/endpoints/ep/variants/canary/predict", body={})
    assert status == 404


def test_inference_explains_through_fdk_with_sampling_shapley_for_a_linear_model(stack, monkeypatch):
    """issue 18: the explain route of the real function; a LogisticRegression is not a tree ensemble, so it
    gets sampling Shapley values against the background sample stored at registration."""
    settings, _, X = stack
    fn = load("inference-ep-stable", "inference", settings, monkeypatch, "inference_explain_under_test")
    status, headers, body = fdk_call(
        fn.handler, url="/v1/endpoints/ep/explain", body={"instances": X[:2].tolist()}
    )
    out = json.loads(body)
    assert status == 200 and headers["fn-http-h-x-variant"] == "stable", out
    assert (out["method"], out["output_space"]) == ("sampling_shapley", "probability")
    for e in out["explanations"]:
        assert set(e["contributions"]) == {"a", "b", "c"} and e["class"] == 1
        assert e["base_value"] + sum(e["contributions"].values()) == pytest.approx(e["output"], abs=1e-9)
    status, _, body = fdk_call(fn.handler, url="/v1/endpoints/ep/explain", body={"instances": [[1, 2]]})
    assert status == 422 and json.loads(body)["error"]["code"] == "wrong_width"


def test_authorizer_answers_in_ocis_format_through_fdk(stack, monkeypatch):
    settings, _, _ = stack
    key = local_api_key(settings)
    fn = load("authorizer", "authorizer", settings, monkeypatch, "authorizer_under_test")
    _, _, body = fdk_call(
        fn.handler, body={"type": "USER_DEFINED", "data": {"token": f"Bearer {key}"}}, gateway=False
    )
    out = json.loads(body)
    assert (
        out["active"] is True and out["principal"] == "local-dev" and out["context"]["cohort_ep"] == "stable"
    )
    _, _, body = fdk_call(fn.handler, body=b"garbage", gateway=False)
    assert json.loads(body)["active"] is False


def test_a_key_issued_after_1000_bogus_tokens_works_on_the_next_request_through_fdk(stack, monkeypatch):
    """issue 13 A: unknown key ids are never answered with a cacheable denial, the ring file is re-read
    when it changes, and 1,000 bogus tokens cost bounded work (ring reads counted by the function)."""
    settings, _, _ = stack
    local_api_key(settings)
    fn = load("authorizer", "authorizer", settings, monkeypatch, "authorizer_flood_under_test")

    def ask(header: str) -> dict:
        return json.loads(
            fdk_call(fn.handler, body={"type": "USER_DEFINED", "data": {"token": header}}, gateway=False)[2]
        )

    for i in range(1000):
        out = ask(f"Bearer mlk_{i:012x}_{'x' * 32}")
        assert out["active"] is False and "expiresAt" not in out
    assert fn._keys.reads <= 1  # the first load; the flood caused no read
    token = add_api_key(settings, "fresh-app", ["mlops:predict"])  # what `mlops keys new` does
    out = ask(f"Bearer {token}")
    assert out["active"] is True and out["principal"] == "fresh-app"
    assert fn._keys.reads <= 2
    out = ask(token)  # the bare token: refused, the scheme is required
    assert out["active"] is False and out["wwwAuthenticate"].startswith("Bearer")


def test_guardian_rolls_back_through_fdk(stack, monkeypatch):
    settings, reg, _ = stack
    v2 = reg.register_version(
        "m",
        LogisticRegression(C=0.1).fit(np.eye(3), [0, 1, 0]),
        np.eye(3),
        [0, 1, 0],
        feature_names=["a", "b", "c"],
        profile=False,
    )["version"]
    reg.request_approval("m", v2)
    reg.with_actor("bob").decide_approval("m", v2, "approve")
    reg.deployments().start_canary("ep", v2, 500)
    fn = load("guardian", "guardian", settings, monkeypatch, "guardian_under_test")
    from mlops.monitoring.defaults import default_rules
    from mlops.monitoring.evaluator import FIRING, AlarmEvent
    from mlops.monitoring.notify import format_alarm_message

    rule = next(r for r in default_rules(["ep"]) if r.name.startswith("canary-errors"))
    _, msg = format_alarm_message(AlarmEvent(rule, FIRING, 9.0, rule.threshold, {"endpoint": "ep"}, 0.0, "x"))
    status, _, body = fdk_call(fn.handler, body=msg, gateway=False)
    assert status == 200 and json.loads(body)["actions"][0]["result"] == "done"
    assert reg.deployments().get("ep")["canary_version"] is None
    notes = Path(function_spec(settings, "guardian").config["MLOPS_NOTIFY_FILE"]).read_text()
    assert "rolled back canary" in notes


class _Tripwire:
    """Unpickling this touches a file: proof that a pickle was deserialized."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"kind":"prediction"')]


def test_a_canary_that_fails_verification_serves_stable_and_raises_the_canary_alarm(
    stack, monkeypatch, capsys, tmp_path
):
    """issue 13 D: a canary whose artifact fails its sha256 answered its cohort 503 no_model_deployed ("no
    model version is deployed"). Now its cohort gets the stable version's predictions, labelled as such;
    the records carry the fallback, the drift job turns them into canary_unavailable, the canary alarm
    fires and the guardian rolls the canary back."""
    from mlops.driftjob import DriftJob
    from mlops.local.logship import object_created_event
    from mlops.monitoring.defaults import default_rules
    from mlops.monitoring.evaluator import FIRING, AlarmEvaluator
    from mlops.monitoring.metrics import CANARY_UNAVAILABLE, MemoryMetrics
    from mlops.monitoring.notify import format_alarm_message

    settings, reg, X = stack
    v2 = reg.register_version(
        "m",
        LogisticRegression(C=0.1).fit(X, (X[:, 1] > 0).astype(int)),
        X,
        (X[:, 1] > 0).astype(int),
        feature_names=["a", "b", "c"],
    )["version"]
    reg.request_approval("m", v2)
    reg.with_actor("bob").decide_approval("m", v2, "approve")
    reg.deployments().start_canary("ep", v2, 1000)
    tripwire = tmp_path / "unpickled"
    rec2 = reg.get_version("m", v2)
    reg.store.put(rec2["artifact"]["key"], __import__("pickle").dumps(_Tripwire(str(tripwire))))
    reg.store.put(rec2["onnx"]["key"], b"not the verified ONNX export")  # what serving loads first (issue 18)

    fn = load("inference-ep-canary", "inference", settings, monkeypatch, "canary_under_test")
    status, headers, body = fdk_call(
        fn.handler,
        url="/v1/endpoints/ep/predict",
        headers={"x-mlops-cohort": "canary"},
        body={"instances": [X[0].tolist(), X[1].tolist()]},
    )
    out = json.loads(body)
    assert status == 200, out
    assert (out["variant"], out["version"]) == ("stable", 1) and headers["fn-http-h-x-variant"] == "stable"
    assert out["fallback"] == {
        "from": "canary",
        "version": v2,
        "code": "model_unavailable",
        "reason": "artifact_integrity",
    }
    assert not tripwire.exists()
    captured = capsys.readouterr()
    assert "cannot be served as canary" in captured.err and "artifact_integrity" in captured.err
    records = _records(captured.out)
    assert len(records) == 2 and all(
        r["variant"] == "stable" and r["version"] == 1 and r["fallback"]["from"] == "canary" for r in records
    )
    status, _, body = fdk_call(fn.handler, url="/", body={"smoke": True})  # the deploy pipeline's smoke check
    assert status == 503 and json.loads(body)["error"]["code"] == "model_unavailable"

    # the records -> a prediction-log object -> the drift job -> canary_unavailable -> the canary alarm
    key = "prediction-logs/ep/2026/01/01/000000-1.ndjson"
    reg.store.put(key, "".join(json.dumps(r) + "\n" for r in records).encode())
    metrics = MemoryMetrics()
    DriftJob(reg.store, reg, metrics, clock=lambda: 1_800_000_000.0).run(
        object_created_event(key, bucket="local", namespace="local", size=1)
    )
    streams = metrics.query_streams("mlops", CANARY_UNAVAILABLE, {"endpoint": "ep"}, 0, 2e9)
    assert [pt[1] for s in streams for pt in s.points] == [2.0]
    rule = next(r for r in default_rules(["ep"]) if r.kind == "canary-unavailable")
    events = AlarmEvaluator(metrics, [rule]).evaluate(1_800_000_030.0)
    assert [e.status for e in events] == [FIRING] and rule.actions == {"rollback_canary": "ep"}
    guardian = load("guardian", "guardian", settings, monkeypatch, "guardian_for_canary")
    _, msg = format_alarm_message(events[0])
    status, _, body = fdk_call(guardian.handler, body=msg, gateway=False)
    assert status == 200 and json.loads(body)["actions"][0]["result"] == "done"
    assert reg.deployments().get("ep")["canary_version"] is None


def test_a_stable_version_that_fails_verification_is_model_unavailable_not_undeployed(stack, monkeypatch):
    """issue 13 D: with nothing held, the answer names the integrity failure (503 model_unavailable)."""
    settings, reg, X = stack
    key = reg.get_version("m", 1)["onnx"]["key"]  # the ONNX export is what serving loads (issue 18)
    reg.store.put(key, reg.store.get(key).data + b"tampered")
    fn = load("inference-ep-stable", "inference", settings, monkeypatch, "stable_tampered_under_test")
    status, _, body = fdk_call(
        fn.handler, url="/v1/endpoints/ep/predict", body={"instances": [X[0].tolist()]}
    )
    err = json.loads(body)["error"]
    assert status == 503 and err["code"] == "model_unavailable"
    assert "m v1" in err["message"] and "failed verification" in err["message"]
    assert "no model version is deployed" not in err["message"]
