"""The Fn wire format between the local gateway and functions, and the gateway's own responses.

Towards a function a client request travels as ``Fn-Intent: httprequest`` with ``Fn-Http-Method``,
``Fn-Http-Request-Url`` and every client header as ``Fn-Http-H-<name>`` (after the route's header
transformations); back, ``fn-http-status`` and ``fn-http-h-*`` are unwrapped into the client response,
and an fdk failure (502, 504) becomes a JSON error that never leaks the function's message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError, error_body
from mlops.local.headercodec import decode_upstream_value
from mlops.local.routes import GatewayRequest

_HOP_BY_HOP = ("host", "content-length", "connection", "transfer-encoding")


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_error(
    exc: MlopsError, request_id: str, extra_headers: Iterable[tuple[str, str]] = ()
) -> GatewayResponse:
    body = json.dumps(exc.to_body(request_id), separators=(",", ":")).encode()
    return GatewayResponse(exc.status, [("Content-Type", "application/json"), *extra_headers], body)


def transformed_headers(req: GatewayRequest, policies: Mapping[str, Any]) -> dict[str, str]:
    """The client headers after the route's ``header_transformations.set_headers`` (templates rendered)."""
    headers = dict(req.headers)
    for item in ((policies.get("header_transformations") or {}).get("set_headers") or {}).get("items", []):
        name = item["name"].lower()
        if item.get("if_exists", "OVERWRITE") == "SKIP" and name in headers:
            continue
        value = ",".join(req.render(v) for v in item.get("values") or [])
        if item.get("if_exists") == "APPEND" and name in headers:
            value = headers[name] + "," + value
        headers[name] = value
    return headers


def fn_request_headers(req: GatewayRequest, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The invoke headers of a client request in gateway mode (``Fn-Intent: httprequest``)."""
    wire = [
        ("Fn-Intent", "httprequest"),
        ("Fn-Http-Method", req.method),
        ("Fn-Http-Request-Url", req.raw_url),
        ("Content-Type", headers.get("content-type", "application/octet-stream")),
    ]
    for name, value in headers.items():
        if name in _HOP_BY_HOP:
            continue
        wire.append(("Fn-Http-H-" + name, value))
    return wire


def unwrap_fn_response(
    status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes, request_id: str
) -> GatewayResponse:
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
    msg = (
        "the function did not finish in time"
        if status == 504
        else "the function failed; see its log for this request id"
    )
    return GatewayResponse(
        504 if status == 504 else 502,
        [("Content-Type", "application/json")],
        json.dumps(error_body(code, msg, request_id)).encode(),
    )
