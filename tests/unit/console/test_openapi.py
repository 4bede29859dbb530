"""``GET /v1/openapi.json``: generated from the deployment spec and the registry function's router; every
spec route is in it with the same scopes, and every documented registry-function path is answered."""

from __future__ import annotations

import re

from mlops.console.app import gateway_spec
from mlops.console.openapi import openapi_path

from tests.harness import openapi_concrete_url

OPS = ("get", "post", "put", "delete")


def concrete_url(path: str) -> str:
    return openapi_concrete_url(path, endpoint="ep")


def _doc(get):
    status, doc = get("/v1/openapi.json", who=None, scopes="")  # anonymous: no caller needed
    assert status == 200
    return doc


def test_every_spec_route_is_documented_with_its_methods_and_scopes(world, get):
    doc = _doc(get)
    assert doc["openapi"] == "3.1.0" and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    spec = gateway_spec(world["settings"])
    for route in spec["routes"]:
        item = doc["paths"][openapi_path(route["path"])]
        assert item["x-gateway-path"] == route["path"] and item["x-gateway-methods"] == route["methods"]
        authz = route["request_policies"]["authorization"]
        for method in route["methods"]:
            op = item.get(method.lower())
            if op is None:  # the function does not implement this method of a concrete gateway path
                continue
            if authz["type"] == "ANONYMOUS":
                assert op["security"] == [] and "x-allowed-scopes" not in op
            else:
                assert op["security"] == [{"bearer": authz["allowed_scopes"]}]
                assert op["x-allowed-scopes"] == authz["allowed_scopes"]


def test_every_path_template_parameter_is_declared(world, get):
    for path, item in _doc(get)["paths"].items():
        names = set(re.findall(r"\{([A-Za-z_]+)\}", path))
        for method in OPS:
            if method in item:
                declared = {p["name"] for p in item[method]["parameters"] if p["in"] == "path"}
                assert declared == names, (path, method)
                assert "200" in item[method]["responses"]


def test_console_operations_carry_query_parameters_and_response_schemas(world, get):
    paths = _doc(get)["paths"]
    op = paths["/v1/console/endpoints/{endpoint}/metrics"]["get"]
    assert [p["name"] for p in op["parameters"] if p["in"] == "query"] == ["window"]
    assert op["x-required-scope"] == "mlops:read" and op["x-allowed-scopes"] == ["mlops:read"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"ts", "variants", "step_s"} <= set(schema["required"])
    assert paths["/v1/console/overview"]["get"]["responses"]["401"]["content"]
    assert paths["/v1/models/{model}/versions/{ref}/approval"]["post"]["x-allowed-scopes"][0] == "mlops:read"


def test_every_documented_registry_path_is_answered_by_the_router(world, get):
    """Paths served by the registry function: no ``route_not_found`` for any documented method.
    (Health and the inference routes go to other backends: tests/e2e checks them through the gateway.)"""
    from mlops.console.app import add_ui_routes
    from mlops.http import Router

    has_ui = add_ui_routes(Router())
    spec = gateway_spec(world["settings"])
    registry_paths = {
        openapi_path(r["path"])
        for r in spec["routes"]
        if r["backend"].get("function_id") == "local:fn:registry"
    }
    doc = _doc(get)
    checked = 0
    for path, item in doc["paths"].items():
        if path not in registry_paths and item.get("x-served-by") is None:
            continue
        if path.startswith("/ui") and not has_ui:
            continue  # the static shell's module comes from the UI side (mlops.console.static)
        for method in OPS:
            if method not in item:
                continue
            status, body = get(concrete_url(path), method=method.upper(), scopes="mlops:read")
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            assert code != "route_not_found", (method, path, status, body)  # a 404 of a record is an answer
            if not item[method]["operationId"].endswith("_gateway"):  # a concrete operation: its method too
                assert status != 405, (method, path, body)
            checked += 1
    assert checked >= 30
