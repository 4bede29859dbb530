"""Shared pieces of the benchmark scripts: a load-generator connection that really keeps alive.

``mlops.local.httpwire.Connection`` decides whether to keep a connection by calling
``parser.should_keep_alive()`` after the response has completed, when llhttp has already
reset the message state and answers False: every request then opens a new connection.
``KeepAliveConnection`` records the answer inside ``on_message_complete`` (where it is
right) and keeps the connection open when the server allowed it, so a benchmark measures
requests on warm keep-alive connections, as it claims. ``connects`` counts the connections
opened, so a script can show that it held.
"""

from __future__ import annotations

import asyncio
import time

from mlops.local.httpwire import Connection, _ResponseProtocol


class _KeepAliveProtocol(_ResponseProtocol):
    __slots__ = ("keep_alive",)

    def __init__(self) -> None:
        super().__init__()
        self.keep_alive = False

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()   # valid only until this callback returns
        super().on_message_complete()


class KeepAliveConnection(Connection):
    """``httpwire.Connection`` with keep-alive decided while the response is still being parsed."""

    def __init__(self, target: str | tuple[str, int], host_header: str = "localhost") -> None:
        super().__init__(target, host_header)
        self.connects = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(self.target, str):
            _t, proto = await loop.create_unix_connection(_KeepAliveProtocol, self.target)
        else:
            _t, proto = await loop.create_connection(_KeepAliveProtocol, *self.target)
        self._proto = proto
        self.last_used = time.monotonic()
        self.requests = 0
        self.connects += 1

    async def request(self, method: str, path: str, headers: list[tuple[str, str]] | None = None,
                      body: bytes = b"", max_idle_s: float | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one request and return (status, raw headers, body); reconnects only when needed."""
        if max_idle_s is not None and self.is_open and time.monotonic() - self.last_used > max_idle_s:
            self.close()
        if not self.is_open:
            await self.connect()
        proto = self._proto
        assert isinstance(proto, _KeepAliveProtocol) and proto.transport is not None
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), b"Host: ", self.host_header, b"\r\n",
                b"Content-Length: ", str(len(body)).encode(), b"\r\n"]
        for k, v in headers or ():
            head.append(f"{k}: {v}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        proto.keep_alive = False
        waiter = proto.reset(asyncio.get_running_loop())
        proto.transport.write(b"".join(head) + body)
        try:
            result = await waiter
        finally:
            self.last_used = time.monotonic()
        self.requests += 1
        if not proto.keep_alive:
            self.close()
        return result
