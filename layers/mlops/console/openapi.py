"""``GET /v1/openapi.json``: an OpenAPI 3.1 document generated from the gateway's deployment specification
and the registry function's router, so it cannot drift from either.

- Every gateway route of the spec is a path (``{rest*}`` written ``{rest}``, the spec's own path kept in
  ``x-gateway-path``) with the spec's methods; its security is the ``bearer`` scheme with the route's
  ``allowed_scopes`` as the required roles (OpenAPI 3.1 allows roles for non-OAuth schemes), or none for an
  ``ANONYMOUS`` route. ``x-allowed-scopes`` repeats the scopes verbatim.
- Every concrete route of the registry function (the registry API, the console, this document, the UI
  shell) is a path too, with its path and query parameters; the console routes have response schemas.
  Its security is that of the gateway route that carries it; ``x-required-scope`` names what the
  function itself checks on top (``mlops:read`` for the console).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mlops.console.routes import ROUTES as CONSOLE_ROUTES
from mlops.names import READ_SCOPE

OPENAPI_PATH = "/v1/openapi.json"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}")
_OBJ: dict[str, Any] = {"type": "object"}
_ARR: dict[str, Any] = {"type": "array"}
_INT_OR_NULL: dict[str, Any] = {"type": ["integer", "null"]}
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_NUM_SERIES: dict[str, Any] = {"type": "array", "items": {"type": ["number", "null"]}}

# top-level properties of each console answer (docs/console-api.md has the full shapes)
CONSOLE_SCHEMAS: dict[str, dict[str, Any]] = {
    "/v1/console/overview": {
        "generated_at": {"type": "string"},
        "window_s": {"type": "integer"},
        "endpoints": _ARR,
    },
    "/v1/console/endpoints/{endpoint}": {
        "endpoint": {"type": "string"},
        "deployment": _OBJ,
        "timeline": _ARR,
        "served": _ARR,
        "ab": {"type": ["object", "null"]},
    },
    "/v1/console/endpoints/{endpoint}/metrics": {
        "endpoint": {"type": "string"},
        "window": {"enum": ["1h", "1d", "30d"]},
        "step_s": {"type": "integer"},
        "ts": _NUM_SERIES,
        "variants": _OBJ,
    },
    "/v1/console/models": {"models": _ARR},
    "/v1/console/models/{model}": {"model": _OBJ, "versions": _ARR},
    "/v1/console/models/{model}/versions/{version}": {
        "model": {"type": "string"},
        "version": {"type": "integer"},
        "record": _OBJ,
        "lineage": _OBJ,
        "approval": _OBJ,
        "importances": _ARR,
        "shap_importance": {"type": ["array", "null"]},
    },
    "/v1/console/models/{model}/compare": {
        "model": {"type": "string"},
        "a": _OBJ,
        "b": _OBJ,
        "params": _ARR,
        "metrics": _ARR,
    },
    "/v1/console/datasets": {"datasets": _ARR},
    "/v1/console/datasets/{dataset}": {
        "name": {"type": "string"},
        "versions_total": {"type": "integer"},
        "versions": _ARR,
        "references_scan": _OBJ,
    },
    "/v1/console/datasets/{dataset}/diff": {
        "name": {"type": "string"},
        "a_version": {"type": "integer"},
        "b_version": {"type": "integer"},
        "same_content": {"type": "boolean"},
        "columns": _OBJ,
        "rows": _OBJ,
        "null_rates": _ARR,
    },
    "/v1/console/features": {"groups": _ARR},
    "/v1/console/features/{group}": {
        "group": {"type": "string"},
        "latest_version": {"type": "integer"},
        "versions_total": {"type": "integer"},
        "versions": _ARR,
    },
    "/v1/console/drift": {"series": _ARR},
    "/v1/console/drift/report": {
        "endpoint": {"type": "string"},
        "stamp": {"type": "string"},
        "dataset": _OBJ,
        "features": _ARR,
    },
    "/v1/console/alarms": {"rules": _ARR, "history": _ARR, "guardian_actions": _ARR, "notifications": _ARR},
    "/v1/console/audit": {"entries": _ARR, "next_before_seq": _INT_OR_NULL},
    "/v1/console/audit/verify": {
        "ok": {"type": "boolean"},
        "entries": {"type": "integer"},
        "problems": _ARR,
        "checked_at": {"type": "string"},
        "cached": {"type": "boolean"},
    },
    "/v1/console/audit/served": {
        "endpoint": {"type": "string"},
        "at": {"type": "string"},
        "state": {"type": ["object", "null"]},
        "since": _STR_OR_NULL,
        "versions": _OBJ,
    },
}

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}


def openapi_path(path: str) -> str:
    """A gateway path in OpenAPI's template syntax: ``{rest*}`` -> ``{rest}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _path_parameters(path: str) -> list[dict[str, Any]]:
    out = []
    for m in _PARAM.finditer(path):
        desc = "the rest of the path (a gateway wildcard: may hold '/')" if m.group(2) else m.group(1)
        out.append(
            {
                "name": m.group(1),
                "in": "path",
                "required": True,
                "description": desc,
                "schema": {"type": "string"},
            }
        )
    return out


