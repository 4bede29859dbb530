"""The generated deployment spec is exactly what OCI API Gateway accepts, with canary routing."""

from __future__ import annotations

import json

import pytest
from mlops.blueprint.functions import function_specs
from mlops.blueprint.gateway import (
    FIXED_ROUTES,
    MAX_ENDPOINTS,
    MAX_ROUTES_PER_DEPLOYMENT,
    ROUTES_PER_ENDPOINT,
    deployment_spec,
    local_function_ids,
)
from mlops.errors import ConfigError
from mlops.names import cohort_key
from mlops.settings import settings_from_config

from tests.unit.blueprint.sdk_models import UnknownField, load_model


def _settings(endpoints=("churn", "fraud")):
    return settings_from_config(
        {
            "mlops:endpoints": [{"name": e, "model": e} for e in endpoints],
            "mlops:store": {"backend": "file", "path": "/tmp/x"},
        },
        stack="t",
    )


def _spec(settings):
    ids = local_function_ids([f.name for f in function_specs(settings)])
    return deployment_spec(settings, ids), ids


def test_spec_loads_into_sdk_models_without_unknown_fields():
    spec, _ = _spec(_settings())
    model = load_model(spec, "ApiSpecification")
    assert model.request_policies.authentication.type == "CUSTOM_AUTHENTICATION"
    assert {type(r.backend).__name__ for r in model.routes} >= {
        "DynamicRoutingBackend",
        "OracleFunctionBackend",
        "StockResponseBackend",
    }


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
        items = (
            route["request_policies"]
            .get("header_transformations", {})
            .get("set_headers", {})
            .get("items", [])
        )
        for item in items:
            assert item["if_exists"] == "OVERWRITE"
            pinned = "/variants/" in route["path"] and item["name"].lower() == "x-mlops-cohort"
            assert (
                item["values"][0].startswith("${request.auth[")
                or pinned
                and item["values"] == ["${request.path[variant]}"]
            )


def test_spec_is_plain_json():
    spec, _ = _spec(_settings())
    assert json.loads(json.dumps(spec)) == spec


def test_the_authorizer_depends_on_no_argument_a_request_may_lack():
    """issue 13 G: OCI does not document a multi-argument authorizer whose argument is absent from the
    request, so the authorizer takes the token only (no optional pin header)."""
    spec, _ = _spec(_settings())
    authn = spec["request_policies"]["authentication"]
    assert authn["parameters"] == {"token": "request.headers[Authorization]"}
    assert authn["cache_keys"] == ["token"]


def test_one_pinned_route_per_endpoint_selects_the_variant_by_path_parameter():
    """issue 13 G, issue 18: /v1/endpoints/E/variants/{variant}/predict is one route for both variants,
    routed on request.path[variant] with no default (another value matches no backend)."""
    spec, ids = _spec(_settings())
    routes = {r["path"]: r for r in spec["routes"]}
    assert not any(p.endswith(("/variants/stable/predict", "/variants/canary/predict")) for p in routes)
    for ep in ("churn", "fraud"):
        route = routes[f"/v1/endpoints/{ep}/variants/{{variant}}/predict"]
        assert route["methods"] == ["POST"]
        backend = route["backend"]
        assert backend["type"] == "DYNAMIC_ROUTING_BACKEND"
        assert backend["selection_source"] == {"type": "SINGLE", "selector": "request.path[variant]"}
        by_name = {rb["key"]["name"]: rb for rb in backend["routing_backends"]}
        assert set(by_name) == {"stable", "canary"}
        for variant, rb in by_name.items():
            assert rb["key"] == {"type": "ANY_OF", "values": [variant], "name": variant}  # no is_default
            assert rb["backend"] == {
                "type": "ORACLE_FUNCTIONS_BACKEND",
                "function_id": ids[f"inference-{ep}-{variant}"],
            }
        assert route["request_policies"]["authorization"] == {
            "type": "ANY_OF",
            "allowed_scopes": ["mlops:pin"],
        }
        items = {
            i["name"].lower(): i["values"]
            for i in route["request_policies"]["header_transformations"]["set_headers"]["items"]
        }
        assert items["x-mlops-cohort"] == ["${request.path[variant]}"]


def test_explain_route_is_split_by_cohort_like_predict_and_needs_the_explain_scope():
    spec, _ = _spec(_settings())
    routes = {r["path"]: r for r in spec["routes"]}
    for ep in ("churn", "fraud"):
        explain = routes[f"/v1/endpoints/{ep}/explain"]
        predict = routes[f"/v1/endpoints/{ep}/predict"]
        assert explain["methods"] == ["POST"]
        assert explain["backend"] == predict["backend"]  # the variant that serves a caller explains to them
        assert explain["request_policies"]["authorization"] == {
            "type": "ANY_OF",
            "allowed_scopes": ["mlops:explain"],
        }
        assert (
            explain["request_policies"]["header_transformations"]
            == predict["request_policies"]["header_transformations"]
        )


def test_routes_stay_within_oci_routes_per_deployment_limit():
    """issue 13 G: 50 routes per API deployment (doc "API Gateway Internal Limits")."""
    assert MAX_ROUTES_PER_DEPLOYMENT == 50 and ROUTES_PER_ENDPOINT == 4
    # issue 18: explain took the second pinned route's place; issue 17: 9 fixed routes
    assert MAX_ENDPOINTS == 10
    one, _ = _spec(_settings(["e0"]))
    two, _ = _spec(_settings(["e0", "e1"]))
    assert len(two["routes"]) - len(one["routes"]) == ROUTES_PER_ENDPOINT
    assert len(one["routes"]) == FIXED_ROUTES + ROUTES_PER_ENDPOINT  # the count the limit is computed from
    most = _settings([f"e{i}" for i in range(MAX_ENDPOINTS)])
    spec, _ = _spec(most)
    assert len(spec["routes"]) <= MAX_ROUTES_PER_DEPLOYMENT
    load_model(spec, "ApiSpecification")  # the largest spec is still one OCI accepts
    with pytest.raises(ConfigError, match="at most 50, so a stack has at most 10 endpoints"):
        _spec(_settings([f"e{i}" for i in range(MAX_ENDPOINTS + 1)]))
