"""Test harnesses: a function through the real fdk request path, and a local runtime over real HTTP."""

from __future__ import annotations

import asyncio
import http.client as httpclient
import io
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def fdk_call(
    handler,
    *,
    url: str = "/",
    method: str = "POST",
    body: bytes | str | dict | None = None,
    headers: dict[str, str] | None = None,
    gateway: bool = True,
):
    """Run ``handler`` through fdk's own request path (fdk.fixtures): (status, headers, body)."""
    from fdk import fixtures

    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()

    async def run():
        call = await fixtures.setup_fn_call(
            handler,
            request_url=url,
            method=method,
            headers=headers or {},
            content=io.BytesIO(body or b""),
            gateway=gateway,
        )
        return await call

    content, status, hdrs = asyncio.run(run())
    status = int(hdrs.get("fn-http-status", status)) if gateway else status
    if isinstance(content, str):
        content = content.encode()
    return status, hdrs, content


class RuntimeThread:
    """Run a LocalRuntime's event loop in a thread so tests can talk to it over HTTP."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> RuntimeThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.runtime.start(), self.loop).result(120)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runtime.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.runtime.url


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


def http(
    method: str,
    url: str,
    body: bytes | str | dict | list | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    conn: httpclient.HTTPConnection | None = None,
) -> Response:
    """One HTTP request with the standard library (a real TCP connection)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    parts = urlsplit(url)
    own = conn is None
    conn = conn or httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        if own:
            conn.close()


class ManualClock:
    """A clock tests move by hand (``clock.t += 5`` or ``clock.tick(5)``): inject it wherever code takes
    ``clock=``, so no test waits on the wall clock."""

    def __init__(self, t: float = 1_790_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def tick(self, seconds: float = 1.0) -> float:
        self.t += seconds
        return self.t


def peer_venv_python(name: str) -> Path | None:
    """The python of a peer library's own venv (``bash .ci/peer-venv NAME``): $MLOPS_<NAME>_VENV, this
    checkout's .mlops/bench-venvs/NAME, or, in a git worktree, the main checkout's (.mlops/ is not versioned)."""
    root = Path(__file__).resolve().parents[1]
    env = os.environ.get(f"MLOPS_{name.upper()}_VENV")
    candidates = [Path(env)] if env else []
    candidates.append(root / ".mlops" / "bench-venvs" / name)
    common = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if common:
        candidates.append(Path(common).parent / ".mlops" / "bench-venvs" / name)
    for venv in candidates:
        if (venv / "bin" / "python").exists():
            return venv / "bin" / "python"
    return None


# Example values for the path parameters of the OpenAPI document's paths (``/v1/openapi.json``), so tests can
# call every documented path: a new path parameter needs one entry here.
OPENAPI_EXAMPLES = {
    "endpoint": "churn",
    "model": "churn",
    "dataset": "churn-train",
    "group": "customer_activity",
    "version": "1",
    "ref": "1",
    "alias": "production",
    "name": "index.html",
    "variant": "stable",
}
_OPENAPI_REST = {
    "/v1/models/{rest}": "churn",
    "/v1/audit/{rest}": "verify",
    "/v1/console/{rest}": "overview",
    "/ui/{rest}": "index.html",
}


def openapi_concrete_url(path: str, **overrides: str) -> str:
    """A URL that the documented ``path`` matches: each ``{param}`` replaced by its example (``overrides`` first)."""
    import re

    if path in _OPENAPI_REST:
        return path.replace("{rest}", _OPENAPI_REST[path])
    examples = {**OPENAPI_EXAMPLES, **overrides}
    return re.sub(r"\{([A-Za-z_]+)\}", lambda m: examples[m.group(1)], path)
