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
load time, so a local run never silently ignores a policy. A ``DYNAMIC_ROUTING_BACKEND`` whose selector
value (e.g. ``request.path[variant]`` of the pinned-variant route) matches no key and that has no
default answers 404 ``no_backend`` with the usual error body; OCI's exact answer in that case is not
verified (its documentation does not say).

The parts live by subject: ``routes`` (paths, context variables, dynamic routing), ``authn`` (the
authorizer and its cache), ``fnwire`` (the Fn wire format), ``server`` (HTTP/1.1); this module is the
request pipeline that puts them in order, with rate limiting and CORS.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from mlops.errors import (
    ConfigError,
    ForbiddenError,
    InternalError,
    MlopsError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    new_request_id,
)
from mlops.local.authn import AuthCache, Authenticator, InvocationHook
from mlops.local.fnwire import (
    GatewayResponse,
    fn_request_headers,
    json_error,
    transformed_headers,
    unwrap_fn_response,
)
from mlops.local.headercodec import HeaderValueError
from mlops.local.routes import GatewayRequest, Route, compile_routes, match_route, select_backend
from mlops.logs import request_id_var

MAX_BODY_BYTES = 6 * 1024 * 1024  # OCI Functions invoke body limit
# (function id, wire headers, body[, replay_safe=]) -> (fdk status, raw headers, body); ``replay_safe`` is
# passed only to an invoker that takes it (the runtime's does; simple test invokers need not)
Invoker = Callable[..., Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]

_SUPPORTED_SPEC_POLICIES = {"authentication", "rate_limiting", "cors"}
# RFC 9110 §9.2.2: a request with one of these methods may be sent again without harm
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
log = logging.getLogger(__name__)


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


