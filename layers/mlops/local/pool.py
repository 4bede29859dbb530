"""A pool of real fdk processes for one function, like Fn's hot containers: one request at a time each.

Every worker is ``fdk functions/<name>/func.py handler`` with ``FN_FORMAT=http-stream``
and ``FN_LISTENER=unix:<sock>``, its config as environment variables (as OCI passes
it), its stdout/stderr read line by line (in batches while lines flow) as the function's invoke log. A worker that
dies is restarted; a call past the function's timeout kills the worker (504), as Fn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlops.errors import BadGatewayError, DeadlineError, UnavailableError
from mlops.local.httpwire import Connection, UpstreamClosed
from mlops.local.tasks import TaskSet

LogSink = Callable[[str, str, str], None]  # (function, stream, line)
log = logging.getLogger(__name__)

# Environment passed to functions: nothing of the parent's but what a container would have.
_PASS_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTHONHASHSEED",
    "TMPDIR",
    "COVERAGE_PROCESS_START",
    "FDK_DEBUG",
)
_KEEPALIVE_S = 4.0
# fdk switches to uvloop when it is installed, and uvloop >= 0.22 has no implicit loop for
# fdk's asyncio.get_event_loop(): give it one, exactly as `fdk func.py handler` would run.
_LAUNCH = (
    "import sys, asyncio, fdk; asyncio.set_event_loop(asyncio.new_event_loop()); "
    "from fdk.scripts.fdk import main; sys.exit(main())"
)  # fdk's server closes idle keep-alive connections after 5 s


_LOG_BATCH_S = 0.02  # while a worker writes log lines, read them at most this often
_LOG_LINE_LIMIT = 1 << 22  # longer log lines are skipped


def _log_pipe() -> tuple[int, int]:
    """A pipe for a worker's stdout or stderr: read end non-blocking, 1 MiB buffer where allowed."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    return r, w


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: the worker gets SIGTERM if the runtime dies, so no process is ever left behind."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Worker:
    index: int
    socket_path: str
    process: asyncio.subprocess.Process | None = None
    conn: Connection | None = None
    started_at: float = 0.0
    restarts: int = 0
    calls: int = 0
    readers: list[asyncio.Task] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


@dataclass
class FunctionDef:
    """What the pool needs to run one function."""

    name: str
    func_py: Path
    config: Mapping[str, str]
    timeout_s: float = 30.0
    pool_size: int = 2
    memory_mb: int = 256
    app_name: str = "mlops-local"


