"""HTTP limits of the local gateway: the ones OCI API Gateway enforces, and how they are kept.

Source: Oracle, "API Gateway Internal Limits", table "API Gateway Invocation Limits"
(https://docs.oracle.com/en-us/iaas/Content/APIGateway/Reference/apigatewaylimits.htm):

| OCI limit                               | OCI value                         | here                        |
|-----------------------------------------|-----------------------------------|-----------------------------|
| Maximum header size (method, URI, hdrs) | 8 KB                              | 8192 bytes -> 414 / 431     |
| Request header read timeout             | 15 s between reads of header bytes| 15 s -> 408                 |
| Request body read timeout               | 15 s between reads of body bytes  | 15 s -> 408                 |
| Response body read timeout              | 15 s between sends of body bytes  | 15 s -> connection aborted  |
| Simultaneous connections per IP address | 1000 (IPv6: per /64 prefix)       | 1000 -> 429                 |
| Function request body size              | 6 MB                              | 6 MB -> 413 (gateway.py)    |

Not on that page, chosen here (and listed as such in the README): a bound on all open
connections (503, clipped to the process's file-descriptor limit), a 60 s idle keep-alive
timeout, and a 60 s cap on the whole request head, so that a client trickling one header
byte every 14 s cannot hold a connection for hours.

OCI states one size for "method, URI, and headers". A request whose request line alone is
over it is answered 414 ``uri_too_long``; one whose request line fits but whose head does not
is answered 431 ``request_header_fields_too_large``. Every refusal carries the JSON error body
and ``Connection: close``; the connection then lingers, reading and discarding, for a short
while, so that a client still sending its oversized request reads the answer instead of a
connection reset.

Timeouts are enforced by one sweeper per server (not one timer per connection), against an
injectable clock: tests move the clock and call ``sweep()`` instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops.errors import MlopsError, RateLimitedError, UnavailableError

ORACLE_LIMITS_URL = "https://docs.oracle.com/en-us/iaas/Content/APIGateway/Reference/apigatewaylimits.htm"

# connection phases, as the sweeper sees them
FRESH, HEAD, BODY, IDLE = 0, 1, 2, 3


class RequestTimeoutError(MlopsError):
    status, code = 408, "request_timeout"


class UriTooLongError(MlopsError):
    status, code = 414, "uri_too_long"


class HeaderFieldsTooLargeError(MlopsError):
    status, code = 431, "request_header_fields_too_large"


class TooManyConnectionsError(RateLimitedError):
    code = "too_many_connections"


class ServerBusyError(UnavailableError):
    code = "server_busy"


def _fd_budget(reserve: int = 256) -> int:
    """Connections this process can hold: its open-file limit minus room for workers, logs, stores."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover - non-POSIX
        return 1024
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(64, soft - reserve)


@dataclass(frozen=True)
class HttpLimits:
    """The limits one gateway server enforces (defaults: OCI API Gateway's, see the module doc)."""

    max_head_bytes: int = 8 * 1024  # OCI: maximum header size 8 KB (method, URI, headers)
    header_read_timeout_s: float = 15.0  # OCI: request header read timeout
    body_read_timeout_s: float = 15.0  # OCI: request body read timeout
    send_timeout_s: float = 15.0  # OCI: response body read timeout
    max_connections_per_ip: int = 1000  # OCI: simultaneous connections per IP address
    header_total_timeout_s: float = 60.0  # local: the whole head, however slowly it trickles
    keepalive_idle_s: float = 60.0  # local: an idle kept-alive connection is closed
    max_connections: int = 10_000  # local: all connections (clipped to the fd budget) -> 503
    refusal_slack: int = 256  # refused connections that still get an answer
    linger_s: float = 2.0  # after a refusal: read-and-discard at most this long
    max_linger_bytes: int = 16 * 1024 * 1024  # ... and at most this much
    max_pipelined: int = 16  # queued requests per connection before reading pauses
    sweep_interval_s: float = 1.0  # how often deadlines are checked

    def effective_max_connections(self) -> int:
        return min(self.max_connections, _fd_budget())


def client_key(ip: str) -> str:
    """What the per-client bound counts: the IPv4 address, or the IPv6 /64 prefix (as OCI does)."""
    if ":" not in ip:
        return ip
    try:
        return str(ipaddress.IPv6Network(f"{ip.split('%')[0]}/64", strict=False))
    except ValueError:
        return ip


