"""Benchmark: CPU per request of each step of a prediction through the local serving path (issue 19).

Where ``bench_inference.py --cpu`` gives the CPU each *process* spends per request (gateway,
inference worker), this splits that into steps. Every step runs in this one process, on the real
code and real inputs (the same model, deployment spec, authorizer and inference function as the
benchmark deploys, the real fdk), connected by in-memory transports instead of sockets, and is
timed with this thread's CPU time over ``--n`` repetitions after a warm-up (so the figures hold on
a loaded machine; the median of ``--rounds`` is printed). Steps:

- gateway HTTP: ``_ServerProtocol`` parsing the client's request and writing the response;
- gateway auth: the custom authorizer with its cache warm (``Gateway._authenticate``);
- gateway route: route match, rate limit and dynamic routing (``_match`` + ``select_backend``);
- gateway forward: header transformations, the Fn wire headers, the response unwrapped;
- pool client: ``FunctionPool.call`` (call id, deadline, the HTTP request to the worker and its
  response parsed with ``httpwire``);
- fdk: fdk's own ``HttpProtocol`` parsing the request, its context, runner and response output;
- handler: the project's fdk entry point (``mlops.function``: Request, router, response encode);
- predict: ``InferenceService.predict`` without its record (parse + validate + score + body);
- record: the prediction record (one JSON line to stdout, here ``/dev/null``).

Not in these steps: the kernel and the event loop (socket reads and writes, epoll, the context
switches between the two processes), which ``bench_inference.py --cpu`` includes: the difference
between its per-process figures and the sums here is that.

    .venv/bin/python tests/benchmarks/bench_request_path.py [--n 3000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import runpy
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_inference as bi  # noqa: E402


class _Pipe(asyncio.Transport):
    """An in-memory transport: what one side writes is fed to the other side's protocol (next loop turn)."""

    def __init__(self, loop, peer=None) -> None:
        super().__init__()
        self.loop, self.peer, self.closed = loop, peer, False
        self.written: list[bytes] = []

    def write(self, data) -> None:
        if self.peer is None:
            self.written.append(bytes(data))
        else:
            self.loop.call_soon(self.peer.data_received, bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def _cpu_us(fn, n: int) -> float:
    t0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t0) / 1000 / n


async def _acpu_us(coro_fn, n: int) -> float:
    t0 = time.thread_time_ns()
    for _ in range(n):
        await coro_fn()
    return (time.thread_time_ns() - t0) / 1000 / n


def _load_function(fdef, env_extra: dict[str, str]):
    """Import a function's func.py as its fdk process would (its config as environment variables)."""
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in fdef.config.items()})
    os.environ.update(
        {
            "FN_FORMAT": "http-stream",
            "FN_APP_NAME": fdef.app_name,
            "FN_FN_NAME": fdef.name,
            "FN_FN_ID": f"local:fn:{fdef.name}",
            "FN_TYPE": "sync",
            **env_extra,
        }
    )
    cwd = os.getcwd()
    try:
        os.chdir(fdef.func_py.parent)
        return runpy.run_path(str(fdef.func_py), run_name="func")
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


def _fdk_server(handler, loop):
    """fdk's server as ``fdk.start`` builds it, without a socket: a factory of its HttpProtocol."""
    from functools import partial

    from fdk import customer_code, event_handler
    from fdk.async_http import app, router
    from fdk.async_http.protocol import HttpProtocol

    class _Code(customer_code.Function):  # the loaded handler, as fdk's Function would give it
        def __init__(self, h) -> None:
            self._h = h

        def handler(self):
            return self._h

    rtr = router.Router()
    rtr.add("/call", frozenset({"POST"}), event_handler.event_handle(_Code(handler)))
    srv = app.AsyncHTTPServer(name="fdk", router=rtr)
    from fdk.async_http.server import Signal

    return partial(
        HttpProtocol,
        loop=loop,
        connections=set(),
        signal=Signal(),
        request_handler=srv.handle_request,
        error_handler=srv.error_handler,
        request_timeout=60,
        response_timeout=60,
        keep_alive_timeout=75,
        request_max_size=100000000,
        router=rtr,
        access_log=True,
    )


