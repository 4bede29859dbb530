"""A minimal keep-alive HTTP/1.1 client over asyncio + httptools, for unix sockets and loopback TCP.

The gateway uses it to speak to fdk processes (``POST /call`` over ``FN_LISTENER``);
benchmarks use it as the load generator for both the direct and the gateway path, so
both are measured with the same client. One connection carries one request at a time.
"""

from __future__ import annotations

import asyncio
import time

import httptools

from mlops.local.headercodec import encode_fields


class UpstreamClosed(ConnectionError):
    """The peer closed the connection before a complete response arrived."""

    def __init__(self, message: str, *, got_bytes: bool) -> None:
        super().__init__(message)
        self.got_bytes = got_bytes


class _ResponseProtocol(asyncio.Protocol):
    __slots__ = (
        "transport",
        "parser",
        "waiter",
        "status",
        "headers",
        "body",
        "closed",
        "got_bytes",
        "keep_alive",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.closed = False
        self.got_bytes = False
        self.keep_alive = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"malformed response from upstream: {exc}", got_bytes=True))
            if self.transport:
                self.transport.close()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(UpstreamClosed("upstream closed the connection", got_bytes=self.got_bytes))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # asked now: once the message is complete the parser resets and always says False
        self.keep_alive = self.parser.should_keep_alive()
        w = self.waiter
        if w is not None and not w.done():
            w.set_result((self.status, self.headers, b"".join(self.body)))

    def _fail(self, exc: BaseException) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(exc)

    def reset(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        self.headers, self.body, self.status, self.got_bytes = [], [], 0, False
        self.waiter = loop.create_future()
        return self.waiter


class Connection:
    """One keep-alive HTTP/1.1 connection (unix socket path or (host, port))."""

    def __init__(self, target: str | tuple[str, int], host_header: str = "localhost") -> None:
        self.target = target
        self.host_header = host_header.encode()
        self._proto: _ResponseProtocol | None = None
        self.last_used = 0.0
        self.requests = 0
        self.connects = 0  # connections opened so far (benchmarks show keep-alive held)

    @property
    def is_open(self) -> bool:
        return self._proto is not None and not self._proto.closed

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(self.target, str):
            _t, proto = await loop.create_unix_connection(_ResponseProtocol, self.target)
        else:
            _t, proto = await loop.create_connection(_ResponseProtocol, *self.target)
        self._proto = proto
        self.last_used = time.monotonic()
        self.requests = 0
        self.connects += 1

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None

    async def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        max_idle_s: float | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one request and return (status, raw headers, body); reconnects when needed.

        Every header goes through ``headercodec`` (no CR/LF, UTF-8): a value that may not be
        written raises ``HeaderValueError`` before anything is sent, so the connection stays usable.
        """
        fields = encode_fields(headers or ())
        if max_idle_s is not None and self.is_open and time.monotonic() - self.last_used > max_idle_s:
            self.close()  # the peer's keep-alive timer may be about to close it
        if not self.is_open:
            await self.connect()
        proto = self._proto
        assert proto is not None and proto.transport is not None
        head = b"".join(
            (
                f"{method} {path} HTTP/1.1\r\n".encode(),
                b"Host: ",
                self.host_header,
                b"\r\n",
                b"Content-Length: ",
                str(len(body)).encode(),
                b"\r\n",
                fields,
                b"\r\n",
            )
        )
        waiter = proto.reset(asyncio.get_running_loop())
        proto.transport.write(head + body)
        try:
            result = await waiter
        finally:
            self.last_used = time.monotonic()
        self.requests += 1
        if not proto.keep_alive:
            self.close()
        return result


def header_value(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None
