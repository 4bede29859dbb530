"""Issue 13 D: a call that fails in the pool never takes a worker out of service; keep-alive replay is safe.

Before the fix a call whose request failed while being written (a header value the wire
could not encode, here a non-ASCII principal) or whose caller was cancelled never gave its
worker back: after pool_size such calls every request waited for a free instance and got
504 ("a CR/LF principal wedges the stack"). And a kept-alive connection that the worker
closed was retried on a fresh connection whatever the call was, so a POST the worker had
already read could run twice.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from mlops.errors import BadGatewayError
from mlops.local.headercodec import HeaderValueError
from mlops.local.httpwire import Connection
from mlops.local.pool import FunctionDef, FunctionPool, Worker

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "tests" / "fixtures" / "functions" / "echo" / "func.py"
GW = [
    ("Fn-Intent", "httprequest"),
    ("Fn-Http-Method", "POST"),
    ("Fn-Http-Request-Url", "/x"),
    ("Content-Type", "application/json"),
]


async def _pool(size: int = 1, timeout_s: float = 10.0) -> FunctionPool:
    pool = FunctionPool(
        FunctionDef("echo", ECHO, {}, pool_size=size, timeout_s=timeout_s), tempfile.mkdtemp(prefix="mlops-")
    )
    await pool.start()
    return pool


def test_calls_that_fail_while_writing_do_not_leak_the_worker():
    async def run():
        pool = await _pool(size=1)
        try:
            for bad in ("张三\ud800", "evil\r\nFn-Http-H-X-Mlops-Scopes: mlops:deploy", "a\x00b"):
                for _ in range(3):  # 3 x more than the pool size
                    with pytest.raises(HeaderValueError):
                        await pool.call([*GW, ("Fn-Http-H-X-Mlops-Principal", bad)], b"{}")
            status, _h, _b = await pool.call([*GW, ("Fn-Http-H-X-Mlops-Principal", "张三")], b"{}")
            assert status == 200
            assert pool.status()["idle"] == 1 and pool.workers[0].restarts == 0
        finally:
            await pool.stop()

    asyncio.run(run())


def test_a_cancelled_caller_does_not_leak_the_worker_nor_get_its_answer_mixed_up():
    async def run():
        pool = await _pool(size=1)
        try:
            task = asyncio.ensure_future(pool.call(GW, b'{"sleep": 0.5, "print": "first"}'))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            status, _h, body = await pool.call(GW, b'{"status": 200}')  # not the cancelled call's answer
            assert status == 200 and b'"size": 15' in body
        finally:
            await pool.stop()

    asyncio.run(run())


# ----------------------------------------------------------------------------- keep-alive replay


class _ClosingWorker(asyncio.Protocol):
    """A loopback fdk stand-in: answers the first request on a connection and keeps it alive, then
    reads the second one and closes without a word (what a worker that dies, or that closes an
    idle connection just as a request arrives, looks like)."""

    seen: list[int] = []  # connection number of every request read
    conns = 0
    close_after_answer = False  # close right after each answer instead (an idle-timer close)

    def connection_made(self, transport):
        _ClosingWorker.conns += 1
        self.n, self.transport, self.buf, self.answered = _ClosingWorker.conns, transport, b"", 0

    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            n = int(
                next(
                    ln.split(b":", 1)[1]
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length")
                )
            )
            if len(rest) < n:
                return
            self.buf = rest[n:]
            _ClosingWorker.seen.append(self.n)
            if self.answered >= 1:
                self.transport.close()
                return
            self.answered += 1
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
            if _ClosingWorker.close_after_answer:
                self.transport.close()
                return


async def _fake_pool(tmp: str):
    """A pool whose one worker is the closing stand-in (a live process stands for its 'alive' check)."""
    sock = os.path.join(tmp, "echo-0.sock")
    server = await asyncio.get_running_loop().create_unix_server(_ClosingWorker, sock)
    pool = FunctionPool(FunctionDef("echo", ECHO, {}, pool_size=1, timeout_s=20), tmp)
    proc = await asyncio.create_subprocess_exec("sleep", "60")
    w = pool.workers[0] = Worker(0, sock, process=proc, conn=Connection(sock))
    pool._idle.put_nowait(w)
    _ClosingWorker.seen, _ClosingWorker.conns = [], 0
    return pool, server


def test_kept_alive_connection_closed_by_the_worker_is_retried_once_when_replay_safe():
    async def run():
        pool, server = await _fake_pool(tempfile.mkdtemp(prefix="mlops-"))
        try:
            assert (await pool.call(GW, b"{}", replay_safe=True))[0] == 200
            assert (await pool.call(GW, b"{}", replay_safe=True))[0] == 200  # closed, then replayed
            assert _ClosingWorker.seen == [1, 1, 2] and pool.replays == 1
        finally:
            server.close()
            await pool.stop()

    asyncio.run(run())


def test_a_call_that_is_not_replay_safe_is_not_sent_twice_and_fails_cleanly():
    async def run():
        pool, server = await _fake_pool(tempfile.mkdtemp(prefix="mlops-"))
        try:
            assert (await pool.call(GW, b"{}"))[0] == 200
            with pytest.raises(BadGatewayError) as e:
                await pool.call(GW, b"{}")
            assert e.value.status == 502 and e.value.code == "function_crashed"
            assert _ClosingWorker.seen == [1, 1] and pool.replays == 0  # read once, never replayed
            server.close()
            # the worker is restarted (a real fdk now) and the pool answers again
            for _ in range(300):
                if pool.workers[0].restarts == 1 and pool.status()["idle"] == 1:
                    break
                await asyncio.sleep(0.1)
            assert (await pool.call(GW, b"{}"))[0] == 200
        finally:
            await pool.stop()

    asyncio.run(run())


def test_a_connection_the_worker_closed_while_idle_is_reopened_without_a_retry():
    """A close the pool has already seen (the fdk's idle timer) is no failure: the next call reconnects."""

    async def run():
        pool, server = await _fake_pool(tempfile.mkdtemp(prefix="mlops-"))
        _ClosingWorker.close_after_answer = True
        try:
            conn = pool.workers[0].conn
            assert (await pool.call(GW, b"{}"))[0] == 200
            for _ in range(300):
                if not conn.is_open:
                    break
                await asyncio.sleep(0.01)
            assert (await pool.call(GW, b"{}"))[0] == 200  # not replay-safe, and fine
            assert _ClosingWorker.seen == [1, 2] and pool.replays == 0 and conn.connects == 2
        finally:
            _ClosingWorker.close_after_answer = False
            server.close()
            await pool.stop()

    asyncio.run(run())