async def measure(args, project: Path, key: str, body: bytes) -> dict:
    from mlops.local import routes as gw_mod
    from mlops.local.gateway import Gateway
    from mlops.local.httpwire import Connection, _ResponseProtocol
    from mlops.local.pool import FunctionPool, Worker
    from mlops.local.routes import select_backend
    from mlops.local.runtime import LocalRuntime
    from mlops.local.server import ServerProtocol as _ServerProtocol
    from mlops.settings import load_stack

    loop = asyncio.get_running_loop()
    settings = load_stack(bi.STACK, project)
    rt = LocalRuntime(settings, port=0)
    defs = {d.name: d for d in rt.defs}
    sink = open(os.devnull, "w")  # noqa: SIM115 - the functions' stdout (the runtime reads it from a pipe)
    real_stdout = sys.stdout
    funcs = {}
    for name in (bi.STABLE_FN, *[n for n in defs if n.startswith("authorizer")]):
        funcs[name] = _load_function(defs[name], {})
    inference = funcs[bi.STABLE_FN]

    # the pools: one in-process worker each, reached through an in-memory "socket"
    pools = {}
    for name, g in funcs.items():
        pool = FunctionPool(defs[name], tempfile.gettempdir())
        factory = _fdk_server(g["handler"], loop)
        w = Worker(0, "in-memory")

        class _Proc:
            returncode = None
            pid = os.getpid()

            def send_signal(self, sig) -> None: ...

        w.process = _Proc()  # type: ignore[assignment]
        conn = Connection("in-memory")

        def connect(conn=conn, factory=factory):
            server = factory()
            client = _ResponseProtocol()
            client.connection_made(_Pipe(loop, server))
            server.connection_made(_Pipe(loop, client))
            conn._proto = client
            conn.requests = 0
            conn.connects += 1
            conn.last_used = time.monotonic()

        async def aconnect(connect=connect):
            connect()

        conn.connect = aconnect  # type: ignore[method-assign]
        w.conn = conn
        pool._idle.put_nowait(w)
        pools[name] = pool

    async def invoke(fn_id, headers, b):
        return await pools[fn_id.split(":", 2)[-1]].call(headers, b)

    gateway = Gateway(rt.spec, invoke)
    client_headers = (
        f"POST {bi.PREDICT_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    raw_request = client_headers + body

    # the whole path, in memory: client bytes -> gateway -> pool -> fdk -> handler -> back
    out = _Pipe(loop)
    server = _ServerProtocol(gateway)
    server.connection_made(out)

    async def full():
        n = len(out.written)
        server.data_received(raw_request)
        while len(out.written) == n:
            await asyncio.sleep(0)

    sys.stdout = sink
    try:
        for _ in range(50):
            await full()
        resp = out.written[-1]
        assert resp.startswith(b"HTTP/1.1 200"), resp[:500]
        sample_response = resp

        # a gateway whose functions answer at once with a recorded fdk response: the gateway alone
        fdk_wire = {}

        async def recording_invoke(fn_id, headers, b):
            status, h, rb = await invoke(fn_id, headers, b)
            fdk_wire[fn_id] = (headers, b, status, h, rb)
            return status, h, rb

        gateway.invoke = recording_invoke
        await full()
        fn_id = next(k for k in fdk_wire if bi.STABLE_FN in k)
        wire_headers, wire_body, f_status, f_headers, f_body = fdk_wire[fn_id]

        async def canned_invoke(fn_id, headers, b):
            return f_status, f_headers, f_body

        gateway.invoke = invoke
        gw2 = Gateway(rt.spec, canned_invoke)  # the same gateway, its function answering at once
        gw2.auth_cache = gateway.auth_cache

        req_headers = {
            "host": "127.0.0.1",
            "authorization": f"Bearer {key}",
            "content-type": "application/json",
            "content-length": str(len(body)),
        }

        def gw_request():
            from urllib.parse import parse_qsl, unquote, urlsplit

            parts = urlsplit(bi.PREDICT_PATH)
            return gw_mod.GatewayRequest(
                "POST",
                unquote(parts.path),
                dict(parse_qsl(parts.query)),
                bi.PREDICT_PATH,
                dict(req_headers),
                body,
                "127.0.0.1",
                "rid",
            )

        async def gw_auth():
            req = gw_request()
            await gw2._authenticate(req)

        def gw_route():
            req = gw_request()
            route = gw2._match(req)
            if gw2.rate_limiter:
                gw2.rate_limiter.allow("127.0.0.1")
            return select_backend(route.backend, req)

        async def gw_handle():
            await gw2.handle("POST", bi.PREDICT_PATH, dict(req_headers), body, "127.0.0.1")

        # the pool client against a worker that answers at once with the recorded fdk response
        fdk_raw = (
            f"HTTP/1.1 {f_status} OK\r\n".encode()
            + b"".join(
                k + b": " + v + b"\r\n"
                for k, v in f_headers
                if k.lower() not in (b"content-length", b"connection")
            )
            + f"Content-Length: {len(f_body)}\r\nConnection: keep-alive\r\n\r\n".encode()
            + f_body
        )
        echo_pool = FunctionPool(defs[bi.STABLE_FN], tempfile.gettempdir())
        ew = Worker(0, "in-memory")
        ew.process = pools[bi.STABLE_FN]._idle._queue[0].process
        econn = Connection("in-memory")

        class _Echo:
            def __init__(self, client) -> None:
                self.client = client

            def data_received(self, data):
                loop.call_soon(self.client.data_received, fdk_raw)

        async def econnect():
            eclient = _ResponseProtocol()
            eclient.connection_made(_Pipe(loop, _Echo(eclient)))
            econn._proto = eclient
            econn.requests = 0
            econn.last_used = time.monotonic()

        econn.connect = econnect  # type: ignore[method-assign]
        ew.conn = econn
        echo_pool._idle.put_nowait(ew)

        async def pool_client():
            await echo_pool.call(wire_headers, wire_body)

        # fdk + the handler, on fdk's own protocol fed the request bytes the pool sends
        fdk_request = b"".join(
            [
                b"POST /call HTTP/1.1\r\nHost: localhost\r\nContent-Length: ",
                str(len(wire_body)).encode(),
                b"\r\n",
                *(
                    f"{k}: {v}\r\n".encode("latin-1")
                    for k, v in [
                        ("Fn-Call-Id", "0" * 32),
                        ("Fn-Deadline", "2099-01-01T00:00:00Z"),
                        *wire_headers,
                    ]
                ),
                b"\r\n",
                wire_body,
            ]
        )
        fdk_out = _Pipe(loop)
        fdk_proto = _fdk_server(inference["handler"], loop)()
        fdk_proto.connection_made(fdk_out)

        async def fdk_full():
            n = len(fdk_out.written)
            fdk_proto.data_received(fdk_request)
            while len(fdk_out.written) == n:
                await asyncio.sleep(0)

        from fdk import response as fdk_response

        def trivial(ctx, data=None):  # the least a function can do: fdk's own cost, no project code
            return fdk_response.Response(
                ctx, response_data=f_body, headers={"content-type": "application/json"}
            )

        triv_out = _Pipe(loop)
        triv_proto = _fdk_server(trivial, loop)()
        triv_proto.connection_made(triv_out)

        async def fdk_trivial():
            n = len(triv_out.written)
            triv_proto.data_received(fdk_request)
            while len(triv_out.written) == n:
                await asyncio.sleep(0)

        from fdk import constants, context

        fdk_headers = {
            k.lower(): v
            for k, v in [("Fn-Call-Id", "0" * 32), ("Fn-Deadline", "2099-01-01T00:00:00Z"), *wire_headers]
        }
        fdk_headers.update({"host": "localhost", "content-length": str(len(wire_body))})
        handler = inference["handler"]

        def fn_handler():
            ctx, data = context.context_from_format(
                constants.HTTPSTREAM, headers=dict(fdk_headers), data=io.BytesIO(wire_body)
            )
            return handler(ctx, data)

        def fn_context():
            return context.context_from_format(
                constants.HTTPSTREAM, headers=dict(fdk_headers), data=io.BytesIO(wire_body)
            )

        from mlops.function import _headers_of
        from mlops.http import REQUEST_ID_HEADER, Request

        service = inference["_service"]
        ctx0, _ = fn_context()
        h0 = _headers_of(ctx0)
        request = Request.from_url(
            "POST", ctx0.RequestURL(), h0, wire_body, request_id=h0.get(REQUEST_ID_HEADER) or ctx0.CallID()
        )
        emit = service.emit
        service.emit = lambda rec: None

        def predict_only():
            return service.predict(request)

        def predict_with_record():
            service.emit = emit
            try:
                return service.predict(request)
            finally:
                service.emit = lambda rec: None

        steps = {
            "whole path, in memory (gateway + pool + fdk + handler)": ("async", full),
            "gateway: handle (auth + route + forward), function answered at once": ("async", gw_handle),
            "gateway: auth (authorizer cache warm)": ("async", gw_auth),
            "gateway: route (match + rate limit + dynamic routing)": ("sync", gw_route),
            "pool client (call id, deadline, HTTP to the worker and back)": ("async", pool_client),
            "fdk + handler (fdk's HttpProtocol fed the request)": ("async", fdk_full),
            "fdk context (context_from_format)": ("sync", fn_context),
            "fdk alone (a function that returns a fixed response)": ("async", fdk_trivial),
            "context + handler (mlops.function + service)": ("sync", fn_handler),
            "predict without record": ("sync", predict_only),
            "predict with record": ("sync", predict_with_record),
        }
        if args.profile:
            import cProfile
            import pstats

            for name, (kind, fn) in steps.items():
                if args.profile not in name:
                    continue
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(args.n):
                    if kind == "async":
                        await fn()
                    else:
                        fn()
                prof.disable()
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats(args.sort).print_stats(40)
                print(f"### {name}\n{buf.getvalue()}", file=sys.stderr)
        rounds: dict[str, list[float]] = {k: [] for k in steps}
        for kind, fn in steps.values():  # warm up
            for _ in range(200):
                if kind == "async":
                    await fn()
                else:
                    fn()
        for _ in range(args.rounds):
            for name, (kind, fn) in steps.items():
                rounds[name].append(await _acpu_us(fn, args.n) if kind == "async" else _cpu_us(fn, args.n))
        service.emit = emit
    finally:
        sys.stdout = real_stdout
        sink.close()
    med = {k: statistics.median(v) for k, v in rounds.items()}
    # the gateway's HTTP handling: the whole gateway (protocol included) minus handle, measured on
    # a gateway whose function answers at once
    out2 = _Pipe(loop)
    server2 = _ServerProtocol(gw2)
    server2.connection_made(out2)

    async def gw_http_full():
        n = len(out2.written)
        server2.data_received(raw_request)
        while len(out2.written) == n:
            await asyncio.sleep(0)

    for _ in range(200):
        await gw_http_full()
    vals = [await _acpu_us(gw_http_full, args.n) for _ in range(args.rounds)]
    med["gateway: HTTP server + handle, function answered at once"] = statistics.median(vals)
    return {
        "median_us": med,
        "rounds_us": rounds,
        "n": args.n,
        "response_head": sample_response[:200].decode("latin-1"),
        "load": bi.loadavg(),
    }


# ---------------------------------------------------------------------------------------------- one hop
_HOP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300\r\n"
    b"Connection: keep-alive\r\n\r\n" + b"x" * 300
)


