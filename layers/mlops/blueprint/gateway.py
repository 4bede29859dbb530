"""The API Gateway deployment specification of a stack: one dict, deployed by Pulumi, served locally.

The shape is what ``pulumi_oci.apigateway.Deployment(specification=...)`` takes
(snake_case keys of the oci SDK ``apigateway.models.ApiSpecification``); the local
gateway interprets the very same dict. OCI API Gateway has no weighted routing, so a
canary is a ``DYNAMIC_ROUTING_BACKEND`` on ``request.auth[cohort_<endpoint>]``, a
value the authorizer function computes from a hash of the caller (``serving/authorizer.py``; docs/architecture.md).

Why one cohort key per endpoint rather than one ``cohort`` computed from the path:
the authorizer then needs only the token as its argument, so its cached answer
(``cache_keys``) serves every endpoint, and nothing depends on passing path parameters
into a spec-level authentication policy.

Pinning a variant (issue 13 G): ``/v1/endpoints/{E}/variants/{variant}/predict`` reaches that
variant's function directly and requires the pin scope. It is ONE route for both variants: a
``DYNAMIC_ROUTING_BACKEND`` on ``request.path[variant]`` (Oracle: "request.path[<key>] where <key> is
the name of a path parameter defined in the API deployment specification",
docs.oracle.com/iaas/Content/APIGateway/Tasks/apigatewaydynamicroutingbasedonrequest_topic.htm) with
the keys ``stable`` and ``canary`` and no default, so any other value matches no backend (the local
gateway answers 404 ``no_backend`` with our error body; what OCI answers there exactly is not
verified). The authorizer takes one argument (``token``), always present: OCI does not document what
it does when an argument of a multi-argument authorizer is absent from a request, so no ordinary
request may depend on one (the earlier design read an optional ``X-Mlops-Cohort`` header).

Explaining (issue 18): ``/v1/endpoints/{E}/explain`` is routed by cohort exactly as predict, so a
caller gets explanations from the variant that serves their predictions; it requires the explain
scope (``mlops:explain``), which ``mlops:predict`` does not imply.

Each endpoint costs four routes (predict, explain, feedback, the pinned-variant route); OCI allows 50
routes per API deployment (doc "API Gateway Internal Limits",
docs.oracle.com/iaas/Content/APIGateway/Reference/apigatewaylimits.htm, "Number of routes per API
deployment: 50", not changeable), so a stack has at most ``MAX_ENDPOINTS`` endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.errors import ConfigError
from mlops.http import COHORT_HEADER, PRINCIPAL_HEADER, SCOPES_HEADER
from mlops.names import (
    APPROVE_SCOPE,
    DEPLOY_SCOPE,
    EXPLAIN_SCOPE,
    PREDICT_SCOPE,
    READ_SCOPE,
    WRITE_SCOPE,
    cohort_key,
    explain_path,
    inference_function_name,
    local_function_id,
)
from mlops.settings import StackSettings

MAX_ROUTES_PER_DEPLOYMENT = 50  # OCI API Gateway internal limit (see the module doc)
# the registry function's routes (``_registry_routes``): its API, the console's data, and the anonymous ones
_REGISTRY_API_PATHS = (
    "/v1/models",
    "/v1/models/{rest*}",
    "/v1/audit/{rest*}",
    "/v1/endpoints/{endpoint}/deployment",
)
_CONSOLE_DATA_PATH = "/v1/console/{rest*}"
_ANONYMOUS_PATHS = ("/v1/openapi.json", "/ui", "/ui/{rest*}")  # the OpenAPI document, the console's shell
FIXED_ROUTES = (
    1 + len(_REGISTRY_API_PATHS) + 1 + len(_ANONYMOUS_PATHS)
)  # health, registry API, console data, anonymous: 9
ROUTES_PER_ENDPOINT = 4  # predict, explain, feedback, variants/{variant}/predict
MAX_ENDPOINTS = (MAX_ROUTES_PER_DEPLOYMENT - FIXED_ROUTES) // ROUTES_PER_ENDPOINT  # 10


def _fn(function_id: Any) -> dict[str, Any]:
    return {"type": "ORACLE_FUNCTIONS_BACKEND", "function_id": function_id}


def _set_headers(items: Mapping[str, str]) -> dict[str, Any]:
    return {
        "set_headers": {
            "items": [
                {"name": name, "values": [value], "if_exists": "OVERWRITE"} for name, value in items.items()
            ]
        }
    }


def _identity_headers(extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Pass who the authorizer says the caller is; OVERWRITE so a client cannot forge it."""
    items = {
        PRINCIPAL_HEADER.title(): "${request.auth[principal]}",
        SCOPES_HEADER.title(): "${request.auth[scopes]}",
    }
    items.update(extra or {})
    return _set_headers(items)


