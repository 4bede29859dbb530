"""Routes of a deployment spec: OCI route paths, context variables and dynamic routing backends.

A route path has literal segments, ``{name}`` (one segment) and ``{name*}`` (the rest); routes are
tried most specific first. A :class:`GatewayRequest` answers the spec's context variables
(``request.auth|headers|query|path[...]``, ``request.host``) and renders ``${...}`` header templates;
:func:`select_backend` resolves a ``DYNAMIC_ROUTING_BACKEND`` over them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import ConfigError, MethodNotAllowedError, NotFoundError
from mlops.local.headercodec import HeaderValueError, encode_name

SUPPORTED_ROUTE_POLICIES = {"authorization", "header_transformations", "cors"}
_VAR = re.compile(r"^request\.(auth|headers|query|path)\[([^\]]+)\]$|^request\.host$")
_TEMPLATE = re.compile(r"\$\{(request\.(?:auth|headers|query|path)\[[^\]]+\]|request\.host)\}")


@dataclass
class GatewayRequest:
    method: str
    path: str
    query: dict[str, str]
    raw_url: str
    headers: dict[str, str]  # lower-cased name -> value (first value wins)
    body: bytes
    client_ip: str
    request_id: str
    path_params: dict[str, str] = field(default_factory=dict)
    auth: dict[str, str] = field(default_factory=dict)

    def variable(self, expr: str) -> str | None:
        """The value of a context variable such as ``request.auth[cohort]``."""
        table, key = _parse_variable(expr)
        if table == "host":
            return self.headers.get("host")
        if table == "headers":
            return self.headers.get(key)
        if table == "query":
            return self.query.get(key)
        if table == "path":
            return self.path_params.get(key)
        value = self.auth.get(key)
        return None if value is None else str(value)

    def render(self, template: str) -> str:
        parts = _parse_template(template)
        if len(parts) == 1 and isinstance(parts[0], str):
            return parts[0]
        return "".join(p if isinstance(p, str) else (self.variable(p[0]) or "") for p in parts)


@functools.lru_cache(maxsize=4096)
def _parse_variable(expr: str) -> tuple[str, str]:
    """``request.headers[X-Api-Key]`` -> ("headers", "x-api-key"), parsed once per expression."""
    m = _VAR.match(expr.strip())
    if not m:
        raise ConfigError(f"unsupported context variable {expr!r}")
    if m.group(1) is None:
        return "host", ""
    table, key = m.group(1), m.group(2)
    return table, key.lower() if table == "headers" else key


@functools.lru_cache(maxsize=1024)
def _parse_template(template: str) -> tuple:
    """A header value template as literal strings and (expression,) placeholders, parsed once."""
    out: list = []
    pos = 0
    for m in _TEMPLATE.finditer(template):
        if m.start() > pos:
            out.append(template[pos : m.start()])
        out.append((m.group(1),))
        pos = m.end()
    if pos < len(template) or not out:
        out.append(template[pos:])
    return tuple(out)


@dataclass
class Route:
    path: str
    methods: frozenset[str]
    regex: re.Pattern[str]
    specificity: tuple[int, int, int]
    backend: dict[str, Any]
    policies: dict[str, Any]


def _compile_route_path(path: str) -> tuple[re.Pattern[str], tuple[int, int, int]]:
    """OCI route paths: literal segments, ``{name}`` (one segment), ``{name*}`` (the rest)."""
    out, literal, params, wild = [], 0, 0, 0
    for seg in path.strip("/").split("/") if path.strip("/") else []:
        m = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}", seg)
        if m and m.group(2):
            out.append(f"(?:/(?P<{m.group(1)}>.*))?")
            wild += 1
        elif m:
            out.append(f"/(?P<{m.group(1)}>[^/]+)")
            params += 1
        else:
            out.append("/" + re.escape(seg))
            literal += 1
    return re.compile("^" + "".join(out) + "/?$"), (-wild, -params, literal)


def compile_routes(spec: Mapping[str, Any]) -> list[Route]:
    routes = []
    for i, r in enumerate(spec.get("routes") or []):
        unknown = set(r.get("request_policies") or {}) - SUPPORTED_ROUTE_POLICIES
        if unknown:
            raise ConfigError(
                f"routes[{i}].request_policies: {sorted(unknown)} not supported by the local gateway"
            )
        for item in (
            ((r.get("request_policies") or {}).get("header_transformations") or {})
            .get("set_headers", {})
            .get("items", [])
        ):
            try:
                encode_name(item["name"])
            except HeaderValueError as exc:
                raise ConfigError(f"routes[{i}]: set_headers: {exc.message}") from None
        regex, spec_rank = _compile_route_path(r["path"])
        methods = frozenset(m.upper() for m in (r.get("methods") or ["ANY"]))
        routes.append(
            Route(r["path"], methods, regex, spec_rank, r["backend"], r.get("request_policies") or {})
        )
    # Most specific first: fewer wildcards, fewer params, more literal segments.
    routes.sort(key=lambda rt: rt.specificity, reverse=True)
    return routes


def select_backend(backend: Mapping[str, Any], req: GatewayRequest) -> Mapping[str, Any] | None:
    """Resolve a DYNAMIC_ROUTING_BACKEND to one concrete backend (None: no match, no default)."""
    if backend.get("type") != "DYNAMIC_ROUTING_BACKEND":
        return backend
    selector = backend["selection_source"]["selector"]
    value = req.variable(selector)
    default = None
    for rb in backend.get("routing_backends") or []:
        key = rb["key"]
        if key.get("is_default"):
            default = rb["backend"]
        if value is None:
            continue
        if key.get("type", "ANY_OF") == "ANY_OF":
            if value in (key.get("values") or []):
                return rb["backend"]
        elif key["type"] == "WILDCARD":
            pattern = "^" + re.escape(key["expression"]).replace(r"\*", ".*") + "$"
            if re.match(pattern, value):
                return rb["backend"]
    return default


def match_route(routes: list[Route], req: GatewayRequest) -> Route:
    """The first route (most specific first) whose path and method match; sets ``req.path_params``."""
    allowed: set[str] = set()
    for route in routes:
        m = route.regex.match(req.path)
        if not m:
            continue
        if "ANY" not in route.methods and req.method not in route.methods:
            allowed |= route.methods
            continue
        req.path_params = {k: v or "" for k, v in m.groupdict().items()}
        return route
    if allowed:
        raise MethodNotAllowedError(
            f"{req.method} is not allowed on {req.path}; use {', '.join(sorted(allowed))}"
        )
    raise NotFoundError(f"no route for {req.method} {req.path}", code="route_not_found")