def hop_server(path: str) -> None:
    """``--hop-server``: the least an HTTP server on a unix socket can do (httptools parse, fixed answer)."""
    import httptools

    class P(asyncio.Protocol):
        def connection_made(self, t) -> None:
            self.t, self.parser = t, httptools.HttpRequestParser(self)

        def data_received(self, data) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            self.t.write(_HOP_RESPONSE)

    async def main() -> None:
        srv = await asyncio.get_running_loop().create_unix_server(P, path)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        srv.close()

    import uvloop

    uvloop.run(main())


async def measure_hop(n: int, rounds: int, core: int, body: bytes) -> dict:
    """CPU per round trip of a request over a unix socket between two uvloop processes on one core:
    what a second process on the request path costs at the least (syscalls, wake-ups, switches)."""
    import subprocess

    from mlops.local.httpwire import Connection

    d = tempfile.mkdtemp(prefix="mlops-hop-")
    path = os.path.join(d, "hop.sock")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--hop-server", path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        conn = Connection(path)
        headers = [("Fn-Call-Id", "0" * 32), ("Content-Type", "application/json")]
        for _ in range(500):
            await conn.request("POST", "/call", headers, body)
        out = []
        for _ in range(rounds):
            s0, c0 = bi._cpu_ns(proc.pid), time.thread_time_ns()
            for _ in range(n):
                await conn.request("POST", "/call", headers, body)
            c1, s1 = time.thread_time_ns(), bi._cpu_ns(proc.pid)
            out.append(((c1 - c0) + (s1 - s0)) / 1000 / n)
        # the user-space part: the same client and parse against an in-memory server
        return {"round_trip_us": statistics.median(out), "rounds_us": out}
    finally:
        with contextlib.suppress(Exception):
            proc.stdin.close()
            proc.wait(10)
        proc.kill()
        os.sched_setaffinity(0, before)
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the bare app
BARE_MEASURE = r"""
import asyncio, json, os, statistics, sys, time
import numpy as np
import bare_app
n, rounds = int(sys.argv[1]), int(sys.argv[2])
body = open("body.json", "rb").read()
X = np.asarray(json.loads(body)["dataframe_split"]["data"], dtype=float)
def cpu(fn):
    for _ in range(200):
        fn()
    t = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t) / n / 1000
out = {"predict_proba": statistics.median(cpu(lambda: bare_app.model.predict_proba(X)) for _ in range(rounds))}
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
         "path": "/invocations", "raw_path": b"/invocations", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                     (b"content-length", str(len(body)).encode())],
         "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
async def main():
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(msg):
        pass
    async def one():
        await bare_app.app(dict(scope), receive, send)
    for _ in range(200):
        await one()
    res = []
    for _ in range(rounds):
        t = time.thread_time_ns()
        for _ in range(n):
            await one()
        res.append((time.thread_time_ns() - t) / n / 1000)
    out["asgi"] = statistics.median(res)
import uvloop
uvloop.run(main())
print(json.dumps(out))
"""