def _accepts_replay_safe(invoke: Callable) -> bool:
    """Whether the invoker takes ``replay_safe=`` (the runtime's does; simple test invokers need not)."""
    try:
        params = inspect.signature(invoke).parameters
    except (TypeError, ValueError):
        return False
    return "replay_safe" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class Gateway:
    """Serves one deployment spec; ``invoke`` reaches functions by their function id."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        invoke: Invoker,
        *,
        on_invocation: InvocationHook | None = None,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        unknown = set(spec.get("request_policies") or {}) - _SUPPORTED_SPEC_POLICIES
        if unknown:
            raise ConfigError(f"request_policies: {sorted(unknown)} not supported by the local gateway")
        self.spec = spec
        self.routes = compile_routes(spec)
        self.invoke = invoke
        self.on_invocation: InvocationHook = on_invocation or (lambda fn, status, ms: None)
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        policies = spec.get("request_policies") or {}
        self.authn = policies.get("authentication")
        rl = policies.get("rate_limiting")
        self.rate_limiter = (
            RateLimiter(rl["rate_in_requests_per_second"], rl.get("rate_key", "CLIENT_IP")) if rl else None
        )
        self.cors = policies.get("cors")
        self.authenticator = Authenticator(self.authn or {}, self._hook, clock=clock)
        self._replay_kw = _accepts_replay_safe(invoke)

    @property
    def auth_cache(self) -> AuthCache:
        return self.authenticator.cache

    @auth_cache.setter
    def auth_cache(self, cache: AuthCache) -> None:
        self.authenticator.cache = cache

    def _hook(self, fn_id: str, status: int, ms: float) -> None:
        self.on_invocation(fn_id, status, ms)

    # -- entry point ------------------------------------------------------------------------
    async def handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes, client_ip: str = "127.0.0.1"
    ) -> GatewayResponse:
        request_id = headers.get("x-request-id") or new_request_id()
        token = request_id_var.set(request_id)
        try:
            resp = await self._handle(method, url, headers, body, client_ip, request_id)
        except MlopsError as exc:
            extra = []
            if exc.status == 401 and exc.details.get("www_authenticate"):
                extra.append(("WWW-Authenticate", exc.details["www_authenticate"]))
            resp = json_error(exc, request_id, extra)
        except Exception:  # noqa: BLE001 - the gateway answers every request, and stays up
            log.exception("request %s failed", request_id)
            resp = json_error(
                InternalError("the gateway failed on this request; see the runtime log"), request_id
            )
        finally:
            request_id_var.reset(token)
        resp.headers.append(("opc-request-id", request_id))
        return resp

    async def _handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes, client_ip: str, request_id: str
    ) -> GatewayResponse:
        if len(body) > self.max_body_bytes:
            raise PayloadTooLargeError(
                f"the request body is {len(body)} bytes; the limit is {self.max_body_bytes} bytes (6 MB)",
                code="body_too_large",
            )
        parts = urlsplit(url)
        req = GatewayRequest(
            method.upper(),
            unquote(parts.path) or "/",
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            url,
            headers,
            body,
            client_ip,
            request_id,
        )
        if method.upper() == "OPTIONS" and self.cors and "access-control-request-method" in headers:
            return self._preflight(req)
        route = match_route(self.routes, req)
        if self.rate_limiter and not self.rate_limiter.allow(client_ip):
            raise RateLimitedError("too many requests; slow down and retry", code="rate_limited")
        authz = route.policies.get("authorization") or {"type": "AUTHENTICATION_ONLY"}
        if authz.get("type") != "ANONYMOUS" and self.authn:
            await self._authenticate(req)
            if authz.get("type") == "ANY_OF":
                allowed = set(authz.get("allowed_scopes") or [])
                if not allowed & set(req.auth.get("__scopes__", "").split()):
                    raise ForbiddenError(
                        f"this API key may not call {req.method} {req.path} "
                        f"(needs one of the scopes: {', '.join(sorted(allowed))})",
                        code="insufficient_scope",
                    )
        backend = select_backend(route.backend, req)
        if backend is None:
            raise NotFoundError(f"no backend matches this request on {route.path}", code="no_backend")
        resp = await self._call_backend(backend, route, req)
        if self.cors and "origin" in headers:
            resp.headers.extend(self._cors_headers(headers["origin"]))
        return resp

    def _match(self, req: GatewayRequest) -> Route:
        return match_route(self.routes, req)

    async def _authenticate(self, req: GatewayRequest) -> None:
        await self.authenticator.authenticate(req, self._invoke)

    def _invoke(
        self, fn_id: str, wire: list[tuple[str, str]], body: bytes, replay_safe: bool
    ) -> Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]:
        """The invoker's call (a plain function returning its awaitable: no coroutine of its own)."""
        if self._replay_kw:
            return self.invoke(fn_id, wire, body, replay_safe=replay_safe)
        return self.invoke(fn_id, wire, body)

    # -- backends ------------------------------------------------------------------------------
    async def _call_backend(
        self, backend: Mapping[str, Any], route: Route, req: GatewayRequest
    ) -> GatewayResponse:
        btype = backend.get("type")
        if btype == "STOCK_RESPONSE_BACKEND":
            hdrs = [(h["name"], h["value"]) for h in backend.get("headers") or []]
            return GatewayResponse(
                int(backend.get("status", 200)), hdrs, (backend.get("body") or "").encode()
            )
        if btype != "ORACLE_FUNCTIONS_BACKEND":
            raise ConfigError(f"backend type {btype!r} is not supported by the local gateway")
        fn_id = backend["function_id"]
        wire = fn_request_headers(req, transformed_headers(req, route.policies))
        # Every header value goes through headercodec when the pool writes it: a value with CR, LF or
        # another control (a principal from the authorizer, a path or query value rendered by a
        # template) is refused with 400 invalid_header_value before a byte is sent (issue 13 D).
        t0 = time.perf_counter()
        status: int | None = 502
        try:
            status, raw_headers, body = await self._invoke(fn_id, wire, req.body, req.method in _IDEMPOTENT)
        except HeaderValueError:
            status = None  # refused before the function ran: not an invocation
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
        cors: Mapping[str, Any] = self.cors or {}
        allowed = cors.get("allowed_origins") or []
        if "*" not in allowed and origin not in allowed:
            return []
        out = [("Access-Control-Allow-Origin", "*" if "*" in allowed else origin)]
        if cors.get("exposed_headers"):
            out.append(("Access-Control-Expose-Headers", ",".join(cors["exposed_headers"])))
        return out

    def _preflight(self, req: GatewayRequest) -> GatewayResponse:
        cors: Mapping[str, Any] = self.cors or {}
        hdrs = self._cors_headers(req.headers.get("origin", ""))
        if hdrs:
            hdrs += [
                ("Access-Control-Allow-Methods", ",".join(cors.get("allowed_methods") or [])),
                ("Access-Control-Allow-Headers", ",".join(cors.get("allowed_headers") or [])),
                ("Access-Control-Max-Age", str(cors.get("max_age_in_seconds", 0))),
            ]
        return GatewayResponse(204, hdrs, b"")
