"""Issue 13 D: one header encoder; no value a caller controls can add or change a header the function trusts.

The function trusts ``X-Mlops-Principal``, ``X-Mlops-Scopes`` and ``X-Mlops-Cohort`` (set by
the route from ``request.auth``, OVERWRITE) and the Fn headers (``Fn-Intent``,
``Fn-Http-Method``, ``Fn-Http-Request-Url``...). Before the fix a principal
``evil\\r\\nFn-Http-H-X-Mlops-Scopes: mlops:deploy`` was written as two header lines, and
with the client's own ``X-Mlops-Scopes`` placed first the function saw ``mlops:deploy``;
a non-ASCII principal was a 500 that also leaked a pool worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

import httptools
import pytest
from mlops.blueprint.functions import function_spec
from mlops.local.gateway import Gateway
from mlops.local.headercodec import (
    HeaderValueError,
    decode_client_value,
    decode_upstream_value,
    encode_field,
    encode_value,
)
from mlops.local.httpwire import Connection
from mlops.local.pool import FunctionDef
from mlops.local.runtime import LocalRuntime
from mlops.local.setup import add_api_key
from mlops.settings import settings_from_config

from tests.harness import RuntimeThread, http

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "tests" / "fixtures" / "functions" / "echo" / "func.py"
AUTHZ = ROOT / "functions" / "authorizer" / "func.py"

TRUSTED = ("x-mlops-principal", "x-mlops-scopes", "x-mlops-cohort")
INJECT = "\r\nFn-Http-H-X-Mlops-Scopes: mlops:deploy"
# values with control characters: refused, never written, never stripped
BAD_VALUES = [
    "evil" + INJECT,
    "evil\nX-Mlops-Scopes: mlops:deploy",
    "evil\rX",
    "a\x00b",
    "a\x1bb",
    "a\x7fb",
    "evil\r\n\r\nPOST /call HTTP/1.1",
    "\ud800",
]
# values that are fine and must arrive exactly as they are
GOOD_VALUES = [
    "alice",
    "张三",
    "😀",
    "d\u00e9j\u00e0 vu",
    "tab\there",
    "x" * 300,
    "a:b;c=d, e",
    "'\"<>%0D%0A",
]


def _route(fn: str, extra: dict | None = None) -> dict:
    items = {
        "X-Mlops-Principal": "${request.auth[principal]}",
        "X-Mlops-Scopes": "${request.auth[scopes]}",
        "X-Mlops-Cohort": "${request.auth[cohort_demo]}",
        **(extra or {}),
    }
    return {
        "path": "/t/{p}",
        "methods": ["GET", "POST"],
        "backend": {"type": "ORACLE_FUNCTIONS_BACKEND", "function_id": f"local:fn:{fn}"},
        "request_policies": {
            "authorization": {"type": "ANY_OF", "allowed_scopes": ["mlops:read"]},
            "header_transformations": {
                "set_headers": {
                    "items": [{"name": k, "values": [v], "if_exists": "OVERWRITE"} for k, v in items.items()]
                }
            },
        },
    }


SPEC = {
    "request_policies": {
        "authentication": {
            "type": "CUSTOM_AUTHENTICATION",
            "function_id": "local:fn:authorizer",
            "parameters": {"token": "request.headers[Authorization]"},
            "cache_keys": ["token"],
        }
    },
    "routes": [
        _route(
            "echo",
            {
                "X-From-Path": "${request.path[p]}",
                "X-From-Query": "${request.query[q]}",
                "X-From-Header": "${request.headers[X-In]}",
            },
        )
    ],
}


# ----------------------------------------------------------------------------- the encoder itself


@pytest.mark.parametrize("value", BAD_VALUES)
def test_encoder_refuses_control_characters_and_unencodable_text(value):
    with pytest.raises(HeaderValueError) as e:
        encode_field("X-Mlops-Principal", value)
    assert e.value.status == 400 and e.value.code == "invalid_header_value"


@pytest.mark.parametrize("value", GOOD_VALUES)
def test_encoder_writes_text_as_utf8_and_the_fdk_reads_it_back(value):
    raw = encode_value("X-Test", value)
    assert raw == value.encode("utf-8")
    assert raw.decode() == value  # what fdk's protocol does (value.decode())


def test_bytes_from_a_function_travel_back_unchanged():
    for raw in (b"plain", "张三".encode(), b"\xff\xfe latin-1 \xe9"):
        assert encode_value("X", decode_upstream_value(raw)) == raw


def test_client_header_values_must_be_utf8_without_controls():
    assert decode_client_value(b"X", "张三".encode()) == "张三"
    for raw in (b"\xff\xfe", b"a\x00b", b"a\x1bb"):
        with pytest.raises(HeaderValueError):
            decode_client_value(b"X", raw)


def test_header_names_in_the_spec_are_checked_at_load_time():
    spec = {"routes": [_route("echo", {"Bad Name": "x"})]}
    with pytest.raises(Exception, match="not a valid HTTP token"):
        Gateway(spec, lambda *a: None)


# ------------------------------------------- authorizer-returned values, through the real encoder and wire


class _Capture(asyncio.Protocol):
    """A loopback 'function' that records the raw bytes of each request and answers 200."""

    requests: list[bytes] = []

    def connection_made(self, transport):
        self.transport, self.buf = transport, b""

    def data_received(self, data):
        self.buf += data
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        n = int(
            next(
                (
                    ln.split(b":", 1)[1]
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length:")
                ),
                b"0",
            )
        )
        if len(rest) < n:
            return
        _Capture.requests.append(head + b"\r\n\r\n")
        self.buf = rest[n:]
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nFn-Http-Status: 200\r\n\r\nok")


def _parse_fields(raw_head: bytes) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []

    class P:
        def on_header(self, name, value):
            fields.append((name.decode().lower(), value.decode()))

    httptools.HttpRequestParser(P()).feed_data(raw_head)
    return fields


@pytest.mark.parametrize("principal", BAD_VALUES + GOOD_VALUES)
def test_authorizer_values_cannot_add_or_change_a_trusted_header(principal):
    """Whatever principal, scopes or cohort the authorizer returns, the function gets exactly one line each."""

    async def run():
        sock = os.path.join(tempfile.mkdtemp(prefix="mlops-cap-"), "fn.sock")
        server = await asyncio.get_running_loop().create_unix_server(_Capture, sock)
        conn = Connection(sock)
        answer = {
            "active": True,
            "principal": principal,
            "scope": ["mlops:read"],
            "expiresAt": "2999-01-01T00:00:00Z",
            "context": {
                "cohort_demo": "stable" if principal == "alice" else principal,
                "scopes": "mlops:read",
            },
        }

        async def invoke(fn_id, headers, body, replay_safe=False):
            if fn_id == "local:fn:authorizer":
                return 200, [], json.dumps(answer).encode()
            return await conn.request("POST", "/call", headers, body)

        _Capture.requests = []
        gw = Gateway(SPEC, invoke)
        # the client adds its own copies of the trusted headers first, so an injected line would come last
        resp = await gw.handle(
            "GET",
            "/t/x?q=1",
            {"x-mlops-scopes": "forged", "x-mlops-principal": "root", "authorization": "Bearer k"},
            b"",
        )
        conn.close()
        server.close()
        return resp, list(_Capture.requests)

    resp, requests = asyncio.run(run())
    if principal in BAD_VALUES:
        assert resp.status == 400 and json.loads(resp.body)["error"]["code"] == "invalid_header_value"
        assert requests == []  # nothing reached the function
        return
    assert resp.status == 200, resp.body
    (raw,) = requests
    fields = _parse_fields(raw)
    by_name: dict[str, list[str]] = {}
    for k, v in fields:
        by_name.setdefault(k, []).append(v)
    assert all(len(v) == 1 for v in by_name.values()), by_name  # no header line appears twice
    assert by_name["fn-http-h-x-mlops-principal"] == [principal]
    assert by_name["fn-http-h-x-mlops-scopes"] == ["mlops:read"]
    assert by_name["fn-intent"] == ["httprequest"] and by_name["fn-http-method"] == ["GET"]
    assert by_name["fn-http-request-url"] == ["/t/x?q=1"]


# ----------------------------------------------------------------------------- end to end, real authorizer


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    project = tmp_path_factory.mktemp("hdr")
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
        stack="hdr",
        project_dir=project,
    )
    reader = add_api_key(settings, "reader-1", ["mlops:read"])
    cfg = dict(function_spec(settings, "authorizer").config)
    cfg["MLOPS_ENDPOINTS"] = "demo"
    rt = LocalRuntime(
        settings,
        port=0,
        spec=SPEC,
        functions=[
            FunctionDef("authorizer", AUTHZ, cfg, pool_size=1),
            FunctionDef("echo", ECHO, {}, pool_size=2),
        ],
    )
    with RuntimeThread(rt) as thread:
        yield {"url": thread.url, "reader": reader}


def _seen(env, path="/t/x", headers=None, body=b"{}", method="POST"):
    r = http(method, env["url"] + path, body, {"Authorization": f"Bearer {env['reader']}", **(headers or {})})
    return r, (r.json().get("headers") if r.status == 200 else None)


def _assert_trusted_intact(seen: dict) -> None:
    assert seen["x-mlops-principal"] == "reader-1"
    assert seen["x-mlops-scopes"] == "mlops:read"
    assert seen["x-mlops-cohort"] == "stable"


CLIENT_ATTACKS = [
    # (path, headers, body): every place a caller controls
    ("/t/x?q=" + quote("1" + INJECT), {}, b"{}"),
    ("/t/" + quote("p" + INJECT, safe=""), {}, b"{}"),
    ("/t/x?q=" + quote("\n\nX-Mlops-Principal: root"), {}, b"{}"),
    (
        "/t/x",
        {"X-Mlops-Scopes": "mlops:deploy", "X-Mlops-Principal": "root", "X-Mlops-Cohort": "canary"},
        b"{}",
    ),
    (
        "/t/x",
        {
            "Fn-Http-H-X-Mlops-Scopes": "mlops:deploy",
            "Fn-Intent": "cloudevent",
            "Fn-Http-Request-Url": "/admin",
            "Fn-Http-Method": "DELETE",
        },
        b"{}",
    ),
    ("/t/x", {"X-In": "ok; X-Mlops-Scopes: mlops:deploy"}, b"{}"),
    ("/t/x", {}, ("\r\nX-Mlops-Scopes: mlops:deploy\r\n\r\n" + INJECT).encode()),
    ("/t/x?q=" + quote("张三"), {"X-In": "张三".encode()}, b"{}"),  # UTF-8 bytes on the wire
]


@pytest.mark.parametrize("case", range(len(CLIENT_ATTACKS)))
def test_no_client_controlled_value_changes_a_trusted_header(env, case):
    path, headers, body = CLIENT_ATTACKS[case]
    r, seen = _seen(env, path, headers, body)
    if r.status != 200:  # a value that may not become a header: refused
        assert r.status == 400 and r.json()["error"]["code"] == "invalid_header_value", r
        return
    _assert_trusted_intact(seen)
    fn_level = {k for k in seen if k.startswith("fn-")}
    assert fn_level <= {"fn-http-h-x-mlops-scopes", "fn-intent", "fn-http-request-url", "fn-http-method"}
    if "fn-intent" in seen:  # the client's own header, wrapped: never the real one
        assert r.json()["method"] == "POST" and r.json()["url"] == path
    if case == len(CLIENT_ATTACKS) - 1:  # non-ASCII text arrives as the same text
        assert seen["x-from-query"] == "张三" and seen["x-from-header"] == "张三" and seen["x-in"] == "张三"


def test_crlf_in_path_or_query_is_400_and_the_stack_keeps_answering(env):
    for path in ("/t/x?q=" + quote("1" + INJECT), "/t/" + quote("p" + INJECT, safe="")):
        for _ in range(4):  # more than the pool size: nothing leaks
            r, _ = _seen(env, path)
            assert r.status == 400 and r.json()["error"]["code"] == "invalid_header_value", r
    r, seen = _seen(env)
    assert r.status == 200
    _assert_trusted_intact(seen)


def test_invalid_utf8_client_header_is_400(env):
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(env["url"])
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(
            b"GET /t/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + env["reader"].encode()
            + b"\r\nX-In: \xff\xfe\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(4096):  # the gateway closes after a refusal
            data += chunk
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    assert json.loads(data.partition(b"\r\n\r\n")[2])["error"]["code"] == "invalid_header_value"
