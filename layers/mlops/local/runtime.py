"""The local runtime of a stack: fdk pools for every function, the gateway, logs, metrics, admin socket.

``LocalRuntime(settings).run()`` is what the ``mlops local up`` daemon executes. It is
assembled from the same pure specs the Pulumi program deploys (``function_specs``,
``deployment_spec``). Extra parts of the cloud's data path (log shipping, drift events,
alarms, notifications) plug in as ``services``: objects with async ``start``/``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlops.blueprint.functions import function_specs
from mlops.blueprint.gateway import deployment_spec, local_function_ids
from mlops.errors import MlopsError, NotFoundError, new_request_id
from mlops.local.fnwire import GatewayResponse
from mlops.local.gateway import Gateway
from mlops.local.headercodec import decode_upstream_value
from mlops.local.limits import ConnectionGuard, HttpLimits
from mlops.local.pool import FunctionDef, FunctionPool
from mlops.local.server import ServerProtocol, serve
from mlops.localfiles import write_atomic
from mlops.settings import StackSettings

STATE_FILE = "runtime.json"
log = logging.getLogger(__name__)
LineHook = Callable[[str, str, str], None]  # (function, stream, line)


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) and make it owner-only (0700), like the secrets file's."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def functions_dir(settings: StackSettings) -> Path:
    return settings.path("functions")


class LogWriter:
    """Function stdout/stderr to ``logs/<fn>.log``, line-buffered in memory, flushed often."""

    def __init__(self, log_dir: Path) -> None:
        self.dir = log_dir
        private_dir(self.dir)
        self._files: dict[str, Any] = {}
        self.hooks: list[LineHook] = []
        self._failed_hooks: set[int] = set()

    def __call__(self, fn: str, stream: str, line: str) -> None:
        f = self._files.get(fn)
        if f is None:
            fd = os.open(self.dir / f"{fn}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)  # function logs carry request details: owner-only (issue 13 F)
            f = self._files[fn] = open(fd, "a", buffering=1 << 16)  # noqa: SIM115
        f.write(f"{time.time():.6f} {stream} {line}\n")
        for hook in self.hooks:
            try:
                hook(fn, stream, line)
            except Exception as exc:  # a broken hook must not stop log capture
                f.write(f"{time.time():.6f} runtime log hook failed: {exc!r}\n")
                if id(hook) not in self._failed_hooks:  # once per hook: a broken hook fails on every line
                    self._failed_hooks.add(id(hook))
                    log.exception("log hook %r failed on a line of %s (logged once)", hook, fn)

    def flush(self) -> None:
        for f in self._files.values():
            with contextlib.suppress(Exception):
                f.flush()

    def close(self) -> None:
        for f in self._files.values():
            with contextlib.suppress(Exception):
                f.close()
        self._files.clear()


class LocalRuntime:
    """Everything ``mlops local up`` runs, in one asyncio loop."""

    def __init__(
        self,
        settings: StackSettings,
        *,
        port: int | None = None,
        functions_root: Path | None = None,
        functions: list[FunctionDef] | None = None,
        spec: dict | None = None,
        http_limits: HttpLimits | None = None,
        limits_clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.state_dir = settings.state_dir
        self.port = settings.local.port if port is None else port
        self.functions_root = functions_root or functions_dir(settings)
        self.specs = function_specs(settings)
        self.defs = (
            functions
            if functions is not None
            else [
                FunctionDef(
                    name=s.name,
                    func_py=self.functions_root / s.source / "func.py",
                    config=s.config,
                    timeout_s=s.timeout_s,
                    pool_size=s.pool_size,
                    memory_mb=s.memory_mb,
                )
                for s in self.specs
            ]
        )
        ids = local_function_ids([d.name for d in self.defs])
        self.spec = spec if spec is not None else deployment_spec(settings, ids)
        self.pools: dict[str, FunctionPool] = {}
        self.socket_dir = ""
        self.logs = LogWriter(self.state_dir / "logs")
        self.invocation_hooks: list[Callable[[str, int, float, float], None]] = []
        self.services: list[Any] = []
        self.gateway: Gateway | None = None
        # the gateway's HTTP limits (OCI API Gateway's by default; see mlops.local.limits)
        self.guard = ConnectionGuard(http_limits, **({"clock": limits_clock} if limits_clock else {}))
        self._admin_guard = ConnectionGuard(HttpLimits())
        self._servers: list[asyncio.base_events.Server] = []
        self.started_at = 0.0
        self.bound_port = 0

    # ------------------------------------------------------------------ invocation path
    async def invoke(self, fn_id: str, headers, body: bytes, *, replay_safe: bool = False):
        name = fn_id.split(":", 2)[-1] if fn_id.startswith("local:fn:") else fn_id
        pool = self.pools.get(name)
        if pool is None:
            raise NotFoundError(f"function {name!r} is not running in this stack", code="function_not_found")
        return await pool.call(headers, body, replay_safe=replay_safe)

    def _on_invocation(self, fn_id: str, status: int, ms: float) -> None:
        name = fn_id.split(":", 2)[-1]
        now = time.time()
        for hook in self.invocation_hooks:
            hook(name, status, ms, now)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        private_dir(self.state_dir)  # logs, metrics, spool, notifications: owner-only (issue 13 F)
        self.socket_dir = tempfile.mkdtemp(prefix="mlops-")  # short: AF_UNIX paths are <= 107 bytes
        missing = [d.func_py for d in self.defs if not d.func_py.is_file()]
        if missing:
            raise NotFoundError(
                f"function code not found: {', '.join(map(str, missing))}", code="function_not_found"
            )
        self.pools = {d.name: FunctionPool(d, self.socket_dir, self.logs) for d in self.defs}
        try:
            await asyncio.gather(*(p.start() for p in self.pools.values()))
            self.gateway = Gateway(self.spec, self.invoke, on_invocation=self._on_invocation)
            server = await serve(self.gateway, self.settings.local.host, self.port, guard=self.guard)
            self._servers.append(server)
            self.bound_port = server.sockets[0].getsockname()[1]
            admin = await asyncio.get_running_loop().create_unix_server(
                lambda: ServerProtocol(_Admin(self), self._admin_guard),
                os.path.join(self.socket_dir, "admin.sock"),
            )
            self._servers.append(admin)
            for svc in self.services:
                await svc.start()
        except BaseException:
            await self.stop()
            raise
        self.started_at = time.time()

    async def stop(self) -> None:
        for svc in reversed(self.services):
            with contextlib.suppress(Exception):
                await svc.stop()
        for s in self._servers:
            s.close()
        self._servers = []
        self.guard.close()
        self._admin_guard.close()
        await asyncio.gather(*(p.stop() for p in self.pools.values()), return_exceptions=True)
        self.logs.flush()
        self.logs.close()
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"http://{self.settings.local.host}:{self.bound_port}"

    def state(self) -> dict[str, Any]:
        return {
            "stack": self.settings.stack,
            "pid": os.getpid(),
            "pgid": os.getpgid(0),
            "url": self.url,
            "port": self.bound_port,
            "admin_socket": os.path.join(self.socket_dir, "admin.sock"),
            "socket_dir": self.socket_dir,
            "state_dir": str(self.state_dir),
            "started_at": self.started_at,
            "functions": sorted(self.pools),
        }

    def status(self) -> dict[str, Any]:
        st = self.state()
        st["pools"] = [p.status() for p in self.pools.values()]
        if self.gateway:
            st["auth_cache"] = {
                "hits": self.gateway.auth_cache.hits,
                "misses": self.gateway.auth_cache.misses,
            }
            st["connections"] = self.guard.status()
        for svc in self.services:  # e.g. log shipping: store outage, buffered bytes, dropped objects
            report = getattr(svc, "status", None)
            if callable(report):
                st[getattr(svc, "status_name", type(svc).__name__)] = report()
        return st

    async def run_forever(self, state_file: Path | None = None) -> None:
        """Start, write the state file, serve until SIGTERM/SIGINT, stop and clean up."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            if state_file:
                write_atomic(state_file, json.dumps(self.state(), indent=2))
            flusher = asyncio.create_task(self._flush_logs(stop))
            await stop.wait()
            flusher.cancel()
        finally:
            await self.stop()
            if state_file:
                with contextlib.suppress(FileNotFoundError):
                    state_file.unlink()

    async def _flush_logs(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            self.logs.flush()


class _Admin:
    """The admin API on a unix socket in the runtime's private directory (never on TCP)."""

    max_body_bytes = 6 * 1024 * 1024

    def __init__(self, rt: LocalRuntime) -> None:
        self.rt = rt

    async def handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes, client_ip: str = ""
    ) -> GatewayResponse:
        path = urlsplit(url).path
        try:
            if method == "GET" and path == "/status":
                return _json(200, self.rt.status())
            if method == "POST" and path.startswith("/invoke/"):
                name = path[len("/invoke/") :]
                if name not in self.rt.pools:
                    raise NotFoundError(
                        f"no function {name!r} in this stack (functions: {', '.join(sorted(self.rt.pools))})",
                        code="function_not_found",
                    )
                fwd = [("Content-Type", headers.get("content-type", "application/json"))]
                if headers.get("x-fn-path"):  # call in gateway mode, as a route would
                    fwd += [
                        ("Fn-Intent", "httprequest"),
                        ("Fn-Http-Request-Url", headers["x-fn-path"]),
                        ("Fn-Http-Method", headers.get("x-fn-method", "POST")),
                    ]
                    fwd += [
                        ("Fn-Http-H-" + k[len("x-fn-h-") :], v)
                        for k, v in headers.items()
                        if k.startswith("x-fn-h-")
                    ]
                t0 = time.perf_counter()
                status, raw, out = await self.rt.pools[name].call(fwd, body)
                self.rt._on_invocation(f"local:fn:{name}", status, (time.perf_counter() - t0) * 1000)
                hdrs = [
                    (k.decode("latin-1"), decode_upstream_value(v))
                    for k, v in raw
                    if k.lower().startswith(b"fn-http-") or k.lower() == b"content-type"
                ]
                return GatewayResponse(status, hdrs, out)
            raise NotFoundError(f"no admin route {method} {path}")
        except MlopsError as exc:
            return _json(exc.status, exc.to_body(new_request_id()))


def _json(status: int, doc: Any) -> GatewayResponse:
    return GatewayResponse(
        status, [("Content-Type", "application/json")], json.dumps(doc, default=str).encode()
    )
