"""The generated deployment spec is exactly what OCI API Gateway accepts, with canary routing."""

from __future__ import annotations

import json

import pytest
from mlops.settings import settings_from_config
from mlops.spec import cohort_key, deployment_spec, function_specs, local_function_ids

from tests.unit.spec.sdk_models import UnknownField, load_model


def _settings(endpoints=("churn", "fraud")):
    return settings_from_config({"mlops:endpoints": [{"name": e, "model": e} for e in endpoints],
                                 "mlops:store": {"backend": "file", "path": "/tmp/x"}}, stack="t")


def _spec(settings):
    ids = local_function_ids([f.name for f in function_specs(settings)])
    return deployment_spec(settings, ids), ids


def test_spec_loads_into_sdk_models_without_unknown_fields():
    spec, _ = _spec(_settings())
    model = load_model(spec, "ApiSpecification")
    assert model.request_policies.authentication.type == "CUSTOM_AUTHENTICATION"
    assert {type(r.backend).__name__ for r in model.routes} >= {
        "DynamicRoutingBackend", "OracleFunctionBackend", "StockResponseBackend"}


def test_loader_rejects_an_unknown_field():
    spec, _ = _spec(_settings())
    spec["routes"][1]["backend"]["weights"] = [90, 10]
    with pytest.raises(UnknownField, match="weights"):
        load_model(spec, "ApiSpecification")


def test_each_endpoint_predict_route_selects_canary_by_authorizer_context():
    settings = _settings()
    spec, ids = _spec(settings)
    for ep in ("churn", "fraud"):
        (route,) = [r for r in spec["routes"] if r["path"] == f"/v1/endpoints/{ep}/predict"]
        backend = route["backend"]
        assert backend["selection_source"]["selector"] == f"request.auth[{cohort_key(ep)}]"
        by_name = {rb["key"]["name"]: rb for rb in backend["routing_backends"]}
        assert by_name["canary"]["backend"]["function_id"] == ids[f"inference-{ep}-canary"]
        assert by_name["stable"]["key"]["is_default"] is True
        assert by_name["stable"]["backend"]["function_id"] == ids[f"inference-{ep}-stable"]


def test_every_route_targets_a_function_of_the_stack_or_a_stock_response():
    settings = _settings()
    spec, ids = _spec(settings)
    known = set(ids.values())
    for route in spec["routes"]:
        b = route["backend"]
        targets = [rb["backend"] for rb in b.get("routing_backends", [])] or [b]
        for t in targets:
            assert t["type"] in ("ORACLE_FUNCTIONS_BACKEND", "STOCK_RESPONSE_BACKEND")
            if t["type"] == "ORACLE_FUNCTIONS_BACKEND":
                assert t["function_id"] in known


def test_identity_headers_are_overwritten_so_clients_cannot_forge_them():
    spec, _ = _spec(_settings())
    for route in spec["routes"]:
        items = route["request_policies"].get("header_transformations", {}).get("set_headers", {}).get("items", [])
        for item in items:
            assert item["if_exists"] == "OVERWRITE"
            assert item["values"][0].startswith("${request.auth[")


def test_spec_is_plain_json():
    spec, _ = _spec(_settings())
    assert json.loads(json.dumps(spec)) == spec
