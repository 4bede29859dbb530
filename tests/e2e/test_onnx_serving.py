"""A logistic-regression pipeline served through the local runtime from its ONNX export (issue 18): the
gateway's answer equals the model's, and the inference worker never loads scikit-learn."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from mlops.local.setup import local_api_key
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.harness import http
from tests.projects import FEATURES

pytestmark = pytest.mark.e2e

PREDICT = "/v1/endpoints/churn/predict"


def _mapped(pid: int) -> str:
    """The files a process has mapped (its loaded extension modules among them)."""
    return Path(f"/proc/{pid}/maps").read_text()


def test_an_onnx_version_serves_through_the_gateway_without_sklearn_in_the_worker(stack):
    reg, X, y = stack["registry"], stack["X"], stack["y"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    rec = reg.register_version("churn", model, X, y, feature_names=FEATURES)
    assert rec["onnx"]["status"] == "verified", rec["onnx"]
    v = rec["version"]
    reg.request_approval("churn", v)
    reg.with_actor("approver").decide_approval("churn", v, "approve", comment="e2e onnx")
    reg.deployments().set_stable("churn", "churn", v, reason="e2e: an ONNX-served version")

    key = local_api_key(stack["settings"])
    body = {"instances": [X[i].tolist() for i in range(5)]}
    deadline = time.monotonic() + 60  # the stable function re-resolves its version on its refresh period
    out: dict = {}
    while time.monotonic() < deadline:
        r = http("POST", stack["url"] + PREDICT, body, {"Authorization": f"Bearer {key}"})
        assert r.status == 200, r.body[:300]
        out = r.json()
        if out["version"] == v:
            break
        time.sleep(0.2)
    assert out["version"] == v, json.dumps(out)[:300]
    np.testing.assert_allclose(
        out["probabilities"], model.predict_proba(X[:5]), rtol=0, atol=1e-6
    )  # answers have 6 digits
    assert out["predictions"] == model.predict(X[:5]).tolist()

    workers = stack["rt"].pools["inference-churn-stable"].workers
    maps = [_mapped(w.process.pid) for w in workers]
    assert any("onnxruntime" in m for m in maps)  # the worker that answered scored with onnxruntime
    assert not any("/sklearn/" in m for m in maps)  # and none loaded scikit-learn's extension modules
