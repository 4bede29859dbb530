"""``mlops local up|down|status|logs`` and ``mlops invoke``: the embedded local runtime from the shell."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import BadRequestError, ConflictError, MlopsError, UnavailableError


def register(sub) -> None:
    p = sub.add_parser("local", help="run the stack on this machine (127.0.0.1 only)")
    lsub = p.add_subparsers(dest="local_command", metavar="ACTION")
    up = lsub.add_parser("up", help="start every function and the gateway in the background")
    up.add_argument("--port", type=int, default=None, help="gateway port (default: from the stack)")
    up.add_argument("--wait", type=float, default=120.0, help="seconds to wait for readiness")
    up.set_defaults(func=cmd_up)
    down = lsub.add_parser("down", help="stop the runtime and every function process")
    down.set_defaults(func=cmd_down)
    st = lsub.add_parser("status", help="what runs, where, and how healthy")
    add_json_flag(st)
    st.set_defaults(func=cmd_status)
    lg = lsub.add_parser("logs", help="a function's invoke log (its stdout/stderr)")
    lg.add_argument("function", nargs="?", help="function name (default: list log files)")
    lg.add_argument("-n", "--lines", type=int, default=50)
    lg.add_argument("-f", "--follow", action="store_true")
    lg.set_defaults(func=cmd_logs)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    inv = sub.add_parser("invoke", help="invoke a function of the running local stack directly")
    inv.add_argument("function")
    inv.add_argument("--data", default="", help="request body (a string, or @file, or - for stdin)")
    inv.add_argument("--path", default=None, help="call in gateway mode with this request URL")
    inv.add_argument("--method", default="POST")
    inv.set_defaults(func=cmd_invoke)


# ---------------------------------------------------------------------------- helpers


def _settings(args):
    from mlops.settings import find_project_dir, load_stack

    return load_stack(args.stack, find_project_dir(args.project_dir))


def _state_path(settings) -> Path:
    from mlops.local.runtime import STATE_FILE

    return settings.state_dir / STATE_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def read_state(settings) -> dict[str, Any] | None:
    path = _state_path(settings)
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(int(state.get("pid", 0))):
        return None
    return state


def admin_request(
    state: dict[str, Any],
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 330.0,
):
    """One request to the runtime's admin unix socket: (status, headers, body)."""

    class _Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(state["admin_socket"])

    conn = _Conn("localhost", timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    except OSError as exc:
        raise UnavailableError(
            f"the local runtime does not answer ({exc}); try `mlops local down` then `mlops local up`",
            code="runtime_unavailable",
        ) from None
    finally:
        conn.close()


def require_state(settings) -> dict[str, Any]:
    state = read_state(settings)
    if state is None:
        raise UnavailableError(
            f"the local runtime of stack {settings.stack!r} is not running; start it with `mlops local up`",
            code="runtime_not_running",
        )
    return state


# ---------------------------------------------------------------------------- commands


def start_runtime(settings, port: int | None = None, wait_s: float = 120.0) -> dict[str, Any]:
    """Start the daemon for ``settings`` and wait until it serves; returns its state."""
    existing = read_state(settings)
    if existing:
        return existing
    from mlops.local.runtime import private_dir

    private_dir(settings.state_dir)
    from mlops.local.setup import ensure_local_secrets

    ensure_local_secrets(settings)
    state_file = _state_path(settings)
    with contextlib.suppress(FileNotFoundError):
        state_file.unlink()
    log_path = settings.state_dir / "runtime.log"
    cmd = [
        sys.executable,
        "-m",
        "mlops.local.daemon",
        "--stack",
        settings.stack,
        "--project-dir",
        str(settings.path(".")),
        "--state-file",
        str(state_file),
    ]
    if port is not None:
        cmd += ["--port", str(port)]
    with open(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(settings.path(".")),
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            msg = next((line for line in reversed(tail) if line.startswith("mlops local:")), None) or (
                tail[-1] if tail else f"exit code {proc.returncode}"
            )
            raise UnavailableError(
                f"the local runtime did not start: {msg.removeprefix('mlops local: ')} (log: {log_path})",
                code="runtime_start_failed",
            )
        if state_file.is_file():
            state = read_state(settings)
            if state:
                return state
        time.sleep(0.05)
    stop_runtime(settings, pid=proc.pid)
    raise UnavailableError(
        f"the local runtime was not ready within {wait_s:.0f}s (log: {log_path})",
        code="runtime_start_timeout",
    )


def stop_runtime(settings, pid: int | None = None, grace_s: float = 15.0) -> bool:
    """Stop the daemon and its whole process group; True if something was running."""
    state = None
    try:
        state = json.loads(_state_path(settings).read_text())
    except (FileNotFoundError, ValueError):
        pass
    pid = pid or (state or {}).get("pid")
    if not pid or not _alive(int(pid)):
        with contextlib.suppress(FileNotFoundError):
            _state_path(settings).unlink()
        return False
    pid = int(pid)
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if pgid is not None and pgid != os.getpgid(0):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)  # anything left of the group
    with contextlib.suppress(FileNotFoundError):
        _state_path(settings).unlink()
    if state and state.get("socket_dir"):
        import shutil

        shutil.rmtree(state["socket_dir"], ignore_errors=True)
    return True


def cmd_up(args) -> int:
    settings = _settings(args)
    state = start_runtime(settings, port=args.port, wait_s=args.wait)
    print(f"local stack {settings.stack!r} is up at {state['url']}  (pid {state['pid']})")
    print(f"  functions: {', '.join(state['functions'])}")
    print(f"  API key:   in {settings.path(settings.local.secrets_file)} (outside git)")
    print("  try:       mlops local status | mlops local logs FUNCTION | mlops local down")
    return 0


def cmd_down(args) -> int:
    settings = _settings(args)
    if stop_runtime(settings):
        print(f"local stack {settings.stack!r} stopped")
    else:
        print(f"local stack {settings.stack!r} was not running")
    return 0


def cmd_status(args) -> int:
    settings = _settings(args)
    state = read_state(settings)
    if state is None:
        if args.json:
            print_json({"running": False, "stack": settings.stack})
        else:
            print(f"local stack {settings.stack!r} is not running")
        return 3
    status, _h, body = admin_request(state, "GET", "/status", timeout=10)
    doc = json.loads(body)
    doc["running"] = True
    if args.json:
        print_json(doc)
        return 0
    print(f"local stack {settings.stack!r} at {doc['url']} (pid {doc['pid']})")
    rows = []
    for p in doc["pools"]:
        rows.append(
            {
                "function": p["function"],
                "workers": f"{sum(w['alive'] for w in p['workers'])}/{p['pool_size']}",
                "idle": p["idle"],
                "calls": sum(w["calls"] for w in p["workers"]),
                "restarts": sum(w["restarts"] for w in p["workers"]),
                "pids": [w["pid"] for w in p["workers"]],
            }
        )
    print(table(rows, ["function", "workers", "idle", "calls", "restarts", "pids"]))
    return 0


def cmd_logs(args) -> int:
    settings = _settings(args)
    log_dir = settings.state_dir / "logs"
    if not args.function:
        files = sorted(log_dir.glob("*.log")) if log_dir.is_dir() else []
        for f in files:
            print(f"{f.stem:32s} {f.stat().st_size:>10d} bytes  {f}")
        if not files:
            print("no logs yet")
        return 0
    from mlops.names import validate_name

    validate_name(args.function, "function")
    path = log_dir / f"{args.function}.log"
    if not path.is_file():
        raise BadRequestError(f"no log for function {args.function!r} in {log_dir}", code="no_log")
    lines = path.read_text(errors="replace").splitlines()[-max(args.lines, 0) :] if args.lines else []
    for line in lines:
        print(line)
    if args.follow:
        with open(path, errors="replace") as f:
            f.seek(0, os.SEEK_END)
            try:
                while True:
                    line = f.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.2)
            except KeyboardInterrupt:
                return 0
    return 0


