"""Running one build step's shell as a process: its own process group, its output echoed (masked) and
kept as a tail, the whole group killed when its time limit runs out."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, TextIO

from mlops.pipeline.variables import Masker

TAIL_LINES = 30


def execute(
    argv: list[str],
    child_env: dict[str, str],
    limit: float,
    stem: str,
    *,
    cwd: Path,
    masker: Masker,
    out: TextIO,
    kill_grace_s: float,
    popen_kw: dict[str, Any],
) -> tuple[int, bool, list[str]]:
    """Run a step's shell in its own process group, echo its (masked) output; exit code, timed out, tail."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **popen_kw,
    )

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = masker.mask(raw.decode("utf-8", "replace").rstrip("\r\n"))
            tail.append(line)
            out.write(f"    {line}\n")
            out.flush()

    reader = threading.Thread(target=pump, name=f"step-output-{stem}", daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc, kill_grace_s)
    except BaseException:
        kill_group(proc, kill_grace_s)
        raise
    reader.join(timeout=2.0)
    if reader.is_alive():  # leftovers of the step still hold its output open
        kill_group(proc, 0.0)
        reader.join(timeout=2.0)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode, timed_out, list(tail)


def kill_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the step's process group, SIGKILL it after ``grace`` s (and anything of it still left)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM and grace > 0:
                # the shell is gone; make sure nothing else of the group lingers
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            return
        except subprocess.TimeoutExpired:
            continue
