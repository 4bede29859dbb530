"""Issue 13 C: the local gateway enforces OCI API Gateway's HTTP limits, over real sockets.

Oracle, "API Gateway Internal Limits" (API Gateway Invocation Limits): maximum header size
8 KB (method, URI and headers), 15 s between reads of header or body bytes, 1000
simultaneous connections per IP address. Here the connection bounds are made small and the
clock is injected: the tests move the clock and sweep instead of waiting 15 s.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mlops.local.limits import BODY, HEAD, HttpLimits
from mlops.local.pool import FunctionDef
from mlops.local.runtime import LocalRuntime
from mlops.settings import settings_from_config

from tests.harness import ManualClock, RuntimeThread

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "tests" / "fixtures" / "functions" / "echo" / "func.py"
PER_IP, TOTAL = 4, 6


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    project = tmp_path_factory.mktemp("limits")
    settings = settings_from_config(
        {
            "mlops:endpoints": [],
            "mlops:store": {"backend": "file", "path": str(project / "store")},
            "mlops:local": {
                "port": 0,
                "state_dir": str(project / "state"),
                "secrets_file": str(project / "s.json"),
            },
        },
        stack="limits",
        project_dir=project,
    )
    spec = {
        "routes": [
            {
                "path": "/echo",
                "methods": ["GET", "POST"],
                "backend": {"type": "ORACLE_FUNCTIONS_BACKEND", "function_id": "local:fn:echo"},
            }
        ]
    }
    clock = ManualClock(1000.0)
    limits = HttpLimits(
        max_connections_per_ip=PER_IP, max_connections=TOTAL, refusal_slack=8, sweep_interval_s=3600
    )  # the tests sweep themselves
    rt = LocalRuntime(
        settings,
        port=0,
        spec=spec,
        functions=[FunctionDef("echo", ECHO, {}, pool_size=2)],
        http_limits=limits,
        limits_clock=clock,
    )
    with RuntimeThread(rt) as thread:
        u = urlsplit(thread.url)
        yield {"rt": rt, "thread": thread, "addr": (u.hostname, u.port), "clock": clock, "guard": rt.guard}


def sweep(env, advance: float = 0.0) -> None:
    env["clock"].t += advance

    async def run():
        env["guard"].sweep()

    env["thread"].run(run())


def open_count(env) -> int:
    async def run():
        return len(env["guard"].conns)

    return env["thread"].run(run())


def wait_for(pred, what: str, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def connect(env, source_ip: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(30)
    s.bind((source_ip, 0))
    s.connect(env["addr"])
    return s


_LEFTOVER: dict[int, bytes] = {}  # bytes read past one response, by socket fd (pipelining)


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read off a raw socket."""
    data = _LEFTOVER.pop(s.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full response head: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    if rest[n:]:
        _LEFTOVER[s.fileno()] = rest[n:]
    return status, headers, rest[:n]


def assert_error(status: int, headers: dict, body: bytes, want_status: int, want_code: str) -> None:
    assert status == want_status, (status, body[:300])
    err = json.loads(body)["error"]
    assert err["code"] == want_code and err["message"] and err["request_id"], err
    assert headers["connection"] == "close"


def nothing_to_read(s: socket.socket, wait_s: float = 0.3) -> bool:
    """No answer and no close within ``wait_s`` (a sweep writes synchronously, so this is not a race)."""
    s.settimeout(wait_s)
    try:
        s.recv(1, socket.MSG_PEEK)
        return False
    except TimeoutError:
        return True
    finally:
        s.settimeout(30)


def conn_states(env) -> list[tuple[int, float]]:
    async def run():
        return [(c.phase, c.last_read) for c in env["guard"].conns]

    return env["thread"].run(run())


def wait_read(env, phase: int) -> None:
    """Wait until the gateway has read what was sent (a connection in ``phase``, read at the current clock)."""
    wait_for(lambda: (phase, env["clock"].t) in conn_states(env), f"the gateway to read (phase {phase})")


def test_8mb_header_is_431_and_the_limit_is_8kb_for_the_whole_head(env):
    """issue 13 C: an 8 MB header was answered 200; OCI's maximum header size is 8 KB."""
    with connect(env) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n")
        assert_error(*read_response(s), 431, "request_header_fields_too_large")
    # at the boundary: a head of exactly 8192 bytes is served, 8193 is not
    base = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n"
    for size, want in ((8192, 200), (8193, 431)):
        req = base.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (size - len(base)))
        assert len(req) == size
        with connect(env) as s:
            s.sendall(req)
            status, headers, body = read_response(s)
            assert status == want, (size, status, body[:200])
            if want != 200:
                assert_error(status, headers, body, 431, "request_header_fields_too_large")