def measure_bare(model, body: bytes, n: int, rounds: int) -> dict | None:
    """The bare FastAPI app of bench_inference.py, in its own venv, called in-process through ASGI
    (no uvicorn HTTP, no socket): its user-space CPU per request, and sklearn's predict_proba alone."""
    import subprocess

    python = bi.bare_python()
    if python is None:
        return None
    d = Path(tempfile.mkdtemp(prefix="mlops-bare-"))
    try:
        bi.save_bare_app(model, d)
        (d / "bare" / "body.json").write_bytes(body)
        (d / "bare" / "measure.py").write_text(BARE_MEASURE)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update({"BARE_MODEL": str(d / "bare" / "model.joblib"), "OMP_NUM_THREADS": "1"})
        r = subprocess.run(
            [str(python), "measure.py", str(n), str(rounds)],
            cwd=d / "bare",
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if r.returncode != 0:
            print(r.stderr[-2000:], file=sys.stderr)
            return None
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def breakdown(m: dict[str, float]) -> list[tuple[str, float]]:
    g_all = m["gateway: HTTP server + handle, function answered at once"]
    g_handle = m["gateway: handle (auth + route + forward), function answered at once"]
    auth, route = (
        m["gateway: auth (authorizer cache warm)"],
        m["gateway: route (match + rate limit + dynamic routing)"],
    )
    pool = m["pool client (call id, deadline, HTTP to the worker and back)"]
    fdk_all = m["fdk + handler (fdk's HttpProtocol fed the request)"]
    ctx_handler = m["context + handler (mlops.function + service)"]
    ctx = m["fdk context (context_from_format)"]
    pred, pred_rec = m["predict without record"], m["predict with record"]
    handler = ctx_handler - ctx
    rows = [
        ("gateway HTTP parse + response write (+ request id)", g_all - g_handle),
        ("gateway auth (cache warm)", auth),
        ("gateway route (match, rate limit, dynamic routing)", route),
        ("gateway forward (header transformations, Fn wire, unwrap)", g_handle - auth - route),
        ("pool client (call id, deadline, HTTP request + response parse)", pool),
        ("fdk (HTTP parse, context, runner, response output)", fdk_all - handler),
        ("handler outside predict (mlops.function, Request, router, JSON encode)", handler - pred_rec),
        ("predict (parse + validate + compiled trees + response body)", pred),
        ("prediction record (JSON line to stdout)", pred_rec - pred),
    ]
    rows.append(("sum of the steps", sum(v for _, v in rows)))
    rows.append(
        (
            "(for reference) fdk with a function that returns a fixed response",
            m["fdk alone (a function that returns a fixed response)"],
        )
    )
    rows.append(
        (
            "whole path measured in one piece (check)",
            m["whole path, in memory (gateway + pool + fdk + handler)"],
        )
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="repetitions per step and round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    ap.add_argument(
        "--profile", metavar="STEP", help="cProfile the steps whose name contains STEP (to stderr)"
    )
    ap.add_argument(
        "--hop",
        action="store_true",
        help="also: CPU of one request/response between two processes on one core (unix socket)",
    )
    ap.add_argument("--hop-core", type=int, default=0)
    ap.add_argument(
        "--bare",
        action="store_true",
        help="also: the bare FastAPI app's user-space CPU per request (ASGI in-process, its own venv)",
    )
    ap.add_argument("--hop-server", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hop_server:
        hop_server(args.hop_server)
        return
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-path-"))
    try:
        model, X, y, X_test = bi.train(args.seed)
        project = bi.make_project(tmp / "project", 1)
        key, _v = bi.deploy(project, model, X, y)
        body = bi._bodies(X_test[:1])[0]
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        res = runner(measure(args, project, key, body))
        if args.bare:
            res["bare"] = measure_bare(model, body, args.n, args.rounds)
        if args.hop:
            res["hop"] = runner(measure_hop(args.n, args.rounds, args.hop_core, body))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print("| step | CPU µs per request (median of rounds) |\n|---|---|")
    for name, v in breakdown(res["median_us"]):
        print(f"| {name} | {v:.1f} |")
    if "hop" in res:
        print(
            f"| one extra hop: request + response between two processes on core {args.hop_core} over a unix "
            f"socket, both processes' CPU (trivial server) | {res['hop']['round_trip_us']:.1f} |"
        )
    if res.get("bare"):
        b = res["bare"]
        print(
            f"| bare FastAPI app, in-process through ASGI (no HTTP server): whole request | {b['asgi']:.1f} |"
        )
        print(
            f"| bare FastAPI app: of which scikit-learn predict_proba (one row) | {b['predict_proba']:.1f} |"
        )
    print(
        f"\n{args.rounds} rounds x {args.n} requests per step, this thread's CPU time; load average {res['load']}"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