def _scoped(scopes: list[str], headers: dict[str, Any]) -> dict[str, Any]:
    return {"authorization": {"type": "ANY_OF", "allowed_scopes": scopes}, "header_transformations": headers}


def deployment_spec(settings: StackSettings, function_ids: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment specification; ``function_ids`` maps function name -> OCID (or a local id)."""
    if len(settings.endpoints) > MAX_ENDPOINTS:
        raise ConfigError(
            f"mlops:endpoints: {len(settings.endpoints)} endpoints need "
            f"{FIXED_ROUTES + ROUTES_PER_ENDPOINT * len(settings.endpoints)} gateway routes; an OCI API "
            f"deployment has at most {MAX_ROUTES_PER_DEPLOYMENT}, so a stack has at most {MAX_ENDPOINTS} "
            "endpoints (split the endpoints over several stacks)"
        )
    routes: list[dict[str, Any]] = [_health_route()]
    for ep in settings.endpoints:
        routes.extend(_endpoint_routes(ep.name, settings.auth.pin_scope, function_ids))
    routes.extend(_registry_routes(function_ids["registry"]))
    assert len(routes) <= MAX_ROUTES_PER_DEPLOYMENT, len(routes)
    return {"request_policies": _request_policies(settings, function_ids["authorizer"]), "routes": routes}


def _request_policies(settings: StackSettings, authorizer_id: Any) -> dict[str, Any]:
    """Deployment-wide policies: the authorizer function, and rate limiting and CORS when configured."""
    gw = settings.gateway
    policies: dict[str, Any] = {
        "authentication": {
            "type": "CUSTOM_AUTHENTICATION",
            "function_id": authorizer_id,
            "is_anonymous_access_allowed": True,  # only routes marked ANONYMOUS (health) use it
            # one argument, present on every authenticated request (see the module doc)
            "parameters": {"token": f"request.headers[{gw.auth_header}]"},
            "cache_keys": ["token"],
            "validation_failure_policy": {
                "type": "MODIFY_RESPONSE",
                "response_code": "401",
                "response_message": '{"error":{"code":"unauthorized","message":"a valid API key is '
                "required in the " + gw.auth_header + ' header, as Bearer <key>"}}',
                # RFC 7235: a 401 names the scheme it wants; OCI replaces the response under
                # MODIFY_RESPONSE, so the header is set here rather than left to the authorizer
                "response_header_transformations": _set_headers(
                    {"Content-Type": "application/json", "WWW-Authenticate": "Bearer"}
                ),
            },
        },
    }
    if gw.rate_limit:
        policies["rate_limiting"] = {
            "rate_in_requests_per_second": gw.rate_limit.requests_per_second,
            "rate_key": gw.rate_limit.key,
        }
    if gw.cors:
        policies["cors"] = {
            "allowed_origins": list(gw.cors.allowed_origins),
            "allowed_methods": list(gw.cors.allowed_methods),
            "allowed_headers": list(gw.cors.allowed_headers),
            "exposed_headers": ["X-Request-Id"],
            "is_allow_credentials_enabled": False,
            "max_age_in_seconds": gw.cors.max_age_s,
        }
    return policies


def _health_route() -> dict[str, Any]:
    return {
        "path": "/v1/health",
        "methods": ["GET"],
        "backend": {
            "type": "STOCK_RESPONSE_BACKEND",
            "status": 200,
            "body": '{"status":"ok"}',
            "headers": [{"name": "Content-Type", "value": "application/json"}],
        },
        "request_policies": {"authorization": {"type": "ANONYMOUS"}},
    }


def _variants_backend(selector: str, stable: Any, canary: Any, default: str | None) -> dict[str, Any]:
    """A ``DYNAMIC_ROUTING_BACKEND`` choosing a variant's function by ``selector`` (``default`` or none)."""
    return {
        "type": "DYNAMIC_ROUTING_BACKEND",
        "selection_source": {"type": "SINGLE", "selector": selector},
        "routing_backends": [
            {
                "key": {
                    "type": "ANY_OF",
                    "values": [variant],
                    "name": variant,
                    **({"is_default": True} if variant == default else {}),
                },
                "backend": _fn(fn_id),
            }
            for variant, fn_id in (("canary", canary), ("stable", stable))
        ],
    }


def _endpoint_routes(endpoint: str, pin_scope: str, function_ids: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Predict and explain (split by cohort), the pinned-variant route, and feedback (to the stable function)."""
    stable = function_ids[inference_function_name(endpoint, "stable")]
    canary = function_ids[inference_function_name(endpoint, "canary")]
    key = cohort_key(endpoint)

    def by_cohort() -> dict[str, Any]:
        return _variants_backend(f"request.auth[{key}]", stable, canary, default="stable")

    def cohort_headers() -> dict[str, Any]:
        return _identity_headers({COHORT_HEADER.title(): "${request.auth[" + key + "]}"})

    return [
        {
            "path": f"/v1/endpoints/{endpoint}/predict",
            "methods": ["POST"],
            "backend": by_cohort(),
            "request_policies": _scoped([PREDICT_SCOPE], cohort_headers()),
        },
        {
            "path": explain_path(endpoint),
            "methods": ["POST"],
            "backend": by_cohort(),
            "request_policies": _scoped([EXPLAIN_SCOPE], cohort_headers()),
        },
        {  # one route for both pinned variants: no default, so another {variant} matches no backend
            "path": f"/v1/endpoints/{endpoint}/variants/{{variant}}/predict",
            "methods": ["POST"],
            "backend": _variants_backend("request.path[variant]", stable, canary, default=None),
            "request_policies": _scoped(
                [pin_scope], _identity_headers({COHORT_HEADER.title(): "${request.path[variant]}"})
            ),
        },
        {
            "path": f"/v1/endpoints/{endpoint}/feedback",
            "methods": ["POST"],
            "backend": _fn(stable),
            "request_policies": _scoped([PREDICT_SCOPE], _identity_headers()),
        },
    ]


def _registry_routes(registry_id: Any) -> list[dict[str, Any]]:
    """The registry function's routes: its API (any registry scope; the function checks which one each
    change needs), the console's JSON routes (read scope), and two anonymous kinds of route.

    ``/v1/openapi.json`` and the console's static shell (``/ui``, ``/ui/{rest*}``) are ANONYMOUS: they hold
    no data (the document describes routes and scopes, which are no secret; the shell is the same files
    for everyone), and a browser must load the page before it can ask for a key. No identity headers are
    set on them, and nothing behind them reads one: the registry function answers those paths with the
    document and the files only (its router matches the whole path from its start).
    """
    registry = _fn(registry_id)
    scoped = [
        {
            "path": path,
            "methods": ["GET", "POST", "PUT", "DELETE"],
            "backend": registry,
            "request_policies": _scoped(
                [READ_SCOPE, WRITE_SCOPE, APPROVE_SCOPE, DEPLOY_SCOPE], _identity_headers()
            ),
        }
        for path in _REGISTRY_API_PATHS
    ]
    console = {
        "path": _CONSOLE_DATA_PATH,
        "methods": ["GET"],
        "backend": registry,
        "request_policies": _scoped([READ_SCOPE], _identity_headers()),
    }
    anonymous = [
        {
            "path": path,
            "methods": ["GET"],
            "backend": registry,
            "request_policies": {"authorization": {"type": "ANONYMOUS"}},
        }
        for path in _ANONYMOUS_PATHS
    ]
    return [*scoped, console, *anonymous]


def local_function_ids(names) -> dict[str, str]:
    """Function ids the local runtime understands: ``local:fn:<name>``."""
    return {name: local_function_id(name) for name in names}