class ConnectionGuard:
    """Counts a server's connections (per client and in all) and enforces its timeouts.

    A connection object needs: ``client_ip``, ``transport``, ``phase``, ``busy``,
    ``last_read``, ``last_active``, ``head_started``, ``write_paused_at``, ``lingering``,
    ``linger_deadline`` and the methods ``refuse(exc)``, ``close_idle()`` and ``abort()``
    (``gateway._ServerProtocol`` is one).
    """

    def __init__(self, limits: HttpLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or HttpLimits()
        self.clock = clock
        self.max_connections = self.limits.effective_max_connections()
        self.conns: set[Any] = set()
        self.per_client: dict[str, int] = {}
        self.stats = {
            "refused_per_client": 0,
            "refused_total": 0,
            "aborted": 0,
            "timeouts": 0,
            "idle_closed": 0,
            "send_stalled": 0,
            "too_large": 0,
        }
        self._sweeper: asyncio.Task | None = None
        self._closed = False

    # -- admission ------------------------------------------------------------------------
    def admit(self, conn: Any) -> MlopsError | None:
        """Count a new connection; the error to answer it with when it is over a bound.

        Returns ``None`` (serve it) or an error; raises ``OverflowError`` when the connection
        is so far over the bounds that it is dropped without an answer.
        """
        key = conn.client_key = client_key(conn.client_ip)
        n = self.per_client.get(key, 0) + 1
        self.per_client[key] = n
        self.conns.add(conn)
        self._ensure_sweeper()
        lim = self.limits
        total = len(self.conns)
        if (
            n > lim.max_connections_per_ip + lim.refusal_slack
            or total > self.max_connections + lim.refusal_slack
        ):
            self.stats["aborted"] += 1
            raise OverflowError("over every connection bound")
        if n > lim.max_connections_per_ip:
            self.stats["refused_per_client"] += 1
            return TooManyConnectionsError(
                f"this client has {n} open connections to the gateway; the limit is "
                f"{lim.max_connections_per_ip} (as OCI API Gateway's simultaneous connections per IP address)"
            )
        if total > self.max_connections:
            self.stats["refused_total"] += 1
            return ServerBusyError(
                f"the gateway has {total} open connections, over its limit of "
                f"{self.max_connections}; retry shortly"
            )
        return None

    def release(self, conn: Any) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            key = getattr(conn, "client_key", conn.client_ip)
            n = self.per_client.get(key, 1) - 1
            if n <= 0:
                self.per_client.pop(key, None)
            else:
                self.per_client[key] = n

    # -- deadlines ------------------------------------------------------------------------
    def sweep(self) -> None:
        """Check every connection's deadlines once (the sweeper calls this; tests may too)."""
        now = self.clock()
        lim = self.limits
        for c in list(self.conns):
            if c.transport is None:
                continue
            if c.lingering:
                if now >= c.linger_deadline:
                    c.abort()
                continue
            if c.write_paused_at is not None and now - c.write_paused_at > lim.send_timeout_s:
                self.stats["send_stalled"] += 1  # the client stopped reading our answer
                c.abort()
                continue
            if c.busy:
                continue  # the gateway is working on a request: no client timeout
            phase = c.phase
            if phase == IDLE:
                if now - c.last_active > lim.keepalive_idle_s:
                    self.stats["idle_closed"] += 1
                    c.close_idle()
            elif phase == BODY:
                if now - c.last_read > lim.body_read_timeout_s:
                    self.stats["timeouts"] += 1
                    c.refuse(
                        RequestTimeoutError(
                            f"no request body bytes arrived for {lim.body_read_timeout_s:g} s; the request is abandoned"
                        )
                    )
            elif (
                now - c.last_read > lim.header_read_timeout_s
                or now - c.head_started > lim.header_total_timeout_s
            ):
                self.stats["timeouts"] += 1
                c.refuse(
                    RequestTimeoutError(
                        f"the request line and headers did not arrive in time (at most {lim.header_read_timeout_s:g} s "
                        f"between reads, {lim.header_total_timeout_s:g} s in all)"
                    )
                )

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None and not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to sweep yet
                self._sweeper = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.conns and not self._closed:
                await asyncio.sleep(self.limits.sweep_interval_s)
                self.sweep()
        finally:
            self._sweeper = None  # restarted by the next connection

    def close(self) -> None:
        """Stop the sweeper and drop every connection (the server is shutting down)."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for c in list(self.conns):
            c.abort()

    def status(self) -> dict[str, Any]:
        return {
            "open": len(self.conns),
            "clients": len(self.per_client),
            "max_connections": self.max_connections,
            **self.stats,
        }


def head_limit_error(limits: HttpLimits, request_line_bytes: int, head_bytes: int) -> MlopsError:
    """414 when the request line alone is over the head limit, else 431 (see the module doc)."""
    cap = limits.max_head_bytes
    if request_line_bytes > cap:
        return UriTooLongError(
            f"the request line is over {cap} bytes, the limit for the request line and headers "
            f"together (as OCI API Gateway's 8 KB maximum header size)"
        )
    return HeaderFieldsTooLargeError(
        f"the request line and headers are {head_bytes}+ bytes; the limit is {cap} "
        f"bytes (as OCI API Gateway's 8 KB maximum header size)"
    )
