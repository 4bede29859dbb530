"""POST /v1/endpoints/E/explain through the local gateway, the authorizer and the real inference function."""

from __future__ import annotations

import pytest
from mlops.local.setup import add_api_keys

from tests.harness import http

pytestmark = pytest.mark.e2e

EXPLAIN = "/v1/endpoints/churn/explain"


def test_explain_needs_the_explain_scope_and_adds_up_to_the_output(stack):
    X = stack["X"]
    body = {"instances": X[:3].tolist()}
    explainer, predictor = add_api_keys(
        stack["settings"], [("e2e-explainer", ["mlops:explain"]), ("e2e-predictor", ["mlops:predict"])]
    )
    r = http("POST", stack["url"] + EXPLAIN, body, {"Authorization": f"Bearer {explainer}"})
    assert r.status == 200, r.body
    out = r.json()
    assert (out["method"], out["output_space"], out["variant"]) == ("tree_shap_exact", "log_odds", "stable")
    assert out["version"] == stack["v1"] and out["request_id"]
    assert len(out["explanations"]) == 3
    for e in out["explanations"]:
        assert len(e["contributions"]) == X.shape[1]
        assert e["base_value"] + sum(e["contributions"].values()) == pytest.approx(e["output"], abs=1e-9)
    # the same caller's prediction is the one explained
    pred = http(
        "POST", stack["url"] + "/v1/endpoints/churn/predict", body, {"Authorization": f"Bearer {predictor}"}
    )
    assert pred.status == 200 and pred.json()["predictions"] == [e["prediction"] for e in out["explanations"]]
    # predict does not imply explain, nor explain predict
    r = http("POST", stack["url"] + EXPLAIN, body, {"Authorization": f"Bearer {predictor}"})
    assert r.status == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert "mlops:explain" in r.json()["error"]["message"]
    r = http(
        "POST", stack["url"] + "/v1/endpoints/churn/predict", body, {"Authorization": f"Bearer {explainer}"}
    )
    assert r.status == 403
    assert http("POST", stack["url"] + EXPLAIN, body, {}).status == 401


def test_the_pinned_route_reaches_both_variants_and_no_other(stack):
    body = {"instances": stack["X"][:1].tolist()}
    auth = {"Authorization": f"Bearer {stack['key']}"}  # the dev key has mlops:pin
    base = stack["url"] + "/v1/endpoints/churn/variants/"
    r = http("POST", base + "stable/predict", body, auth)
    assert r.status == 200 and r.json()["variant"] == "stable"
    r = http("POST", base + "nope/predict", body, auth)
    assert r.status == 404 and r.json()["error"]["code"] == "no_backend"
