"""Issue 19: an idle fdk worker with a kept-alive connection must not spin (fdk 0.1.128 clock bug).

Each test starts a real ``fdk func.py handler`` process on a unix socket (as the local pool and
the Functions platform do), sends one request over an HTTP/1.1 keep-alive connection, keeps the
connection open and reads the worker's own CPU time from /proc: a process's CPU time does not
depend on how loaded the machine is, only on what the process does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlops import fdkclock

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

LAUNCH = (
    "import sys, asyncio, fdk; asyncio.set_event_loop(asyncio.new_event_loop()); "
    "from fdk.scripts.fdk import main; sys.exit(main())"
)

PATCHED = textwrap.dedent("""\
    from mlops.function import fdk_handler
    from mlops.http import Response

    handler = fdk_handler(lambda request: Response(body={"ok": True}))
    """)
# the same function without the project's entry point: fdk as shipped
UNPATCHED = textwrap.dedent("""\
    from fdk import response

    def handler(ctx, data=None):
        return response.Response(ctx, response_data='{"ok": true}', headers={"Content-Type": "application/json"})
    """)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Worker:
    def __init__(self, tmp: Path, source: str) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "func.py").write_text(source)
        self.sock_path = str(tmp / "w.sock")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env.update(FN_FORMAT="http-stream", FN_LISTENER=f"unix:{self.sock_path}", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(tmp / "func.py"), "handler"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not os.path.exists(self.sock_path):
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "fdk worker did not start within 60 s"
            time.sleep(0.02)
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.settimeout(60)
        self.conn.connect(self.sock_path)

    def call_once(self) -> bytes:
        body = b"{}"
        self.conn.sendall(
            b"POST /call HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Fn-Call-Id: 1\r\nFn-Deadline: 2999-01-01T00:00:00Z\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = self.conn.recv(65536)
            assert chunk, "connection closed before the response"
            got += chunk
        head, rest = got.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            rest += self.conn.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"connection: close" not in head.lower()
        return rest

    def close(self) -> None:
        self.conn.close()
        self.proc.kill()
        self.proc.wait(10)


def test_patch_matches_the_installed_fdk():
    """Issue 19: fails when an fdk upgrade changes the code the clock patch relies on: re-check it then."""
    assert fdkclock.mismatch() is None, fdkclock.mismatch()


# fdk.async_http.server.serve's default keep_alive_timeout: the first keep-alive check runs this long
# after a response; fdk as shipped starts spinning there, and a fixed fdk closes the connection.
KEEP_ALIVE_S = 75.0


@pytest.mark.slow
def test_idle_worker_does_not_spin_and_closes_after_keepalive_timeout(tmp_path):
    """Issue 19: after one response on a kept-alive connection, the worker uses < 1% of a core over the
    5+ s after fdk's keep-alive timeout and closes the connection; fdk as shipped spins there instead
    (the control that shows the measurement can fail)."""
    patched = Worker(tmp_path / "patched", PATCHED)
    control = Worker(tmp_path / "control", UNPATCHED) if fdkclock.mismatch() is None else None
    try:
        t_response = time.monotonic()
        assert b'"ok"' in patched.call_once()
        if control is not None:
            control.call_once()
        time.sleep(max(0.0, t_response + KEEP_ALIVE_S - 2.0 - time.monotonic()))
        c0 = {w: _cpu_seconds(w.proc.pid) for w in (patched, control) if w is not None}
        t0 = time.monotonic()
        time.sleep(7.0)
        elapsed = time.monotonic() - t0
        share = {w: (_cpu_seconds(w.proc.pid) - c) / elapsed for w, c in c0.items()}
        assert share[patched] < 0.01, f"idle worker used {share[patched]:.1%} of a core"
        patched.conn.settimeout(60)  # closed at the keep-alive timeout; wait for EOF generously
        assert patched.conn.recv(1) == b"", "the worker sent data on an idle connection"
        if control is not None:
            # the same 1% line the patched worker stays under: a spinning process gets far more than that even
            # when it shares the cores with dozens of others (2 cores at load 35 leave it ~6%)
            assert share[control] > 0.01, (
                f"fdk as shipped used only {share[control]:.1%} of a core: "
                "has the bug been fixed upstream? then drop mlops.fdkclock"
            )
    finally:
        patched.close()
        if control is not None:
            control.close()