def test_8mb_url_is_414(env):
    """issue 13 C: an 8 MB URL was answered 200."""
    with connect(env) as s:
        s.sendall(b"GET /echo?q=" + b"u" * (8 * 1024 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_error(*read_response(s), 414, "uri_too_long")
    with connect(env) as s:  # a 9 KB URL in one small request
        s.sendall(b"GET /echo?q=" + b"u" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_error(*read_response(s), 414, "uri_too_long")
    with connect(env) as s:  # a 4 KB URL is fine
        s.sendall(b"GET /echo?q=" + b"u" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s)[0] == 200


def test_slowloris_half_request_gets_408_within_the_header_read_timeout(env):
    """issue 13 C: a client that sends half a request was never timed out (OCI: 15 s between reads)."""
    with connect(env) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le")
        wait_read(env, HEAD)
        sweep(env, 14.0)
        assert nothing_to_read(s)  # 14 s without a byte: still waiting
        sweep(env, 2.0)  # 16 s: over the 15 s header read timeout
        assert_error(*read_response(s), 408, "request_timeout")
        s.settimeout(30)
        assert s.recv(100) == b""  # and the connection is closed


def test_a_silent_connection_gets_408(env):
    with connect(env) as s:
        wait_for(lambda: open_count(env) >= 1, "the connection to be counted")
        sweep(env, 16.0)
        assert_error(*read_response(s), 408, "request_timeout")


def test_half_a_body_gets_408_within_the_body_read_timeout(env):
    with connect(env) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10)
        wait_read(env, BODY)
        sweep(env, 14.0)
        assert nothing_to_read(s)
        sweep(env, 2.0)
        assert_error(*read_response(s), 408, "request_timeout")


def test_trickling_header_bytes_is_capped_at_60_s_in_all(env):
    """One header byte every 10 s never trips the 15 s read timeout; the 60 s cap on the head does."""
    with connect(env) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\n")
        wait_read(env, HEAD)
        for _ in range(5):
            sweep(env, 10.0)
            assert nothing_to_read(s, 0.1)
            s.sendall(b"X")
            wait_read(env, HEAD)
        sweep(env, 11.0)  # 61 s since the head began
        assert_error(*read_response(s), 408, "request_timeout")


def test_idle_keep_alive_connection_is_closed_after_60_s_and_busy_ones_are_not(env):
    with connect(env) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(s)
        assert status == 200 and headers["connection"] == "keep-alive"
        sweep(env, 59.0)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")  # still open: it answers
        assert read_response(s)[0] == 200
        states = conn_states(env)
        sweep(env, 61.0)
        s.settimeout(30)
        try:
            assert s.recv(100) == b""  # closed quietly, no answer needed
        except TimeoutError:
            raise AssertionError(
                f"not closed; before the sweep: {states}, clock {env['clock'].t}, after: {conn_states(env)}"
            ) from None


def test_connections_over_the_per_client_bound_get_429_and_over_the_total_503(env):
    """issue 13 C: 500 slow sockets were held open; connections are bounded per client IP and in all."""
    wait_for(lambda: open_count(env) == 0, "earlier connections to close")
    held = [connect(env) for _ in range(PER_IP)]
    try:
        wait_for(lambda: open_count(env) == PER_IP, "the connections to be counted")
        with connect(env) as s:  # one too many from 127.0.0.1
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert_error(*read_response(s), 429, "too_many_connections")
        wait_for(lambda: open_count(env) == PER_IP, "the refused connection to go")
        other = [connect(env, "127.0.0.2") for _ in range(TOTAL - PER_IP)]  # another client: served
        held += other
        for s in other:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s)[0] == 200
        with connect(env, "127.0.0.3") as s:  # over the total: 503
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert_error(*read_response(s), 503, "server_busy")
    finally:
        for s in held:
            s.close()
    wait_for(lambda: open_count(env) == 0, "all connections to close")
    with connect(env) as s:  # and it serves again
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s)[0] == 200


def test_pipelined_requests_are_answered_in_order(env):
    with connect(env) as s:
        s.sendall(
            b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
        )
        for n in (1, 2):
            status, _h, body = read_response(s)
            assert status == 200 and json.loads(body)["url"] == f"/echo?n={n}"
        assert_error(*read_response(s), 431, "request_header_fields_too_large")
