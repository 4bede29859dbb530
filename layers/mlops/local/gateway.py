"""A local API Gateway that serves the same deployment specification Pulumi deploys.

It implements, from the spec dict: route matching with ``{param}`` and ``{param*}``,
the custom authorizer (invoked as a function with OCI's ``USER_DEFINED`` input, its
answer cached by ``cache_keys`` until ``expiresAt``), route authorization (``ANY_OF``
scopes, ``AUTHENTICATION_ONLY``, ``ANONYMOUS``), header transformations with
``${request.auth[...]}`` substitution, ``DYNAMIC_ROUTING_BACKEND`` selectors over
``request.auth|headers|query|path``, stock responses, rate limiting (429), CORS, the
6 MB body limit (413), function deadlines (504) and dead functions (502), and the Fn
wire format towards functions (``Fn-Intent: httprequest``, ``Fn-Http-H-*``,
``fn-http-status``). Anything the spec says that it does not implement is refused at
load time, so a local run never silently ignores a policy.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httptools

from mlops.errors import (
    BadGatewayError,
    BadRequestError,
    ConfigError,
    ForbiddenError,
    MlopsError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    error_body,
    new_request_id,
)
from mlops.local.headercodec import (
    HeaderValueError,
    decode_client_value,
    decode_upstream_value,
    encode_fields,
    encode_name,
)
from mlops.local.limits import BODY, FRESH, HEAD, IDLE, ConnectionGuard, HttpLimits, head_limit_error

MAX_BODY_BYTES = 6 * 1024 * 1024          # OCI Functions invoke body limit
Invoker = Callable[[str, list[tuple[str, str]], bytes], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]
InvocationHook = Callable[[str, int, float], None]     # (function id, status, duration ms)

_SUPPORTED_SPEC_POLICIES = {"authentication", "rate_limiting", "cors"}
_SUPPORTED_ROUTE_POLICIES = {"authorization", "header_transformations", "cors"}
# RFC 9110 §9.2.2: a request with one of these methods may be sent again without harm
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_VAR = re.compile(r"^request\.(auth|headers|query|path)\[([^\]]+)\]$|^request\.host$")
_TEMPLATE = re.compile(r"\$\{(request\.(?:auth|headers|query|path)\[[^\]]+\]|request\.host)\}")


# ----------------------------------------------------------------------------- request context

@dataclass
class GatewayRequest:
    method: str
    path: str
    query: dict[str, str]
    raw_url: str
    headers: dict[str, str]              # lower-cased name -> value (first value wins)
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
            out.append(template[pos:m.start()])
        out.append((m.group(1),))
        pos = m.end()
    if pos < len(template) or not out:
        out.append(template[pos:])
    return tuple(out)


# ----------------------------------------------------------------------------- routes

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
        unknown = set(r.get("request_policies") or {}) - _SUPPORTED_ROUTE_POLICIES
        if unknown:
            raise ConfigError(f"routes[{i}].request_policies: {sorted(unknown)} not supported by the local gateway")
        for item in ((r.get("request_policies") or {}).get("header_transformations") or {}).get(
                "set_headers", {}).get("items", []):
            try:
                encode_name(item["name"])
            except HeaderValueError as exc:
                raise ConfigError(f"routes[{i}]: set_headers: {exc.message}") from None
        regex, spec_rank = _compile_route_path(r["path"])
        methods = frozenset(m.upper() for m in (r.get("methods") or ["ANY"]))
        routes.append(Route(r["path"], methods, regex, spec_rank, r["backend"], r.get("request_policies") or {}))
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


# ----------------------------------------------------------------------------- policies

class RateLimiter:
    """Token bucket per key (``CLIENT_IP``) or one for all (``TOTAL``), burst = one second's worth."""

    def __init__(self, rate: float, key: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.key, self.clock = float(rate), key, clock
        self._buckets: dict[str, list[float]] = {}

    def allow(self, client_ip: str) -> bool:
        k = client_ip if self.key == "CLIENT_IP" else "*"
        now = self.clock()
        b = self._buckets.get(k)
        if b is None:
            if len(self._buckets) > 10_000:
                self._buckets.clear()
            b = self._buckets[k] = [self.rate, now]
        tokens = min(self.rate, b[0] + (now - b[1]) * self.rate)
        b[1] = now
        if tokens < 1.0:
            b[0] = tokens
            return False
        b[0] = tokens - 1.0
        return True


@dataclass
class AuthAnswer:
    active: bool
    principal: str | None
    scopes: list[str]
    context: dict[str, str]
    expires_at: float | None
    www_authenticate: str | None = None


def _parse_expires(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_authorizer_answer(status: int, body: bytes) -> AuthAnswer:
    """OCI's authorizer output: {active, principal, scope, expiresAt, context, wwwAuthenticate}."""
    if status != 200:
        return AuthAnswer(False, None, [], {}, None)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return AuthAnswer(False, None, [], {}, None)
    if not isinstance(doc, dict):
        return AuthAnswer(False, None, [], {}, None)
    scope = doc.get("scope") or []
    if isinstance(scope, str):
        scope = scope.split()
    ctx = doc.get("context") or {}
    return AuthAnswer(bool(doc.get("active")), doc.get("principal"), [str(s) for s in scope],
                      {str(k): str(v) for k, v in ctx.items()} if isinstance(ctx, dict) else {},
                      _parse_expires(doc.get("expiresAt")), doc.get("wwwAuthenticate"))


class AuthCache:
    """Authorizer answers by the values of ``cache_keys``, each until its ``expiresAt``."""

    def __init__(self, max_entries: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self._d: OrderedDict[tuple, AuthAnswer] = OrderedDict()
        self.max_entries, self.clock = max_entries, clock
        self.hits = self.misses = 0

    def get(self, key: tuple) -> AuthAnswer | None:
        ans = self._d.get(key)
        if ans is None:
            self.misses += 1
            return None
        if ans.expires_at is None or ans.expires_at <= self.clock():
            del self._d[key]
            self.misses += 1
            return None
        self.hits += 1
        return ans

    def put(self, key: tuple, ans: AuthAnswer) -> None:
        if ans.expires_at is None or ans.expires_at <= self.clock():
            return
        self._d[key] = ans
        if len(self._d) > self.max_entries:
            self._d.popitem(last=False)


# ----------------------------------------------------------------------------- the gateway

def _accepts_replay_safe(invoke: Callable) -> bool:
    """Whether the invoker takes ``replay_safe=`` (the runtime's does; simple test invokers need not)."""
    try:
        params = inspect.signature(invoke).parameters
    except (TypeError, ValueError):
        return False
    return "replay_safe" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_error(exc: MlopsError, request_id: str, extra_headers=()) -> GatewayResponse:
    body = json.dumps(exc.to_body(request_id), separators=(",", ":")).encode()
    return GatewayResponse(exc.status, [("Content-Type", "application/json"), *extra_headers], body)


class Gateway:
    """Serves one deployment spec; ``invoke`` reaches functions by their function id."""

    def __init__(self, spec: Mapping[str, Any], invoke: Invoker, *, on_invocation: InvocationHook | None = None,
                 clock: Callable[[], float] = time.time, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        unknown = set(spec.get("request_policies") or {}) - _SUPPORTED_SPEC_POLICIES
        if unknown:
            raise ConfigError(f"request_policies: {sorted(unknown)} not supported by the local gateway")
        self.spec = spec
        self.routes = compile_routes(spec)
        self.invoke = invoke
        self.on_invocation = on_invocation or (lambda fn, status, ms: None)
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        policies = spec.get("request_policies") or {}
        self.authn = policies.get("authentication")
        rl = policies.get("rate_limiting")
        self.rate_limiter = RateLimiter(rl["rate_in_requests_per_second"], rl.get("rate_key", "CLIENT_IP")) \
            if rl else None
        self.cors = policies.get("cors")
        self.auth_cache = AuthCache(clock=clock)
        self._inflight_auth: dict[tuple, asyncio.Future] = {}
        self._replay_kw = _accepts_replay_safe(invoke)

    # -- entry point ------------------------------------------------------------------------
    async def handle(self, method: str, url: str, headers: dict[str, str], body: bytes,
                     client_ip: str = "127.0.0.1") -> GatewayResponse:
        request_id = headers.get("x-request-id") or new_request_id()
        try:
            resp = await self._handle(method, url, headers, body, client_ip, request_id)
        except MlopsError as exc:
            extra = []
            if exc.status == 401 and exc.details.get("www_authenticate"):
                extra.append(("WWW-Authenticate", exc.details["www_authenticate"]))
            resp = _json_error(exc, request_id, extra)
        except Exception as exc:  # noqa: BLE001 - the gateway answers every request, and stays up
            import sys
            import traceback
            print(f"gateway: request {request_id} failed: "
                  f"{''.join(traceback.format_exception(exc)).strip()}", file=sys.stderr, flush=True)
            from mlops.errors import InternalError
            resp = _json_error(InternalError("the gateway failed on this request; see the runtime log"), request_id)
        resp.headers.append(("opc-request-id", request_id))
        return resp

    async def _handle(self, method, url, headers, body, client_ip, request_id) -> GatewayResponse:
        if len(body) > self.max_body_bytes:
            raise PayloadTooLargeError(f"the request body is {len(body)} bytes; the limit is "
                                       f"{self.max_body_bytes} bytes (6 MB)", code="body_too_large")
        parts = urlsplit(url)
        req = GatewayRequest(method.upper(), unquote(parts.path) or "/",
                             dict(parse_qsl(parts.query, keep_blank_values=True)), url, headers, body,
                             client_ip, request_id)
        if method.upper() == "OPTIONS" and self.cors and "access-control-request-method" in headers:
            return self._preflight(req)
        route = self._match(req)
        if self.rate_limiter and not self.rate_limiter.allow(client_ip):
            raise RateLimitedError("too many requests; slow down and retry", code="rate_limited")
        authz = route.policies.get("authorization") or {"type": "AUTHENTICATION_ONLY"}
        if authz.get("type") != "ANONYMOUS" and self.authn:
            await self._authenticate(req)
            if authz.get("type") == "ANY_OF":
                allowed = set(authz.get("allowed_scopes") or [])
                if not allowed & set(req.auth.get("__scopes__", "").split()):
                    raise ForbiddenError(f"this API key may not call {req.method} {req.path} "
                                         f"(needs one of the scopes: {', '.join(sorted(allowed))})",
                                         code="insufficient_scope")
        backend = select_backend(route.backend, req)
        if backend is None:
            raise NotFoundError(f"no backend matches this request on {route.path}", code="no_backend")
        resp = await self._call_backend(backend, route, req)
        if self.cors and "origin" in headers:
            resp.headers.extend(self._cors_headers(headers["origin"]))
        return resp

    def _match(self, req: GatewayRequest) -> Route:
        allowed: set[str] = set()
        for route in self.routes:
            m = route.regex.match(req.path)
            if not m:
                continue
            if "ANY" not in route.methods and req.method not in route.methods:
                allowed |= route.methods
                continue
            req.path_params = {k: v or "" for k, v in m.groupdict().items()}
            return route
        if allowed:
            from mlops.errors import MethodNotAllowedError
            raise MethodNotAllowedError(f"{req.method} is not allowed on {req.path}; use "
                                        f"{', '.join(sorted(allowed))}")
        raise NotFoundError(f"no route for {req.method} {req.path}", code="route_not_found")

    # -- authentication ------------------------------------------------------------------------
    async def _authenticate(self, req: GatewayRequest) -> None:
        a = self.authn
        if a.get("type") != "CUSTOM_AUTHENTICATION":
            raise ConfigError(f"authentication type {a.get('type')!r} is not supported by the local gateway")
        args = {}
        for name, expr in (a.get("parameters") or {}).items():
            value = req.variable(expr)
            if value is not None:
                args[name] = value
        key = tuple(args.get(k) for k in (a.get("cache_keys") or sorted(args)))
        ans = self.auth_cache.get(key)
        if ans is None:
            fut = self._inflight_auth.get(key)
            if fut is None:       # coalesce concurrent misses for one caller into one call
                fut = asyncio.get_running_loop().create_future()
                self._inflight_auth[key] = fut
                try:
                    ans = await self._call_authorizer(a, args)
                    self.auth_cache.put(key, ans)
                    fut.set_result(ans)
                except BaseException as exc:
                    fut.set_exception(exc)
                    fut.exception()   # mark retrieved
                    raise
                finally:
                    del self._inflight_auth[key]
            else:
                ans = await asyncio.shield(fut)
        if not ans.active:
            self._deny(ans)
        req.auth = dict(ans.context)
        req.auth.setdefault("principal", ans.principal or "")
        req.auth.setdefault("scopes", " ".join(ans.scopes))
        req.auth["__scopes__"] = " ".join(ans.scopes)

    async def _call_authorizer(self, a: Mapping[str, Any], args: dict[str, str]) -> AuthAnswer:
        payload = json.dumps({"type": "USER_DEFINED", "data": args}).encode()
        t0 = time.perf_counter()
        fn_id = a["function_id"]
        try:
            if self._replay_kw:     # the authorizer only reads: a call it never answered may be sent again
                status, _h, body = await self.invoke(fn_id, [("Content-Type", "application/json")], payload,
                                                     replay_safe=True)
            else:
                status, _h, body = await self.invoke(fn_id, [("Content-Type", "application/json")], payload)
        finally:
            pass
        self.on_invocation(fn_id, status, (time.perf_counter() - t0) * 1000)
        if status != 200:
            from mlops.errors import BadGatewayError
            raise BadGatewayError("the authorizer function failed; see its log", code="authorizer_failed")
        return parse_authorizer_answer(status, body)

    def _deny(self, ans: AuthAnswer) -> None:
        from mlops.errors import UnauthorizedError
        policy = (self.authn or {}).get("validation_failure_policy") or {}
        message = "a valid API key is required"
        if policy.get("type") == "MODIFY_RESPONSE" and policy.get("response_message"):
            try:
                message = json.loads(policy["response_message"])["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = policy["response_message"]
        # RFC 7235: every 401 says which scheme it wants (the authorizer's challenge, else Bearer)
        raise UnauthorizedError(message, code="unauthorized",
                                details={"www_authenticate": ans.www_authenticate or 'Bearer realm="mlops"'})

    # -- backends ------------------------------------------------------------------------------
    async def _call_backend(self, backend: Mapping[str, Any], route: Route, req: GatewayRequest) -> GatewayResponse:
        btype = backend.get("type")
        if btype == "STOCK_RESPONSE_BACKEND":
            hdrs = [(h["name"], h["value"]) for h in backend.get("headers") or []]
            return GatewayResponse(int(backend.get("status", 200)), hdrs, (backend.get("body") or "").encode())
        if btype != "ORACLE_FUNCTIONS_BACKEND":
            raise ConfigError(f"backend type {btype!r} is not supported by the local gateway")
        fn_id = backend["function_id"]
        headers = dict(req.headers)
        for item in ((route.policies.get("header_transformations") or {}).get("set_headers") or {}).get("items", []):
            name = item["name"].lower()
            if item.get("if_exists", "OVERWRITE") == "SKIP" and name in headers:
                continue
            value = ",".join(req.render(v) for v in item.get("values") or [])
            if item.get("if_exists") == "APPEND" and name in headers:
                value = headers[name] + "," + value
            headers[name] = value
        wire = [("Fn-Intent", "httprequest"), ("Fn-Http-Method", req.method),
                ("Fn-Http-Request-Url", req.raw_url), ("Content-Type", headers.get("content-type",
                                                                                     "application/octet-stream"))]
        for name, value in headers.items():
            if name in ("host", "content-length", "connection", "transfer-encoding"):
                continue
            wire.append(("Fn-Http-H-" + name, value))
        # Every header value goes through headercodec when the pool writes it: a value with CR, LF or
        # another control (a principal from the authorizer, a path or query value rendered by a
        # template) is refused with 400 invalid_header_value before a byte is sent (issue 13 D).
        t0 = time.perf_counter()
        status: int | None = 502
        try:
            if self._replay_kw:
                status, raw_headers, body = await self.invoke(fn_id, wire, req.body,
                                                              replay_safe=req.method in _IDEMPOTENT)
            else:
                status, raw_headers, body = await self.invoke(fn_id, wire, req.body)
        except HeaderValueError:
            status = None             # refused before the function ran: not an invocation
            raise
        except MlopsError as exc:
            status = exc.status
            raise
        finally:
            if status is not None:
                self.on_invocation(fn_id, status, (time.perf_counter() - t0) * 1000)
        return unwrap_fn_response(status, raw_headers, body, req.request_id)

    # -- CORS ----------------------------------------------------------------------------------
    def _cors_headers(self, origin: str) -> list[tuple[str, str]]:
        allowed = self.cors.get("allowed_origins") or []
        if "*" not in allowed and origin not in allowed:
            return []
        out = [("Access-Control-Allow-Origin", "*" if "*" in allowed else origin)]
        if self.cors.get("exposed_headers"):
            out.append(("Access-Control-Expose-Headers", ",".join(self.cors["exposed_headers"])))
        return out

    def _preflight(self, req: GatewayRequest) -> GatewayResponse:
        hdrs = self._cors_headers(req.headers.get("origin", ""))
        if hdrs:
            hdrs += [("Access-Control-Allow-Methods", ",".join(self.cors.get("allowed_methods") or [])),
                     ("Access-Control-Allow-Headers", ",".join(self.cors.get("allowed_headers") or [])),
                     ("Access-Control-Max-Age", str(self.cors.get("max_age_in_seconds", 0)))]
        return GatewayResponse(204, hdrs, b"")


def unwrap_fn_response(status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes,
                       request_id: str) -> GatewayResponse:
    """Fn's answer to a client response: ``fn-http-status`` and ``fn-http-h-*`` unwrapped."""
    out: list[tuple[str, str]] = []
    http_status = None
    content_type = None
    for k, v in raw_headers:
        name = k.decode("latin-1").lower()
        if name == "fn-http-status":
            try:
                http_status = int(v)
            except ValueError:
                http_status = None
        elif name.startswith("fn-http-h-"):
            out.append((name[10:], decode_upstream_value(v)))
        elif name == "content-type":
            content_type = decode_upstream_value(v)
    if status == 200:
        final = http_status or 200
        if content_type and not any(n == "content-type" for n, _ in out):
            out.append(("content-type", content_type))
        return GatewayResponse(final, out, body)
    # 502 (uncaught exception) or 504 (TimeoutError) from the fdk: never leak its message.
    code = "function_timeout" if status == 504 else "function_error"
    msg = ("the function did not finish in time" if status == 504
           else "the function failed; see its log for this request id")
    return GatewayResponse(504 if status == 504 else 502, [("Content-Type", "application/json")],
                           json.dumps(error_body(code, msg, request_id)).encode())


# ----------------------------------------------------------------------------- HTTP server

_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
                401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                408: "Request Timeout", 409: "Conflict", 412: "Precondition Failed", 413: "Payload Too Large",
                414: "URI Too Long", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
                429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
                502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class _ServerProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one request at a time per connection, within ``limits.HttpLimits``.

    The connection bounds, head size and read timeouts are those of OCI API Gateway (see
    ``mlops.local.limits``); ``guard`` counts this server's connections and sweeps deadlines.
    """

    def __init__(self, gateway: Gateway, guard: ConnectionGuard | None = None) -> None:
        self.gateway = gateway
        self.guard = guard if guard is not None else _default_guard()
        self.limits = self.guard.limits
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._reset()
        self.queue: list = []
        self.busy = False
        self.client_ip = "127.0.0.1"
        self.phase = FRESH
        self.head_bytes = 0
        self.lingering = False             # refused: the answer is out, input is read and discarded
        self.refusing = False              # a refusal waits behind requests in flight
        self.linger_deadline = 0.0
        self.linger_bytes = 0
        self.write_paused_at: float | None = None
        self.paused_reading = False

    def _reset(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.too_large = False

    # -- asyncio callbacks -----------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.client_ip = peer[0]
        now = self.guard.clock()
        self.last_read = self.last_active = self.head_started = now
        try:
            refusal = self.guard.admit(self)
        except OverflowError:          # far over every bound: not even an answer
            transport.abort()
            return
        if refusal is not None:
            self.refuse(refusal)

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.guard.release(self)

    def pause_writing(self) -> None:
        self.write_paused_at = self.guard.clock()

    def resume_writing(self) -> None:
        self.write_paused_at = None

    def data_received(self, data: bytes) -> None:
        if self.lingering or self.refusing:    # after a refusal: read and discard, within bounds
            self.linger_bytes += len(data)
            if self.linger_bytes > self.limits.max_linger_bytes:
                self.abort()
            return
        self.last_read = self.guard.clock()
        phase = self.phase
        if phase != BODY:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, MlopsError):
                self.refuse(cause)
            else:
                self.refuse(BadRequestError(f"malformed HTTP request: {cause or exc}", code="malformed_request"))
            return
        except httptools.HttpParserUpgrade:
            self.refuse(BadRequestError("upgrades are not supported"))
            return
        except httptools.HttpParserError as exc:
            self.refuse(BadRequestError(f"malformed HTTP request: {exc}", code="malformed_request"))
            return
        if (self.phase in (FRESH, HEAD) and self.head_bytes > self.limits.max_head_bytes
                and not (self.lingering or self.refusing)):
            # still no end of the head: refuse now rather than buffer an 8 MB header
            self.guard.stats["too_large"] += 1
            self.refuse(head_limit_error(self.limits, len(self.url) + 16, self.head_bytes))

    # -- httptools callbacks -----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.phase != HEAD:
            self.phase = HEAD
            self.head_started = self.last_read

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_head_bytes:
            self.guard.stats["too_large"] += 1
            raise head_limit_error(self.limits, len(self.url), len(self.url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        k = name.decode("latin-1").lower()
        if k not in self.headers:
            try:                    # llhttp has refused CR, LF and other controls; UTF-8 is checked here
                self.headers[k] = value.decode()
            except UnicodeDecodeError:
                self.headers[k] = decode_client_value(name, value)     # raises HeaderValueError (400)

    def on_headers_complete(self) -> None:
        self.phase = BODY
        request_line = len(self.parser.get_method()) + len(self.url) + 12    # "M URL HTTP/1.1\r\n"
        head = request_line + self.header_bytes + 2
        if head > self.limits.max_head_bytes:
            self.guard.stats["too_large"] += 1
            raise head_limit_error(self.limits, request_line, head)
        cl = self.headers.get("content-length")
        if cl and cl.isdigit() and int(cl) > self.gateway.max_body_bytes:
            self.too_large = True

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.gateway.max_body_bytes:
            self.too_large = True
            self.body = []
        elif not self.too_large:
            self.body.append(body)

    def on_message_complete(self) -> None:
        item = (self.parser.get_method().decode(), self.url.decode("latin-1"), self.headers,
                b"".join(self.body), self.too_large, self.parser.should_keep_alive())
        self._reset()
        self.phase = IDLE
        self.head_bytes = 0
        self.queue.append(item)
        if len(self.queue) >= self.limits.max_pipelined and self.transport is not None:
            self.transport.pause_reading()      # a client pipelining without end waits for answers
            self.paused_reading = True
        if not self.busy:
            self.busy = True
            asyncio.ensure_future(self._drain())

    # -- serving -----------------------------------------------------------------------------------
    async def _drain(self) -> None:
        try:
            while self.queue and self.transport is not None:
                item = self.queue.pop(0)
                if isinstance(item, MlopsError):        # a refusal queued behind requests in flight
                    self.busy = False
                    self.refuse(item)
                    return
                method, url, headers, body, too_large, keep_alive = item
                if too_large:
                    exc = PayloadTooLargeError(f"the request body is over the {self.gateway.max_body_bytes}-byte "
                                               "(6 MB) limit", code="body_too_large")
                    resp = _json_error(exc, new_request_id())
                    keep_alive = False
                else:
                    resp = await self.gateway.handle(method, url, headers, body, self.client_ip)
                # read the clock before the answer goes out: once it is out, the peer may act at once
                self.last_active = self.last_read = self.guard.clock()
                self._write(resp, keep_alive)
                if not keep_alive and self.transport is not None:
                    self.transport.close()
                if self.paused_reading and len(self.queue) < self.limits.max_pipelined and self.transport:
                    self.paused_reading = False
                    self.transport.resume_reading()
        finally:
            self.busy = False

    def _write(self, resp: GatewayResponse, keep_alive: bool) -> None:
        if self.transport is None:
            return
        try:
            head = _encode_head(resp, keep_alive)
        except HeaderValueError as exc:    # a header from a function or the authorizer that may not be written
            print(f"gateway: dropped a response whose headers may not be written: {exc}", file=sys.stderr, flush=True)
            resp = _json_error(BadGatewayError("the function answered with a header that may not be written",
                                               code="invalid_upstream_header"), new_request_id())
            head = _encode_head(resp, keep_alive)
        self.transport.write(head + resp.body)

    # -- refusing and closing (also called by the ConnectionGuard) ---------------------------------
    def refuse(self, exc: MlopsError) -> None:
        """Answer ``exc`` with the JSON error body, then close after a short read-and-discard linger."""
        if self.lingering or self.transport is None:
            return
        if self.busy:                      # answers go out in order: after the requests in flight
            if not self.refusing:
                self.refusing = True       # parse nothing more; discard
                self.queue.append(exc)
            return
        self._write(_json_error(exc, new_request_id()), keep_alive=False)
        self.lingering = True
        self.queue.clear()
        self.linger_deadline = self.guard.clock() + self.limits.linger_s
        if self.paused_reading:
            self.paused_reading = False
            self.transport.resume_reading()
        try:
            self.transport.write_eof()     # FIN after the answer; keep reading so the peer is not reset
        except (NotImplementedError, RuntimeError, OSError):
            self.transport.close()

    def close_idle(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        return None                        # the peer is done: close our side too


def _encode_head(resp: GatewayResponse, keep_alive: bool) -> bytes:
    """The status line and headers of a response, every header through ``headercodec``."""
    parts = [f"HTTP/1.1 {resp.status} {_STATUS_TEXT.get(resp.status, 'Status')}\r\n".encode()]
    fields = [(k, v) for k, v in resp.headers if k.lower() not in ("content-length", "connection", "transfer-encoding")]
    parts.append(encode_fields(fields))
    has_ct = any(k.lower() == "content-type" for k, _v in fields)
    if not has_ct and resp.body:
        parts.append(b"Content-Type: application/json\r\n")
    parts.append(b"Content-Length: %d\r\n" % len(resp.body))
    parts.append(b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    return b"".join(parts)


_DEFAULT_GUARD: ConnectionGuard | None = None


def _default_guard() -> ConnectionGuard:
    global _DEFAULT_GUARD
    if _DEFAULT_GUARD is None:
        _DEFAULT_GUARD = ConnectionGuard(HttpLimits())
    return _DEFAULT_GUARD


async def serve(gateway: Gateway, host: str = "127.0.0.1", port: int = 0, *,
                guard: ConnectionGuard | None = None) -> asyncio.base_events.Server:
    """Start listening (loopback only); the server's socket tells the bound port.

    ``guard`` holds the HTTP limits and the connection counts of this server (a fresh one
    with OCI's limits when not given); ``guard.close()`` stops its sweeper.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("the local gateway listens on loopback only")
    guard = guard if guard is not None else ConnectionGuard(HttpLimits())
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _ServerProtocol(gateway, guard), host, port, reuse_address=True,
                                    backlog=1024)