class FunctionPool:
    """N fdk processes of one function; ``call`` waits for an idle one."""

    def __init__(
        self, fn: FunctionDef, socket_dir: str, log_sink: LogSink | None = None, start_timeout_s: float = 60.0
    ) -> None:
        self.fn = fn
        self.socket_dir = socket_dir
        self.log_sink = log_sink or (lambda f, s, line: None)
        self.start_timeout_s = start_timeout_s
        self.workers = [
            Worker(i, os.path.join(socket_dir, f"{fn.name[:40]}-{i}.sock")) for i in range(fn.pool_size)
        ]
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._closing = False
        self.fn_id = f"local:fn:{fn.name}"
        self.keepalive_s = _KEEPALIVE_S  # reconnect before the fdk's own 5 s idle timer closes a connection
        self.replays = 0  # calls retried on a fresh connection (replay-safe ones only)
        self._restarts = TaskSet(f"pool {fn.name}")  # restarts in flight, referenced until done

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await asyncio.gather(*(self._spawn(w) for w in self.workers))
        for w in self.workers:
            self._idle.put_nowait(w)

    def _env(self, w: Worker) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        env.update({k: str(v) for k, v in self.fn.config.items()})
        env.update(
            {
                "FN_FORMAT": "http-stream",
                "FN_LISTENER": f"unix:{w.socket_path}",
                "FN_APP_NAME": self.fn.app_name,
                "FN_APP_ID": f"local:app:{self.fn.app_name}",
                "FN_FN_NAME": self.fn.name,
                "FN_FN_ID": self.fn_id,
                "FN_MEMORY": str(self.fn.memory_mb),
                "FN_TYPE": "sync",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        return env

    async def _spawn(self, w: Worker) -> None:
        for p in (
            w.socket_path,
            os.path.join(os.path.dirname(w.socket_path), "phony" + os.path.basename(w.socket_path)),
        ):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        cmd = [sys.executable, "-c", _LAUNCH, str(self.fn.func_py), "handler"]
        out_r, out_w = _log_pipe()
        err_r, err_w = _log_pipe()
        try:
            w.process = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=str(self.fn.func_py.parent),
                env=self._env(w),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                preexec_fn=_set_pdeathsig,
            )
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        w.started_at = time.monotonic()
        w.readers = [
            asyncio.create_task(self._read(out_r, "stdout")),
            asyncio.create_task(self._read(err_r, "stderr")),
        ]
        deadline = time.monotonic() + self.start_timeout_s
        while not os.path.exists(w.socket_path):
            if w.process.returncode is not None or time.monotonic() > deadline:
                code = w.process.returncode
                await self._kill(w)
                raise UnavailableError(
                    f"function {self.fn.name} did not start (exit code {code}); see `mlops local logs {self.fn.name}`",
                    code="function_start_failed",
                )
            await asyncio.sleep(0.01)
        w.conn = Connection(w.socket_path)

    async def _read(self, fd: int, name: str) -> None:
        """The worker's log lines, read in batches: while lines flow, at most every ``_LOG_BATCH_S``.

        A prediction record is written on every request; reading it the moment it is written woke
        the gateway's event loop once more per request, between the request and the response (issue
        19: ~1 of the gateway's ~3 wake-ups per request). Here the reader waits on the pipe only when
        it is idle (no cost at rest), and after a read sleeps ``_LOG_BATCH_S`` so the lines of many
        requests are read in one wake-up. Nothing is lost: the lines wait in the pipe (1 MiB where the
        kernel allows), even if the worker is killed, and are read to EOF.
        """
        loop = asyncio.get_running_loop()
        pending = b""
        try:
            while True:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(fd, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(fd)
                chunks, eof = [], False
                while True:
                    try:
                        chunk = os.read(fd, 1 << 20)
                    except BlockingIOError:
                        break
                    if not chunk:
                        eof = True
                        break
                    chunks.append(chunk)
                *lines, pending = (pending + b"".join(chunks)).split(b"\n")
                if len(pending) > _LOG_LINE_LIMIT:  # a line over the limit: skip it
                    pending = b""
                for line in lines:
                    if len(line) <= _LOG_LINE_LIMIT:
                        self.log_sink(self.fn.name, name, line.decode("utf-8", "replace"))
                if eof:
                    if pending:
                        self.log_sink(self.fn.name, name, pending.decode("utf-8", "replace"))
                    return
                await asyncio.sleep(_LOG_BATCH_S)
        finally:
            os.close(fd)

    async def _kill(self, w: Worker) -> None:
        if w.conn:
            w.conn.close()
            w.conn = None
        p = w.process
        if p is not None and p.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.wait(), 5)
        for t in w.readers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 2)
        w.readers = []

    async def _restart(self, w: Worker) -> None:
        await self._kill(w)
        if self._closing:
            return
        w.restarts += 1
        try:
            await self._spawn(w)
        except Exception as exc:  # keep the gateway up; the next call retries the start
            self.log_sink(self.fn.name, "runtime", f"restart of worker {w.index} failed: {exc}")
            log.warning("function %s: restart of worker %d failed: %s", self.fn.name, w.index, exc)
            await self._kill(w)
        self._idle.put_nowait(w)

    async def stop(self, grace_s: float = 3.0) -> None:
        self._closing = True
        await self._restarts.cancel_all()  # a restart in flight would start a worker after the stop
        procs = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if procs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(proc.wait() for proc in procs)), grace_s)
        for w in self.workers:
            await self._kill(w)
            for p in (
                w.socket_path,
                os.path.join(os.path.dirname(w.socket_path), "phony" + os.path.basename(w.socket_path)),
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)

    # ------------------------------------------------------------------ calls
    async def call(
        self,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        timeout_s: float | None = None,
        replay_safe: bool = False,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One invocation; (fdk status, raw headers, body). Raises 502/503/504 errors.

        ``replay_safe``: the call may be sent twice without harm (an idempotent method, an
        authorizer call). Only then is a call retried when a kept-alive connection turns out
        to have been closed by the worker (issue 13 D); otherwise the caller gets a clean 502.
        Whatever happens, the worker goes back to the pool (or is restarted): a call that
        fails in any way never takes an instance out of service for good.
        """
        if self._closing:
            raise UnavailableError(f"function {self.fn.name} is shutting down", code="function_unavailable")
        timeout = timeout_s or self.fn.timeout_s
        t0 = time.monotonic()
        try:
            w = self._idle.get_nowait()  # fast path: an idle instance, no waiting task
        except asyncio.QueueEmpty:
            w = await self._wait_for_idle(timeout)
        remaining = max(0.001, timeout - (time.monotonic() - t0))
        deadline = datetime.now(UTC) + timedelta(seconds=remaining)
        hdrs = [
            ("Fn-Call-Id", uuid.uuid4().hex),
            ("Fn-Deadline", deadline.isoformat().replace("+00:00", "Z")),
            *headers,
        ]
        returned = ok = False  # returned: the worker was handed to _restart
        try:
            if not w.alive or w.conn is None:
                raise UpstreamClosed("worker is not running", got_bytes=False)
            async with asyncio.timeout(remaining):
                result = await self._send(w, hdrs, body, replay_safe)
            ok = True
        except (UpstreamClosed, ConnectionError, OSError) as exc:  # OSError includes TimeoutError
            returned = True
            raise self._restart_after(w, exc, timeout) from None
        finally:
            if not returned:
                self._release(w, ok)
        w.calls += 1
        return result

    async def _wait_for_idle(self, timeout: float) -> Worker:
        """The slow path of acquiring a worker: wait for one to come back, at most ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                return await self._idle.get()
        except TimeoutError:
            raise DeadlineError(
                f"function {self.fn.name}: no free instance within {timeout:.0f}s",
                code="function_timeout",
            ) from None

    def _restart_after(self, w: Worker, exc: Exception, timeout: float) -> DeadlineError | BadGatewayError:
        """A call failed because of its worker (no answer in time, connection lost): restart the worker
        (it goes back to the pool when it is up) and return the error for the caller."""
        self._restarts.spawn(self._restart(w))
        if isinstance(exc, TimeoutError):  # Fn kills a container past its timeout
            return DeadlineError(
                f"function {self.fn.name} did not answer within {timeout:.0f}s", code="function_timeout"
            )
        return BadGatewayError(
            f"function {self.fn.name} failed: {exc}; it is being restarted", code="function_crashed"
        )

    def _release(self, w: Worker, ok: bool) -> None:
        """Return the worker of a call to the pool: after success, or after a failure that is not the worker's.

        Such a failure (a header that may not be written, a cancelled caller, a bug) leaves the process
        fine, but a request may be half written or its answer still due on this connection, so that
        connection is dropped unless the call completed. Before this, any exception not caught in
        ``call`` leaked the worker: after pool_size such calls every request got 504 (issue 13 D).
        """
        if not ok and w.conn is not None:
            w.conn.close()
        self._idle.put_nowait(w)

    async def _send(self, w: Worker, headers, body, replay_safe: bool = False):
        conn = w.conn
        assert conn is not None
        reused = conn.is_open and conn.requests > 0
        try:
            return await conn.request("POST", "/call", headers, body, max_idle_s=self.keepalive_s)
        except UpstreamClosed as exc:
            # A kept-alive connection closed by the worker with nothing sent back: either it
            # closed an idle connection just as our request went out (nothing ran), or it read
            # the request and died. The two cannot be told apart, so a fresh connection is tried
            # once only for a call that is safe to replay; any other call fails cleanly (502).
            if reused and not exc.got_bytes and w.alive and replay_safe:
                conn.close()
                self.replays += 1
                return await conn.request("POST", "/call", headers, body)
            raise

    def status(self) -> dict:
        return {
            "function": self.fn.name,
            "pool_size": len(self.workers),
            "idle": self._idle.qsize(),
            "workers": [
                {
                    "index": w.index,
                    "pid": w.process.pid if w.process else None,
                    "alive": w.alive,
                    "restarts": w.restarts,
                    "calls": w.calls,
                }
                for w in self.workers
            ],
        }
