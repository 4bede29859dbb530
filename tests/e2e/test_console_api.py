"""Issue 17, the console's data side through the real local stack: the gateway's console routes with a key,
without one and with a key lacking the read scope; the OpenAPI document anonymous, and every path it
documents answered (no route-level 404) through the gateway."""

from __future__ import annotations

import json
import time

import pytest
from mlops.console.app import add_ui_routes
from mlops.http import Router
from mlops.local.setup import add_api_keys

from tests.harness import http, openapi_concrete_url

pytestmark = pytest.mark.e2e


def _get(stack, path: str, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http("GET", stack["url"] + path, None, headers)


def _until(fn, deadline_s: float = 60.0):
    end = time.monotonic() + deadline_s
    while True:
        out = fn()
        if out or time.monotonic() > end:
            return out
        time.sleep(0.2)


def test_console_routes_with_and_without_the_read_scope(stack):
    url, key = stack["url"], stack["key"]
    for _ in range(5):  # some traffic, so the last hour has latency numbers
        r = http(
            "POST",
            url + "/v1/endpoints/churn/predict",
            {"instances": [stack["X"][0].tolist()]},
            {"Authorization": f"Bearer {key}"},
        )
        assert r.status == 200, r

    def stable_invocations():
        doc = json.loads(_get(stack, "/v1/console/overview", key).body)
        ep = next(e for e in doc["endpoints"] if e["endpoint"] == "churn")
        return ep if (ep["variants"]["stable"]["invocations"] or 0) >= 5 else None

    ep = _until(stable_invocations)  # the runtime's metrics are flushed within a second or so
    assert ep and ep["stable_version"] == stack["v1"] and ep["variants"]["stable"]["latency_p99_ms"] > 0
    models = json.loads(_get(stack, "/v1/console/models/churn", key).body)
    assert {v["version"] for v in models["versions"]} >= {stack["v1"], stack["v2"]}

    no_key = _get(stack, "/v1/console/overview", None)
    assert no_key.status == 401 and json.loads(no_key.body)["error"]["code"] == "unauthorized"
    (predict_only,) = add_api_keys(stack["settings"], [("predictor", ["mlops:predict"])])
    r = _until(
        lambda: (lambda r: r if r.status != 401 else None)(_get(stack, "/v1/console/overview", predict_only))
    )
    assert r.status == 403, r
    assert json.loads(r.body)["error"]["code"] == "insufficient_scope"


def test_openapi_is_anonymous_and_every_documented_path_is_routed(stack):
    r = _get(stack, "/v1/openapi.json", None)
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    doc = json.loads(r.body)
    has_ui = add_ui_routes(Router())
    # a read-only key: a change route answers 403 from the function (routed, nothing changed), a predict
    # route 403 from the gateway after matching the route
    (reader,) = add_api_keys(stack["settings"], [("reader", ["mlops:read"])])
    assert _until(lambda: _get(stack, "/v1/console/models", reader).status == 200)
    checked = 0
    for path, item in doc["paths"].items():
        if path.startswith("/ui") and not has_ui:
            continue  # the static shell's files come from the UI side (mlops.console.static)
        concrete = openapi_concrete_url(path)
        for method in ("get", "post", "put", "delete"):
            if method not in item:
                continue
            body = b"{}" if method in ("post", "put") else None
            resp = http(
                method.upper(),
                stack["url"] + concrete,
                body,
                {"Authorization": f"Bearer {reader}", "Content-Type": "application/json"},
            )
            code = (json.loads(resp.body).get("error") or {}).get("code") if resp.body[:1] == b"{" else None
            assert code != "route_not_found", (method, path, resp)
            if method != "get":
                assert resp.status in (400, 403, 405, 415), (method, path, resp)  # never a change
            checked += 1
    assert checked >= 30
