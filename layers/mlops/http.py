"""Runtime-neutral HTTP shapes and a small router that every function service uses.

Nothing here knows about fdk: ``mlops.function`` adapts fdk calls to ``Request`` and
``Response``, tests call ``Router.dispatch`` directly, and the local gateway never
sees these objects at all (it speaks the Fn wire format to real fdk processes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mlops.errors import BadRequestError, MethodNotAllowedError, NotFoundError, new_request_id
from mlops.jsonbody import check_media_type, parse_json

# Headers the gateway sets from the authorizer's answer (route header_transformations).
PRINCIPAL_HEADER = "x-mlops-principal"
SCOPES_HEADER = "x-mlops-scopes"
COHORT_HEADER = "x-mlops-cohort"
REQUEST_ID_HEADER = "x-request-id"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    request_id: str = field(default_factory=new_request_id)

    @classmethod
    def from_url(
        cls,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        request_id: str | None = None,
    ) -> Request:
        parts = urlsplit(url or "/")
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        return cls(
            method=(method or "POST").upper(),
            path=parts.path or "/",
            headers=hdrs,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            body=body or b"",
            request_id=request_id or hdrs.get(REQUEST_ID_HEADER) or new_request_id(),
        )

    def json(self, *, required: bool = True) -> Any:
        """The body as JSON under the shared limits (``mlops.jsonbody``): 415 for a declared non-JSON
        Content-Type, a 400 with a code for a body that is missing, not UTF-8, too deep or not JSON."""
        check_media_type(self.headers.get("content-type"))
        if not self.body:
            if required:
                raise BadRequestError("the request needs a JSON body", code="missing_body")
            return None
        return parse_json(self.body)

    @property
    def principal(self) -> str | None:
        return self.headers.get(PRINCIPAL_HEADER) or None

    @property
    def scopes(self) -> list[str]:
        raw = self.headers.get(SCOPES_HEADER, "")
        return [s for s in re.split(r"[\s,]+", raw) if s]


@dataclass
class Response:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":"), default=str).encode()

    def content_type(self) -> str:
        if "content-type" in {k.lower() for k in self.headers}:
            return next(v for k, v in self.headers.items() if k.lower() == "content-type")
        if isinstance(self.body, (bytes, str)):
            return "text/plain; charset=utf-8"
        return "application/json"


Handler = Callable[[Request], Response | dict | list | None]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def compile_path(pattern: str) -> re.Pattern[str]:
    """``/v1/models/{model}`` -> a regex with named groups; params match one segment."""
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + r"/?\Z")


class Router:
    """Method + path-pattern dispatch with typed errors for 404 and 405."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, str, Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self._routes.append((compile_path(pattern), method.upper(), pattern, fn))
            return fn

        return deco

    def add(self, method: str, pattern: str, fn: Handler) -> None:
        self.route(method, pattern)(fn)

    def routes(self) -> list[tuple[str, str]]:
        """``(method, pattern)`` of every route, in registration order (the OpenAPI document lists them)."""
        return [(method, pattern) for _regex, method, pattern, _fn in self._routes]

    def dispatch(self, request: Request) -> Response:
        allowed: list[str] = []
        for regex, method, _pattern, fn in self._routes:
            m = regex.match(request.path)
            if not m:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.path_params = m.groupdict()
            result = fn(request)
            if isinstance(result, Response):
                return result
            return Response(body=result)
        if allowed:
            raise MethodNotAllowedError(
                f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(set(allowed)))}"
            )
        raise NotFoundError(f"no route for {request.method} {request.path}", code="route_not_found")