def _security(route: Mapping[str, Any]) -> tuple[list[dict[str, list[str]]], list[str] | None]:
    authz = (route.get("request_policies") or {}).get("authorization") or {}
    if authz.get("type") == "ANONYMOUS":
        return [], None
    scopes = list(authz.get("allowed_scopes") or [])
    return [{"bearer": scopes}], scopes


def _route_regex(path: str) -> re.Pattern[str]:
    """A spec path as a regex: ``{x}`` one segment, ``{x*}`` the rest of the path."""
    out, pos = [], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[pos : m.start()]))
        out.append(".+" if m.group(2) else "[^/]+")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("^" + "".join(out) + r"/?\Z")


def _gateway_match(spec_routes: list[Mapping[str, Any]], path: str) -> Mapping[str, Any] | None:
    """The spec route that carries a concrete path (an exact path wins over a wildcard)."""
    probe = re.sub(r"\{[^}]+\}", "x", path)
    hits = [r for r in spec_routes if _route_regex(r["path"]).match(probe)]
    hits.sort(key=lambda r: "*" in r["path"])
    return hits[0] if hits else None


def _response(pattern: str) -> dict[str, Any]:
    props = CONSOLE_SCHEMAS.get(pattern)
    schema: dict[str, Any] = {"type": "object"}
    if props:
        schema = {"type": "object", "required": sorted(props), "properties": props}
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _errors() -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "400": {"description": "bad request (a query parameter or body)", **ref},
        "401": {"description": "no or invalid API key", **ref},
        "403": {"description": "the key lacks the scope", **ref},
        "404": {"description": "not found", **ref},
    }


def _gateway_operation(route: Mapping[str, Any], method: str) -> dict[str, Any]:
    security, scopes = _security(route)
    op: dict[str, Any] = {
        "summary": f"{method} {route['path']} (gateway route)",
        "operationId": f"{method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', route['path']).strip('_')}_gateway",
        "security": security,
        "parameters": _path_parameters(route["path"]),
        "responses": {"200": {"description": "OK"}, **({} if scopes is None else _errors())},
    }
    if scopes is not None:
        op["x-allowed-scopes"] = scopes
    return op


def _concrete_operation(method: str, pattern: str, carrier: Mapping[str, Any] | None) -> dict[str, Any]:
    security, scopes = _security(carrier) if carrier is not None else ([], None)
    params = _path_parameters(pattern)
    summary = f"{method} {pattern}"
    console = CONSOLE_ROUTES.get(pattern) if method == "GET" else None
    if console is not None:
        summary = console[0]
        params += [
            {"name": n, "in": "query", "required": req, "description": desc, "schema": {"type": "string"}}
            for n, req, desc in console[1]
        ]
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', pattern).strip('_')}",
        "security": security,
        "parameters": params,
        "responses": {"200": _response(pattern), **({} if scopes is None else _errors())},
    }
    if scopes is not None:
        op["x-allowed-scopes"] = scopes
    if console is not None:
        op["x-required-scope"] = READ_SCOPE
    return op


def _scheme(auth_header: str) -> dict[str, Any]:
    if auth_header.lower() == "authorization":
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "an mlops API key: Authorization: Bearer <key>",
        }
    return {"type": "apiKey", "in": "header", "name": auth_header, "description": "Bearer <key>"}


def openapi_document(
    spec: Mapping[str, Any],
    function_routes: Iterable[tuple[str, str]],
    *,
    auth_header: str = "Authorization",
    title: str = "mlops",
) -> dict[str, Any]:
    """The document: the spec's routes, then the registry function's concrete routes (``(method, pattern)``)."""
    spec_routes = list(spec.get("routes") or [])
    paths: dict[str, dict[str, Any]] = {}
    for route in spec_routes:
        item = paths.setdefault(openapi_path(route["path"]), {})
        item["x-gateway-path"] = route["path"]
        item["x-gateway-methods"] = list(route["methods"])
        for method in route["methods"]:
            item[method.lower()] = _gateway_operation(route, method)
    concrete: dict[str, list[str]] = {}
    for method, pattern in function_routes:
        concrete.setdefault(pattern, []).append(method)
    for pattern, methods in concrete.items():
        carrier = _gateway_match(spec_routes, pattern)
        item = paths.setdefault(pattern, {})
        if "x-gateway-path" in item:  # the gateway route is itself concrete: its methods are the function's
            for m in item["x-gateway-methods"]:
                item.pop(m.lower(), None)
        for method in methods:
            item[method.lower()] = _concrete_operation(method, pattern, carrier)
        if carrier is not None:
            item["x-served-by"] = carrier["path"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} API",
            "version": "1",
            "description": f"Send the API key in the {auth_header} header as 'Bearer <key>'.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": _scheme(auth_header)},
            "schemas": {"Error": _ERROR_SCHEMA},
        },
    }
