"""Adapter from an fdk call to a ``Router``: decode -> dispatch -> encode, errors rendered once.

``functions/<name>/func.py`` builds its service at import (once per container) and
exposes ``handler = fdk_handler(router)``. The status reaches a client only through
the gateway (``fn-http-status``), so every error body carries its own ``error.code``.
Diagnostics go through ``mlops.logs`` (configured here, once per container), with the request id of
the call in ``mlops.logs.request_id_var`` while it runs.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

from mlops import logs
from mlops.errors import render
from mlops.http import REQUEST_ID_HEADER, Request, Response, Router

log = logging.getLogger("mlops.function")
# func.py imports this module first and builds its service at import, before ``fdk_handler`` runs:
# logging is set up now so that what the service logs while it starts is not lost
logs.configure()


def _first(value) -> str:
    return value[0] if isinstance(value, list) and value else str(value)


def _headers_of(ctx) -> dict[str, str]:
    """Client headers as a flat lower-cased dict (fdk gives lists for repeated headers).

    Content-Type (what ``mlops.jsonbody`` checks): through a gateway (``Fn-Intent: httprequest``) the caller's
    travels as ``Fn-Http-H-Content-Type``, and the invoke's own Content-Type mirrors it, or is
    ``application/octet-stream`` when the caller declared none (undeclared for ``mlops.jsonbody``). A direct
    invoke (DevOps INVOKE_FUNCTION, Events, ``fn invoke``) has no HTTP client: its Content-Type is the
    invoker's choice, so it is dropped rather than judged.
    """
    try:
        raw = ctx.HTTPHeaders() or {}
    except Exception:  # pragma: no cover - very old fdk
        raw = {}
    invoke = {str(k).lower(): v for k, v in (ctx.Headers() or {}).items()}
    gateway = _first(invoke.get("fn-intent", "")).lower() == "httprequest"
    if not raw:
        raw = invoke
    out: dict[str, str] = {}
    for k, v in raw.items():
        out[k.lower()] = ",".join(v) if isinstance(v, list) else str(v)
    if not gateway:
        out.pop("content-type", None)
    elif "content-type" not in out and invoke.get("content-type"):
        out["content-type"] = _first(invoke["content-type"])
    return out


def log_exception(request_id: str, exc: BaseException) -> None:
    """One structured line (error, traceback flattened, request id); never the request body."""
    log.error("request failed: %s", type(exc).__name__, exc_info=exc, extra={"request_id": request_id})


def dispatch(router: Router | Callable[[Request], Response], request: Request) -> Response:
    """Run a router on a request; any exception becomes a rendered error response."""
    try:
        resp = router.dispatch(request) if isinstance(router, Router) else router(request)
    except Exception as exc:  # noqa: BLE001 - the one place that renders everything
        status, body = render(exc, request.request_id)
        if status >= 500:
            log_exception(request.request_id, exc)
        resp = Response(body=body, status=status, headers={"content-type": "application/json"})
    resp.headers.setdefault(REQUEST_ID_HEADER, request.request_id)
    return resp


def fdk_handler(router: Router | Callable[[Request], Response]):
    """An fdk entrypoint ``handler(ctx, data)`` that serves ``router``."""
    from fdk import response as fdk_response  # imported here: the library never needs fdk

    from mlops import fdkclock

    fdkclock.install()  # fdk 0.1.128 spins a core per idle kept-alive connection without it
    from mlops import fdkfast

    fdkfast.install()  # fdk 0.1.128 builds a namedtuple class per request

    def handler(ctx, data: io.BytesIO | None = None):
        body = data.getvalue() if isinstance(data, io.BytesIO) else (data.read() if data else b"")
        headers = _headers_of(ctx)
        request = Request.from_url(
            ctx.Method() or "POST",
            ctx.RequestURL() or "/",
            headers,
            body,
            request_id=headers.get(REQUEST_ID_HEADER) or ctx.CallID() or None,
        )
        token = logs.request_id_var.set(request.request_id)
        try:
            resp = dispatch(router, request)
        finally:
            logs.request_id_var.reset(token)
        out_headers = dict(resp.headers)
        out_headers["content-type"] = resp.content_type()
        return fdk_response.Response(
            ctx, response_data=resp.encode(), headers=out_headers, status_code=resp.status
        )

    return handler


class Timer:
    """A monotonic stopwatch in milliseconds."""

    __slots__ = ("t0",)

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0
