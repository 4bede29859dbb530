"""A real redis-server (Debian's, ``bash .ci/redis``) on a free 127.0.0.1 port, for the online store's tests.

Missing redis-server: the test is skipped, except under ``CI`` where it fails (CI must run it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOW = "redis-server is not installed: run `bash .ci/redis` (Debian's redis-server)"
START_DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(tmp_dir: str) -> Iterator[str]:
    """Start redis-server, wait until it answers PING, yield its URL, stop it."""
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(HOW)
        pytest.skip(HOW)
    for _attempt in range(5):  # a port taken between choosing it and binding it: choose another
        port = _free_port()
        args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        proc = subprocess.Popen(
            [*args, "--dir", tmp_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + START_DEADLINE_S
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if client.ping():
                        break
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
            else:
                if proc.poll() is None:
                    pytest.fail(f"redis-server on port {port} did not answer PING in {START_DEADLINE_S} s")
                continue  # it exited (port taken): try another port
            yield f"redis://127.0.0.1:{port}/0"
            return
        finally:
            client.close()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    pytest.fail("redis-server exited at start on 5 free ports")
