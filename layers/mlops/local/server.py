"""The local gateway's HTTP/1.1 server: keep-alive, pipelining, OCI API Gateway's connection limits.

One :class:`ServerProtocol` per connection parses requests with ``httptools`` and answers them one
at a time, in order, through a handler (the :class:`mlops.local.gateway.Gateway`, or the runtime's
admin API): anything with ``async handle(method, url, headers, body, client_ip)`` and
``max_body_bytes``. Head size, body size, pipelining depth and read timeouts are bounded as in
``mlops.local.limits``; a refusal is a JSON error, then a short read-and-discard linger.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import httptools

from mlops.errors import (
    BadGatewayError,
    BadRequestError,
    ConfigError,
    MlopsError,
    PayloadTooLargeError,
    new_request_id,
)
from mlops.local.fnwire import GatewayResponse, json_error
from mlops.local.headercodec import HeaderValueError, decode_client_value, encode_fields
from mlops.local.limits import BODY, FRESH, HEAD, IDLE, ConnectionGuard, HttpLimits, head_limit_error
from mlops.local.tasks import TaskSet

log = logging.getLogger(__name__)
_DRAINS = TaskSet("gateway server")  # each connection's serving task, referenced until it ends


class Handler(Protocol):
    max_body_bytes: int

    async def handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes, client_ip: str = ...
    ) -> GatewayResponse: ...


_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ServerProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one request at a time per connection, within ``limits.HttpLimits``.

    The connection bounds, head size and read timeouts are those of OCI API Gateway (see
    ``mlops.local.limits``); ``guard`` counts this server's connections and sweeps deadlines.
    """

    def __init__(self, gateway: Handler, guard: ConnectionGuard | None = None) -> None:
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
        self.lingering = False  # refused: the answer is out, input is read and discarded
        self.refusing = False  # a refusal waits behind requests in flight
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
        except OverflowError:  # far over every bound: not even an answer
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
        if self.lingering or self.refusing:  # after a refusal: read and discard, within bounds
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
                self.refuse(
                    BadRequestError(f"malformed HTTP request: {cause or exc}", code="malformed_request")
                )
            return
        except httptools.HttpParserUpgrade:
            self.refuse(BadRequestError("upgrades are not supported"))
            return
        except httptools.HttpParserError as exc:
            self.refuse(BadRequestError(f"malformed HTTP request: {exc}", code="malformed_request"))
            return
        if (
            self.phase in (FRESH, HEAD)
            and self.head_bytes > self.limits.max_head_bytes
            and not (self.lingering or self.refusing)
        ):
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
            try:  # llhttp has refused CR, LF and other controls; UTF-8 is checked here
                self.headers[k] = value.decode()
            except UnicodeDecodeError:
                self.headers[k] = decode_client_value(name, value)  # raises HeaderValueError (400)

    def on_headers_complete(self) -> None:
        self.phase = BODY
        request_line = len(self.parser.get_method()) + len(self.url) + 12  # "M URL HTTP/1.1\r\n"
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
        item = (
            self.parser.get_method().decode(),
            self.url.decode("latin-1"),
            self.headers,
            b"".join(self.body),
            self.too_large,
            self.parser.should_keep_alive(),
        )
        self._reset()
        self.phase = IDLE
        self.head_bytes = 0
        self.queue.append(item)
        if len(self.queue) >= self.limits.max_pipelined and self.transport is not None:
            self.transport.pause_reading()  # a client pipelining without end waits for answers
            self.paused_reading = True
        if not self.busy:
            self.busy = True
            _DRAINS.spawn(self._drain())

    # -- serving -----------------------------------------------------------------------------------
    async def _drain(self) -> None:
        try:
            while self.queue and self.transport is not None:
                item = self.queue.pop(0)
                if isinstance(item, MlopsError):  # a refusal queued behind requests in flight
                    self.busy = False
                    self.refuse(item)
                    return
                method, url, headers, body, too_large, keep_alive = item
                if too_large:
                    exc = PayloadTooLargeError(
                        f"the request body is over the {self.gateway.max_body_bytes}-byte (6 MB) limit",
                        code="body_too_large",
                    )
                    resp = json_error(exc, new_request_id())
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
        except HeaderValueError as exc:  # a header from a function or the authorizer that may not be written
            log.warning("dropped a response whose headers may not be written: %s", exc)
            resp = json_error(
                BadGatewayError(
                    "the function answered with a header that may not be written",
                    code="invalid_upstream_header",
                ),
                new_request_id(),
            )
            head = _encode_head(resp, keep_alive)
        self.transport.write(head + resp.body)

    # -- refusing and closing (also called by the ConnectionGuard) ---------------------------------
    def refuse(self, exc: MlopsError) -> None:
        """Answer ``exc`` with the JSON error body, then close after a short read-and-discard linger."""
        if self.lingering or self.transport is None:
            return
        if self.busy:  # answers go out in order: after the requests in flight
            if not self.refusing:
                self.refusing = True  # parse nothing more; discard
                self.queue.append(exc)
            return
        self._write(json_error(exc, new_request_id()), keep_alive=False)
        self.lingering = True
        self.queue.clear()
        self.linger_deadline = self.guard.clock() + self.limits.linger_s
        if self.paused_reading:
            self.paused_reading = False
            self.transport.resume_reading()
        try:
            self.transport.write_eof()  # FIN after the answer; keep reading so the peer is not reset
        except (NotImplementedError, RuntimeError, OSError):
            self.transport.close()

    def close_idle(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        return None  # the peer is done: close our side too


def _encode_head(resp: GatewayResponse, keep_alive: bool) -> bytes:
    """The status line and headers of a response, every header through ``headercodec``."""
    parts = [f"HTTP/1.1 {resp.status} {_STATUS_TEXT.get(resp.status, 'Status')}\r\n".encode()]
    fields = [
        (k, v)
        for k, v in resp.headers
        if k.lower() not in ("content-length", "connection", "transfer-encoding")
    ]
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


async def serve(
    gateway: Handler, host: str = "127.0.0.1", port: int = 0, *, guard: ConnectionGuard | None = None
) -> asyncio.base_events.Server:
    """Start listening (loopback only); the server's socket tells the bound port.

    ``guard`` holds the HTTP limits and the connection counts of this server (a fresh one
    with OCI's limits when not given); ``guard.close()`` stops its sweeper.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("the local gateway listens on loopback only")
    guard = guard if guard is not None else ConnectionGuard(HttpLimits())
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: ServerProtocol(gateway, guard), host, port, reuse_address=True, backlog=1024
    )