def cmd_invoke(args) -> int:
    from mlops.names import validate_name

    validate_name(args.function, "function")  # it becomes a URL path: ASCII letters, digits, '.', '_', '-'
    settings = _settings(args)
    state = require_state(settings)
    data = args.data
    if data == "-":
        body = sys.stdin.buffer.read()
    elif data.startswith("@"):
        body = Path(data[1:]).read_bytes()
    else:
        body = data.encode()
    headers = {"Content-Type": "application/json"}
    if args.path:
        headers["X-Fn-Path"] = args.path
        headers["X-Fn-Method"] = args.method.upper()
    status, hdrs, out = admin_request(state, "POST", f"/invoke/{args.function}", body, headers)
    if status >= 400 and status != 502:
        try:
            err = json.loads(out)["error"]
            raise MlopsError(err["message"], code=err["code"])
        except (ValueError, KeyError, TypeError):
            raise ConflictError(out.decode(errors="replace")[:300]) from None
    sys.stdout.write(out.decode(errors="replace"))
    if out and not out.endswith(b"\n"):
        sys.stdout.write("\n")
    fn_status = int(
        hdrs.get("fn-http-status") or hdrs.get("Fn-Http-Status") or (200 if status == 200 else 502)
    )
    if fn_status < 400 and out[:1] == b"{":
        # a direct invoke carries no fn-http-status: our functions' error bodies say it instead
        try:
            if isinstance(json.loads(out).get("error"), dict):
                fn_status = 400
        except (ValueError, AttributeError):
            pass
    return 0 if fn_status < 400 else 1
