"""issue 13 F: functions through the real fdk path during a store outage (the store directory is gone).

A worker that starts during the outage answers 503 ``store_unavailable`` (not ``no_model_deployed``), a
worker that has its model keeps serving, the drift function answers 503 so its event is delivered again,
and no function re-creates the store's directory.
"""

from __future__ import annotations

import json

from tests.functions.test_serving_functions import load, stack  # noqa: F401 - the shared fixture
from tests.harness import fdk_call

PREDICT = "/v1/endpoints/ep/predict"


def test_a_worker_started_during_an_outage_says_the_store_is_unavailable(stack, monkeypatch, tmp_path):  # noqa: F811
    settings, _, X = stack
    root, aside = tmp_path / "store", tmp_path / "aside"
    root.rename(aside)  # the outage
    fn = load("inference-ep-stable", "inference", settings, monkeypatch, "inference_outage_start")
    status, _, body = fdk_call(fn.handler, url=PREDICT, body={"instances": [X[0].tolist()]})
    err = json.loads(body)["error"]
    assert status == 503 and err["code"] == "store_unavailable", err
    assert "cannot be reached" in err["message"] and err["request_id"]
    assert not root.exists(), "the function re-created the store directory"
    aside.rename(root)  # the store returns: the next refresh loads
    fn._service.refresh()
    status, _, body = fdk_call(fn.handler, url=PREDICT, body={"instances": [X[0].tolist()]})
    assert status == 200 and json.loads(body)["version"] == 1


def test_a_worker_with_its_model_keeps_serving_through_an_outage(stack, monkeypatch, tmp_path):  # noqa: F811
    settings, _, X = stack
    fn = load("inference-ep-stable", "inference", settings, monkeypatch, "inference_outage_warm")
    assert fdk_call(fn.handler, url=PREDICT, body={"instances": [X[0].tolist()]})[0] == 200
    (tmp_path / "store").rename(tmp_path / "aside")
    fn._service.refresh()  # the refresher finds the store gone
    status, _, body = fdk_call(fn.handler, url=PREDICT, body={"instances": [X[0].tolist()]})
    assert status == 200 and json.loads(body)["version"] == 1
    assert not (tmp_path / "store").exists()


def test_the_drift_function_answers_503_during_an_outage(stack, monkeypatch, tmp_path):  # noqa: F811
    from mlops.local.logship import object_created_event

    settings, _, _ = stack
    fn = load("drift", "drift", settings, monkeypatch, "drift_outage")
    (tmp_path / "store").rename(tmp_path / "aside")
    event = object_created_event(
        "prediction-logs/ep/2026/01/01/000000-000-000001.ndjson", bucket="local", namespace="local", size=10
    )
    status, _, body = fdk_call(fn.handler, body=event, gateway=True, url="/")
    assert status == 503 and json.loads(body)["error"]["code"] == "store_unavailable"
    assert not (tmp_path / "store").exists()
