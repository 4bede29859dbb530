"""Benchmark: one-row predictions of a GradientBoostingClassifier through the local gateway vs ``mlflow models serve``.

One scikit-learn ``GradientBoostingClassifier`` (20 features, 100 trees of depth 3,
seeded) is registered, approved and deployed as the stable version of endpoint ``bench``
in a throwaway project, and the very same fitted model is saved as an MLflow model
directory for the peer. Then:

- ours: the serving path of ``mlops local up`` (``LocalRuntime`` of the stack: every
  function as fdk processes, the gateway with the whole deployment spec: authorizer with
  its cache, rate limit, dynamic routing on the cohort, header transformations; function
  stdout captured to the log files). The analytics services that run off the request path
  in the cloud (log shipping -> drift, alarms, metrics store) are not started unless
  ``--full-runtime`` is given;
- peer: ``mlflow models serve -m DIR --env-manager local -w N`` from its OWN venv
  (``.mlops/bench-venvs/mlflow``, created with this interpreter and pip on the first run;
  never a dependency of the project);
- bare: a FastAPI + uvicorn[standard] app (one route: ``await request.json()``,
  ``model.predict_proba`` on the event loop, ``JSONResponse``; no auth, no routing, no access
  log) serving the same fitted model, from its own venv ``.mlops/bench-venvs/bare`` made the same
  way (issue 19's reference: ours should reach >= 1.0x its req/s at c=16).

``--peers mlflow bare`` picks the peers (default both); ``--cpu`` adds the CPU time per request
of every server process (``/proc/<pid>/task/*/schedstat``, split for ours into the gateway,
the inference worker and the other functions) and interleaved run-by-run ratios: on a shared
machine these are steadier than req/s. ``tests/benchmarks/bench_request_path.py`` splits the
CPU of one request into steps.

Both servers get the same core(s) (``--server-cores``, pinned with ``sched_setaffinity``,
inherited by every worker process) and the same number of model-serving processes
(``--workers``: the inference function's fdk pool size, MLflow's uvicorn workers). The
load generator (``mlops.local.httpwire.Connection``: asyncio +
httptools, keep-alive, one request in flight per connection) runs in this process on
``--client-cores``, sends the same one-row ``dataframe_split`` bodies to both, checks that
their predictions agree with the model's, and measures p50/p99 at c=1, req/s at c=1/4/16
and cold start to the first prediction.

    .venv/bin/python tests/benchmarks/bench_inference.py [--rounds 5] [--requests 1000] [--seconds 3]
        [--workers 1] [--server-cores 0] [--client-cores 1] [--cold-rounds 5] [--peers mlflow bare] [--cpu]
        [--no-peer] [--json]

Prints a Markdown table (ours, MLflow, ratio, target) and the method paragraph.
``--breakdown`` (ours only, c=1) splits a request's time into client+gateway, fdk, the
handler and parse+predict; ``--profile DIR`` adds cProfile dumps of the runtime process and
of the inference function's process (its import, i.e. the cold start, separately).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlops.local.httpwire import Connection as KeepAliveConnection  # noqa: E402

PEER_VENV = ROOT / ".mlops" / "bench-venvs" / "mlflow"
BARE_VENV = ROOT / ".mlops" / "bench-venvs" / "bare"
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
ENDPOINT, MODEL, STACK = "bench", "gbc", "bench"
STABLE_FN = f"inference-{ENDPOINT}-stable"
PREDICT_PATH = f"/v1/endpoints/{ENDPOINT}/predict"
TARGET_P50_MS, TARGET_RPS_RATIO, TARGET_COLD_S = 1.5, 6.0, 1.2
TARGET_BARE_RATIO, TARGET_P50_OVER_BARE_MS = 1.0, 0.3  # issue 19: >= the bare app's req/s, p50 within 0.3 ms
N_BODIES = 256  # distinct one-row bodies, cycled, the same sequence for both servers
AGREE_ROWS = 200  # rows whose predictions both servers must agree on
READY_TIMEOUT_S = 180.0  # any server start, bounded

SAVE_MLFLOW_MODEL = r"""
import sys, joblib, numpy as np, pandas as pd, mlflow.sklearn
from mlflow.models import infer_signature
model, X, out, names = joblib.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
# as an MLflow user who trained on a DataFrame has it: the names let sklearn check the columns without a warning
model.feature_names_in_ = np.asarray(names, dtype=object)
df = pd.DataFrame(X[:50], columns=names)
# MLflow's default (skops) format asks to name the tree type trusted: we made the file ourselves
mlflow.sklearn.save_model(model, out, signature=infer_signature(df, model.predict(df)),
                          skops_trusted_types=["sklearn.tree._tree.Tree"])
"""


# The inference function as run with --breakdown/--profile: the real func.py, its handler wrapped to
# record its own wall time (and, with --profile, cProfiles of the import and of the whole process).
DIAG_FUNC = r'''"""Diagnostics wrapper of functions/inference/func.py, generated by tests/benchmarks/bench_inference.py."""
import cProfile, os, runpy, time
from array import array
_OUT, _REAL, _PROFILE = {out!r}, {real!r}, {profile!r}
_prof = cProfile.Profile(time.thread_time) if _PROFILE else None
if _prof:
    _prof.enable()
_real = runpy.run_path(_REAL, run_name="func")["handler"]
if _prof:                 # the import (cold start), then everything the process does: fdk and handler
    _prof.dump_stats(os.path.join(_OUT, f"inference-import-{{os.getpid()}}.prof"))
    _prof = cProfile.Profile(time.thread_time)
    _prof.enable()
_times = array("d")


def handler(ctx, data=None):
    t = time.perf_counter()
    try:
        return _real(ctx, data)
    finally:
        _times.append((time.perf_counter() - t) * 1000)
        if len(_times) % 100 == 0:   # the pool ends workers with SIGTERM: keep the files current
            with open(os.path.join(_OUT, f"handler-ms-{{os.getpid()}}.bin"), "wb") as f:
                _times.tofile(f)
            if _prof:
                _prof.dump_stats(os.path.join(_OUT, f"inference-process-{{os.getpid()}}.prof"))
                _prof.enable()    # dump_stats disabled it
'''


# ---------------------------------------------------------------------------------------------- helpers
def _pin(cores: set[int]) -> Callable[[], None]:
    def pre() -> None:  # runs in the child before exec; every process it starts inherits the mask
        os.sched_setaffinity(0, cores)

    return pre


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _killpg(proc: subprocess.Popen | None, grace_s: float = 10.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its group."""
    if proc is None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):  # stragglers of the group
        os.killpg(proc.pid, signal.SIGKILL)


def _group_affinities(pgid: int) -> dict[int, str]:
    """Cpus_allowed_list of every live process in a process group (to show the pinning held)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.getpgid(int(d.name)) != pgid:
                continue
            for line in (d / "status").read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    out[int(d.name)] = line.split(":", 1)[1].strip()
        except (OSError, ProcessLookupError):
            continue
    return out


def _group_pids(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ProcessLookupError):
                if os.getpgid(int(d.name)) == pgid:
                    out.append(int(d.name))
    return out


def _cpu_ns(pid: int) -> tuple[int, int]:
    """Nanoseconds the process (all its threads) has run on a CPU, and how many times it was put on one
    (wake-ups and preemptions): /proc/<pid>/schedstat's first and third fields cover the main thread
    only, so the threads' are summed."""
    total = slices = 0
    with contextlib.suppress(OSError):
        for t in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                f = (t / "schedstat").read_text().split()
                total += int(f[0])
                slices += int(f[2])
    return total, slices


class CpuMeter:
    """CPU time per request of each labelled process of a server (its process group), from schedstat.

    CPU time a process spends does not depend on how many other processes share the machine, so on a
    loaded machine it is the steadier figure than requests per second.
    """

    def __init__(self, pgid: int, labels: dict[int, str], default: str) -> None:
        self.pgid, self.labels, self.default = pgid, labels, default
        self.pids = _group_pids(pgid)

    def snapshot(self) -> dict[int, tuple[int, int]]:
        return {pid: _cpu_ns(pid) for pid in self.pids}

    def per_request_us(
        self, before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], requests: int
    ) -> dict[str, float]:
        """CPU µs per request by label, their ``total``, and ``wakeups <label>``: times on a CPU per request."""
        out: dict[str, float] = {}
        runs: dict[str, float] = {}
        for pid, (ns, slices) in after.items():
            label = self.labels.get(pid, self.default)
            ns0, slices0 = before.get(pid, (0, 0))
            out[label] = out.get(label, 0.0) + (ns - ns0) / 1000 / max(1, requests)
            runs[f"wakeups {label}"] = runs.get(f"wakeups {label}", 0.0) + (slices - slices0) / max(
                1, requests
            )
        out["total"] = sum(out.values())
        return {**out, **runs}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- the model
def train(seed: int, n: int = 6000):
    """The one model: GradientBoostingClassifier(100 trees, depth 3) on seeded synthetic data; (model, X_train, y, X_test)."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    logits = X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + 0.4 * X[:, 3] * X[:, 4] + rng.normal(scale=0.7, size=n)
    y = (logits > 0).astype(int)
    cut = n * 2 // 3
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=seed).fit(X[:cut], y[:cut])
    return model, X[:cut], y[:cut], X[cut:]


def make_project(tmp: Path, workers: int, diag_dir: Path | None = None, profile: bool = False) -> Path:
    """A throwaway project using this checkout's functions; stack ``bench`` with endpoint ``bench``.

    With ``diag_dir``, ``functions/inference/func.py`` is the diagnostics wrapper of the real one.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    if diag_dir is None:
        os.symlink(ROOT / "functions", tmp / "functions")
    else:
        (tmp / "functions").mkdir()
        for d in (ROOT / "functions").iterdir():
            if d.name != "inference":
                os.symlink(d, tmp / "functions" / d.name)
        (tmp / "functions" / "inference").mkdir()
        (tmp / "functions" / "inference" / "func.py").write_text(
            DIAG_FUNC.format(
                out=str(diag_dir), real=str(ROOT / "functions" / "inference" / "func.py"), profile=profile
            )
        )
    # Defaults everywhere except: the rate limit (the default 1000 req/s per client IP would cap
    # the c=16 run), one process for the functions off the predict path, N for the stable variant.
    (tmp / f"Pulumi.{STACK}.yaml").write_text(
        textwrap.dedent(f"""\
        config:
          mlops:environment: local
          mlops:endpoints:
            - name: {ENDPOINT}
              model: {MODEL}
          mlops:store:
            backend: file
            path: .mlops/store
          mlops:gateway:
            rate_limit:
              requests_per_second: 1000000
              key: TOTAL
          mlops:functions:
            pool_size: 1
          mlops:function_overrides:
            {STABLE_FN}:
              pool_size: {workers}
          mlops:local:
            port: 0
            state_dir: .mlops/state
            secrets_file: .mlops/secrets.json
        """)
    )
    return tmp


def deploy(project: Path, model, X, y) -> tuple[str, int]:
    """Register, approve and deploy ``model`` as stable of ``bench``; returns (dev API key, version)."""
    from mlops.local.assemble import open_stack_store
    from mlops.local.setup import local_api_key
    from mlops.registry import Registry
    from mlops.settings import load_stack

    settings = load_stack(STACK, project)
    key = local_api_key(settings)
    reg = Registry(open_stack_store(settings), actor="bench")
    v = reg.register_version(
        MODEL,
        model,
        X,
        y,
        feature_names=FEATURES,
        params={"n_estimators": 100, "max_depth": 3},
        metrics={"train_accuracy": float((model.predict(X) == y).mean())},
    )["version"]
    reg.request_approval(MODEL, v, comment="benchmark")
    reg.with_actor("approver").decide_approval(MODEL, v, "approve", comment="benchmark")
    reg.deployments().set_stable(ENDPOINT, MODEL, v, reason="benchmark")
    return key, int(v)


# ---------------------------------------------------------------------------------------------- the peer
def peer_python() -> Path | None:
    """MLflow's own venv (made on first use); None, with the reason on stderr, if it cannot be made."""
    import sklearn

    python = PEER_VENV / "bin" / "python"
    probe = [
        str(python),
        "-c",
        f"import mlflow, pandas, joblib, sklearn; assert sklearn.__version__ == "
        f"{sklearn.__version__!r}, sklearn.__version__",
    ]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=300).returncode == 0:
        return python
    spec = ["mlflow", f"scikit-learn=={sklearn.__version__}", "joblib", "pandas"]
    _log(
        f"creating {PEER_VENV.relative_to(ROOT)} and installing {' '.join(spec)} (first run only; minutes)..."
    )
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *spec],
            check=True,
            timeout=1800,
        )
        subprocess.run(probe, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        print(
            f"\nMLflow could not be installed into its own venv ({exc}); printing our figures only.\n",
            file=sys.stderr,
            flush=True,
        )
        return None
    return python


def peer_versions(python: Path) -> str:
    code = (
        "import mlflow, uvicorn, pandas, sklearn; "
        "print(f'mlflow {mlflow.__version__}, uvicorn {uvicorn.__version__}, pandas {pandas.__version__}, "
        "scikit-learn {sklearn.__version__}')"
    )
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300)
    return r.stdout.strip() or "unknown versions"


def peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{PEER_VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"  # it runs `uvicorn` by name
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "OMP_NUM_THREADS": "1"})
    return env


def save_peer_model(python: Path, model, X, tmp: Path) -> Path:
    import joblib
    import numpy as np

    joblib.dump(model, tmp / "model.joblib")
    np.save(tmp / "X.npy", X)
    out = tmp / "mlflow-model"
    r = subprocess.run(
        [
            str(python),
            "-c",
            SAVE_MLFLOW_MODEL,
            str(tmp / "model.joblib"),
            str(tmp / "X.npy"),
            str(out),
            ",".join(FEATURES),
        ],
        env=peer_env(),
        timeout=600,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{r.stderr[-3000:]}")
    return out


def start_peer(python: Path, model_dir: Path, port: int, workers: int, cores: set[int]) -> subprocess.Popen:
    cmd = [
        str(python.parent / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
        "--env-manager",
        "local",
    ]
    return subprocess.Popen(
        cmd,
        env=peer_env(),
        cwd=str(model_dir.parent),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_pin(cores),
        start_new_session=True,
    )


# ---------------------------------------------------------------------------------------------- the bare app
# A bare FastAPI + uvicorn app serving the same fitted model: model.predict_proba on the event loop,
# no auth, no routing, no logs (access log off): the floor a serving stack is compared with (issue 19).
BARE_APP = r"""
import os, joblib, numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

model = joblib.load(os.environ["BARE_MODEL"])
classes = model.classes_.tolist()
app = FastAPI()


@app.post("/invocations")
async def invocations(request: Request):
    body = await request.json()
    X = np.asarray(body["dataframe_split"]["data"], dtype=float)
    proba = model.predict_proba(X)
    return JSONResponse({"predictions": [classes[i] for i in proba.argmax(axis=1)],
                         "probabilities": proba.tolist()})
"""


def bare_python() -> Path | None:
    """The bare app's own venv (FastAPI, uvicorn[standard], this scikit-learn; made on first use)."""
    import sklearn

    python = BARE_VENV / "bin" / "python"
    probe = [
        str(python),
        "-c",
        f"import fastapi, uvicorn, uvloop, httptools, joblib, sklearn; "
        f"assert sklearn.__version__ == {sklearn.__version__!r}, sklearn.__version__",
    ]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=300).returncode == 0:
        return python
    spec = ["fastapi", "uvicorn[standard]", f"scikit-learn=={sklearn.__version__}", "joblib"]
    _log(
        f"creating {BARE_VENV.relative_to(ROOT)} and installing {' '.join(spec)} (first run only; minutes)..."
    )
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BARE_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *spec],
            check=True,
            timeout=1800,
        )
        subprocess.run(probe, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        print(
            f"\nThe bare FastAPI app could not be installed into its own venv ({exc}); skipping it.\n",
            file=sys.stderr,
            flush=True,
        )
        return None
    return python


def bare_versions(python: Path) -> str:
    code = (
        "import fastapi, uvicorn, uvloop, httptools, sklearn; "
        "print(f'fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__} (uvloop {uvloop.__version__}, "
        "httptools {httptools.__version__}), scikit-learn {sklearn.__version__}')"
    )
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300)
    return r.stdout.strip() or "unknown versions"


def save_bare_app(model, tmp: Path) -> Path:
    import joblib

    d = tmp / "bare"
    d.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, d / "model.joblib")
    (d / "bare_app.py").write_text(BARE_APP)
    return d


def start_bare(python: Path, app_dir: Path, port: int, workers: int, cores: set[int]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"BARE_MODEL": str(app_dir / "model.joblib"), "OMP_NUM_THREADS": "1"})
    cmd = [
        str(python),
        "-m",
        "uvicorn",
        "bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ] + (["--workers", str(workers)] if workers > 1 else [])
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=str(app_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_pin(cores),
        start_new_session=True,
    )


# ---------------------------------------------------------------------------------------------- our server
def serve_ours(project: Path, full: bool, diag_dir: Path | None = None, profile: bool = False) -> None:
    """``--serve-ours``: run the stack's runtime until stdin closes; print {"port": ...} when ready.

    With ``diag_dir``: the gateway's time per call of the stable inference function (its pool's
    round trip, fdk included) goes to ``pool-ms.bin``, and with ``profile`` the whole runtime
    process runs under cProfile (``gateway.prof``).
    """
    from mlops.local.assemble import build_runtime
    from mlops.local.runtime import LocalRuntime
    from mlops.settings import load_stack

    settings = load_stack(STACK, project)
    rt = build_runtime(settings, port=0) if full else LocalRuntime(settings, port=0)
    from array import array

    pool_ms = array("d")
    if diag_dir is not None:
        rt.invocation_hooks.append(
            lambda name, status, ms, ts: pool_ms.append(ms) if name == STABLE_FN else None
        )

    async def main() -> None:
        await rt.start()
        try:
            print(
                json.dumps(
                    {
                        "port": rt.bound_port,
                        "workers": {
                            n: [w.process.pid for w in p.workers if w.process] for n, p in rt.pools.items()
                        },
                    }
                ),
                flush=True,
            )
            loop = asyncio.get_running_loop()
            reader = loop.run_in_executor(None, sys.stdin.read)
            while not reader.done():  # flush the captured function logs as run_forever does
                await asyncio.wait([reader], timeout=0.5)
                rt.logs.flush()
        finally:
            await rt.stop()

    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile(
            time.thread_time
        )  # CPU, not wall time: a write that wakes the worker is not "slow"
        prof.enable()
    try:
        runner(main())
    finally:
        if prof is not None and diag_dir is not None:
            prof.disable()
            prof.dump_stats(str(diag_dir / "gateway.prof"))
        if diag_dir is not None:
            with open(diag_dir / "pool-ms.bin", "wb") as f:
                pool_ms.tofile(f)


def start_ours(
    project: Path, cores: set[int], full: bool, diag_dir: Path | None = None, profile: bool = False
) -> tuple[subprocess.Popen, dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-ours", str(project)]
    if full:
        cmd.append("--full-runtime")
    if diag_dir is not None:
        cmd += ["--diag-dir", str(diag_dir)] + (["--profile", str(diag_dir)] if profile else [])
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_pin(cores),
        start_new_session=True,
    )
    line = _readline_bounded(proc, READY_TIMEOUT_S)
    if not line:
        _killpg(proc)
        raise RuntimeError(f"our runtime did not start (exit code {proc.poll()}); see its stderr above")
    return proc, json.loads(line)


def _readline_bounded(proc: subprocess.Popen, timeout_s: float) -> str:
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout_s):
            return ""
        return proc.stdout.readline()
    finally:
        sel.close()


def stop_ours(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    with contextlib.suppress(Exception):
        assert proc.stdin is not None
        proc.stdin.close()  # the runtime stops its pools and exits
        proc.wait(30)
    _killpg(proc)


# ---------------------------------------------------------------------------------------------- load generator
class Target:
    """One server as the load generator sees it: where, which path, which headers."""

    def __init__(self, name: str, port: int, path: str, headers: list[tuple[str, str]]) -> None:
        self.name, self.port, self.path, self.headers = name, port, path, headers
        self.conns: list[KeepAliveConnection] = []
        self.cpu: CpuMeter | None = None

    def caller(self, bodies: list[bytes]) -> Callable[[], Awaitable[bytes]]:
        """A call on its own keep-alive connection, cycling through ``bodies``."""
        conn = KeepAliveConnection(("127.0.0.1", self.port))
        self.conns.append(conn)
        i = 0

        async def call() -> bytes:
            nonlocal i
            body = bodies[i % len(bodies)]
            i += 1
            status, _h, out = await conn.request("POST", self.path, self.headers, body)
            if status != 200:
                raise RuntimeError(f"{self.name}: HTTP {status}: {out[:300]!r}")
            return out

        return call


async def latency(call: Callable[[], Awaitable[bytes]], n: int, max_s: float = 120.0) -> list[float]:
    out: list[float] = []
    stop_at = time.perf_counter() + max_s
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
        if t0 > stop_at:
            break
    return out


async def throughput(
    target: Target, bodies: list[bytes], c: int, seconds: float, max_requests: int = 500_000
) -> float:
    calls = [target.caller(bodies[k::c] or bodies) for k in range(c)]
    for call in calls:  # open the connections before the clock starts
        await call()
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(call) -> None:
        nonlocal done
        while time.perf_counter() < stop_at and done < max_requests:
            await call()
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(cl) for cl in calls))
    return done / (time.perf_counter() - t0), done


async def wait_ready(
    target: Target, body: bytes, timeout_s: float, proc: subprocess.Popen | None = None, poll_s: float = 0.01
) -> float:
    """Seconds until the first 200 prediction (connection refused / errors are retried)."""
    from mlops.local.httpwire import Connection

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited with code {proc.returncode} before answering")
        conn = Connection(("127.0.0.1", target.port))
        try:
            status, _h, _b = await asyncio.wait_for(
                conn.request("POST", target.path, target.headers, body), 30
            )
            if status == 200:
                return time.perf_counter() - t0
        except (TimeoutError, OSError):
            pass
        finally:
            conn.close()
        await asyncio.sleep(poll_s)
    raise RuntimeError(f"{target.name} gave no prediction within {timeout_s:.0f}s")


# ---------------------------------------------------------------------------------------------- cold starts
async def cold_start_ours(project: Path, body: bytes, rounds: int, cores: set[int]) -> list[float]:
    """Seconds from spawning one inference fdk process to its first successful prediction."""
    from mlops.blueprint.functions import function_spec
    from mlops.local.pool import FunctionDef, FunctionPool
    from mlops.settings import load_stack

    settings = load_stack(STACK, project)
    spec = function_spec(settings, STABLE_FN)
    fdef = FunctionDef(STABLE_FN, project / "functions" / spec.source / "func.py", spec.config, pool_size=1)
    before = os.sched_getaffinity(0)
    out = []
    try:
        os.sched_setaffinity(0, cores)  # the fdk process inherits the server cores
        for _ in range(rounds):
            sock_dir = tempfile.mkdtemp(prefix="mlops-cold-")
            pool = FunctionPool(fdef, sock_dir, start_timeout_s=READY_TIMEOUT_S)
            try:
                t0 = time.perf_counter()
                await pool.start()
                for _attempt in range(100):
                    status, _h, resp = await pool.call([("Content-Type", "application/json")], body)
                    if status == 200:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise RuntimeError(f"cold start: no 200 from the inference function: {resp[:300]!r}")
                out.append(time.perf_counter() - t0)
            finally:
                await pool.stop()
                shutil.rmtree(sock_dir, ignore_errors=True)
    finally:
        os.sched_setaffinity(0, before)
    return out


async def cold_start_peer(
    python: Path, model_dir: Path, body: bytes, rounds: int, workers: int, cores: set[int]
) -> list[float]:
    out = []
    for _ in range(rounds):
        port = _free_port()
        t0 = time.perf_counter()
        proc = start_peer(python, model_dir, port, workers, cores)
        try:
            await wait_ready(
                Target("mlflow", port, "/invocations", [("Content-Type", "application/json")]),
                body,
                READY_TIMEOUT_S,
                proc,
            )
            out.append(time.perf_counter() - t0)
        finally:
            _killpg(proc)
    return out


# ---------------------------------------------------------------------------------------------- the run
def _bodies(X) -> list[bytes]:
    return [
        json.dumps({"dataframe_split": {"columns": FEATURES, "data": [X[i].tolist()]}}).encode()
        for i in range(len(X))
    ]


async def measure(
    targets: list[Target], bodies: list[bytes], agree_bodies: list[bytes], expected: list[int], args
) -> dict:
    res: dict = {t.name: {"p50": [], "p99": [], "rps": {}} for t in targets}
    # agreement first: every server must give the model's own prediction on the same rows
    agree = {}
    for t in targets:
        call = t.caller(agree_bodies)
        got = [json.loads(await call())["predictions"][0] for _ in agree_bodies]
        agree[t.name] = sum(int(g == e) for g, e in zip(got, expected, strict=True))
    res["agreement"] = {"rows": len(expected), **agree}
    for t in targets:  # warm up (auth cache, imports, JITs)
        await latency(t.caller(bodies), args.warmup)

    def cpu_add(t: Target, phase: str, before, requests: int) -> None:
        if t.cpu is not None:
            res[t.name].setdefault("cpu_runs", {}).setdefault(phase, []).append(
                t.cpu.per_request_us(before, t.cpu.snapshot(), requests)
            )

    for _ in range(args.rounds):  # interleave the servers round by round
        for t in targets:
            before = t.cpu.snapshot() if t.cpu else None
            lat = await latency(t.caller(bodies), args.requests)
            cpu_add(t, "c=1 latency", before, len(lat))
            res[t.name]["p50"].append(pct(lat, 0.5))
            res[t.name]["p99"].append(pct(lat, 0.99))
    for c in (1, 4, 16):
        runs: dict[str, list[float]] = {t.name: [] for t in targets}
        for _ in range(args.rps_rounds):
            for t in targets:
                before = t.cpu.snapshot() if t.cpu else None
                rps, n = await throughput(t, bodies, c, args.seconds)
                cpu_add(t, f"c={c}", before, n + c)  # + the c calls that open the connections
                runs[t.name].append(rps)
        for t in targets:
            res[t.name]["rps"][c] = statistics.median(runs[t.name])
            res[t.name].setdefault("rps_runs", {})[c] = runs[t.name]
    for t in targets:  # median per process label and phase
        for phase, rs in res[t.name].get("cpu_runs", {}).items():
            res[t.name].setdefault("cpu_us", {})[phase] = {
                k: statistics.median(r.get(k, 0.0) for r in rs) for k in rs[0]
            }
    return res


async def run(args) -> dict:
    import numpy as np
    import sklearn

    server_cores, client_cores = set(args.server_cores), set(args.client_cores)
    info: dict = {
        "load_start": loadavg(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "server_cores": sorted(server_cores),
        "client_cores": sorted(client_cores),
        "workers": args.workers,
        "full_runtime": args.full_runtime,
        "peers": args.peers,
    }
    python = peer_python() if "mlflow" in args.peers else None
    bare_py = bare_python() if "bare" in args.peers else None
    info["peer"] = peer_versions(python) if python else None
    info["bare"] = bare_versions(bare_py) if bare_py else None
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-inf-"))
    ours_proc = peer_proc = bare_proc = None
    try:
        _log("training the model and deploying it")
        model, X, y, X_test = train(args.seed)
        project = make_project(tmp / "project", args.workers)
        key, version = deploy(project, model, X, y)
        info["version"] = version
        model_dir = save_peer_model(python, model, X, tmp) if python else None
        bare_dir = save_bare_app(model, tmp) if bare_py else None
        bodies = _bodies(X_test[:N_BODIES])
        agree_rows = X_test[N_BODIES : N_BODIES + AGREE_ROWS]
        expected = [int(v) for v in model.predict(agree_rows)]
        info["positives_in_agree_rows"] = int(np.sum(expected))

        res_cold: dict = {}
        if args.cold_rounds:
            _log(f"cold starts: ours x{args.cold_rounds}")
            res_cold["ours"] = await cold_start_ours(project, bodies[0], args.cold_rounds, server_cores)
        if python and args.peer_cold_rounds:
            _log(f"cold starts: mlflow x{args.peer_cold_rounds}")
            res_cold["mlflow"] = await cold_start_peer(
                python, model_dir, bodies[0], args.peer_cold_rounds, args.workers, server_cores
            )

        _log("starting the servers")
        ours_proc, ours = start_ours(project, server_cores, args.full_runtime)
        targets = [
            Target(
                "ours",
                ours["port"],
                PREDICT_PATH,
                [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")],
            )
        ]
        procs = [ours_proc]
        if python:
            port = _free_port()
            peer_proc = start_peer(python, model_dir, port, args.workers, server_cores)
            targets.append(Target("mlflow", port, "/invocations", [("Content-Type", "application/json")]))
            procs.append(peer_proc)
        if bare_py:
            port = _free_port()
            bare_proc = start_bare(bare_py, bare_dir, port, args.workers, server_cores)
            targets.append(Target("bare", port, "/invocations", [("Content-Type", "application/json")]))
            procs.append(bare_proc)
        os.sched_setaffinity(0, client_cores)
        for t, proc in zip(targets, procs, strict=True):
            await wait_ready(t, bodies[0], READY_TIMEOUT_S, proc)
        info["ours_processes"] = len(_group_affinities(ours_proc.pid))
        info["affinity"] = {
            t.name: sorted(set(_group_affinities(p.pid).values()))
            for t, p in zip(targets, procs, strict=True)
        }
        info["ours_inference_pids"] = ours["workers"].get(STABLE_FN)
        if args.cpu:
            labels = {ours_proc.pid: "gateway"}
            labels.update({pid: "inference worker" for pid in ours["workers"].get(STABLE_FN, [])})
            for t, p in zip(targets, procs, strict=True):
                t.cpu = (
                    CpuMeter(p.pid, labels, "other functions")
                    if t.name == "ours"
                    else CpuMeter(p.pid, {}, "server")
                )
        _log(f"measuring (load average {loadavg()})")
        res = await measure(targets, bodies, _bodies(agree_rows), expected, args)
        res["cold"] = res_cold
        info["connections"] = {
            t.name: {
                "callers": len(t.conns),
                "opened": sum(c.connects for c in t.conns),
                "requests": sum(c.requests for c in t.conns),
            }
            for t in targets
        }
        info["load_end"] = loadavg()
        res["info"] = info
        return res
    finally:
        stop_ours(ours_proc)
        _killpg(peer_proc)
        _killpg(bare_proc)
        shutil.rmtree(tmp, ignore_errors=True)


async def run_breakdown(args) -> dict:
    """Ours only, c=1: where a request's time goes (client, gateway, fdk, handler, parse+predict)."""
    from array import array

    keep = Path(args.profile).resolve() if args.profile else None
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-inf-"))
    diag = keep or tmp / "diag"
    diag.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        model, X, y, X_test = train(args.seed)
        project = make_project(tmp / "project", args.workers, diag, profile=keep is not None)
        key, _v = deploy(project, model, X, y)
        bodies = _bodies(X_test[:N_BODIES])
        proc, ours = start_ours(project, set(args.server_cores), args.full_runtime, diag, keep is not None)
        os.sched_setaffinity(0, set(args.client_cores))
        t = Target(
            "ours",
            ours["port"],
            PREDICT_PATH,
            [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")],
        )
        await wait_ready(t, bodies[0], READY_TIMEOUT_S, proc)
        await latency(t.caller(bodies), args.warmup)
        client = []
        for _ in range(args.rounds):
            client += await latency(t.caller(bodies), args.requests)
        stop_ours(proc)
        proc = None

        def floats(path: Path) -> list[float]:
            a = array("d")
            with contextlib.suppress(OSError):
                a.frombytes(path.read_bytes())
            return list(a)

        pool = floats(diag / "pool-ms.bin")
        handler = [v for f in diag.glob("handler-ms-*.bin") for v in floats(f)]
        log = project / ".mlops" / "state" / STACK / "logs" / f"{STABLE_FN}.log"
        predict = []
        for line in log.read_text().splitlines():
            _ts, _, rest = line.partition(" ")
            stream, _, payload = rest.partition(" ")
            if stream == "stdout" and '"kind":"prediction"' in payload:
                predict.append(json.loads(payload)["latency_ms"])
        med = {
            k: statistics.median(v) if v else float("nan")
            for k, v in (("client", client), ("pool", pool), ("handler", handler), ("predict", predict))
        }
        out = {
            "median_ms": med,
            "n": {"client": len(client), "pool": len(pool), "handler": len(handler), "predict": len(predict)},
            "load": loadavg(),
        }
        if keep is not None:
            import pstats

            for name in ["gateway.prof", *sorted(p.name for p in diag.glob("inference-*.prof"))]:
                buf = __import__("io").StringIO()
                pstats.Stats(str(diag / name), stream=buf).sort_stats("tottime").print_stats(25)
                out.setdefault("profiles", {})[name] = buf.getvalue()
        return out
    finally:
        stop_ours(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def breakdown_report(res: dict) -> str:
    m = res["median_ms"]
    rows = [
        ("client round trip through the gateway (c=1)", m["client"]),
        ("  the gateway's call of the inference function (fdk pool round trip)", m["pool"]),
        ("    the handler inside the function (mlops code)", m["handler"]),
        ("      parse + validate + predict_proba (the record's latency_ms)", m["predict"]),
        ("gateway + client + TCP (client - pool call)", m["client"] - m["pool"]),
        ("fdk + unix socket (pool call - handler)", m["pool"] - m["handler"]),
        ("handler outside predict (routing, ids, response, prediction record)", m["handler"] - m["predict"]),
    ]
    lines = ["| section | median ms |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in rows]
    text = "\n".join(lines) + f"\n\nsamples: {res['n']}; load average {res['load']}"
    for name, prof in (res.get("profiles") or {}).items():
        text += f"\n\n### {name}\n\n```\n{prof.strip()}\n```"
    return text


def _workers_note(info: dict) -> str:
    if info["workers"] == 1:
        return (
            "One model process each, as the servers get one core (MLflow with `-w 2` or more serves from a "
            "socket uvicorn creates with protocol 0, for which asyncio leaves Nagle's algorithm on: on "
            "keep-alive connections its p50 then rises to about 56 ms from delayed ACKs, a comparison we do "
            "not want to win). "
        )
    return (
        f"{info['workers']} model processes each; note that MLflow with `-w` >= 2 leaves Nagle's algorithm on "
        f"(uvicorn's shared socket has protocol 0, so asyncio skips TCP_NODELAY): its keep-alive latency "
        f"then includes delayed-ACK stalls. "
    )


def _conn_txt(info: dict) -> str:
    return "; ".join(
        f"{k}: {v['requests']} requests on {v['opened']} connections"
        for k, v in info.get("connections", {}).items()
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------------------------------------- report
def report(res: dict, args) -> str:
    info = res["info"]
    names = [n for n in ("ours", "mlflow", "bare") if n in res]
    head = {"ours": "ours (local gateway)", "mlflow": "`mlflow models serve`", "bare": "bare FastAPI"}
    med = {k: {q: statistics.median(res[k][q]) for q in ("p50", "p99")} for k in names}
    cold = {k: statistics.median(v) for k, v in res["cold"].items() if v}
    peers = [n for n in names if n != "ours"]

    def cell(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    def row(label: str, vals: dict[str, float | None], fmt: str, target: str, ok: bool | None) -> str:
        ours = vals["ours"]
        ratios = [f"{ours / vals[p]:.2f}x" if ours is not None and vals.get(p) else "n/a" for p in peers]
        met = "" if ok is None else ("yes" if ok else "**no**")
        return (
            "| " + " | ".join([label, *(cell(vals.get(n), fmt) for n in names), *ratios, target, met]) + " |"
        )

    lines = [
        "| metric | "
        + " | ".join(head[n] for n in names)
        + "".join(f" | ours / {head[p]}" for p in peers)
        + " | target | met |",
        "|---" * (3 + len(names) + len(peers)) + "|",
    ]
    p50 = {n: med[n]["p50"] for n in names}
    tgt = f"<= {TARGET_P50_MS} ms" + (f"; <= bare + {TARGET_P50_OVER_BARE_MS} ms" if "bare" in names else "")
    ok = p50["ours"] <= TARGET_P50_MS and (
        "bare" not in names or p50["ours"] <= p50["bare"] + TARGET_P50_OVER_BARE_MS
    )
    lines.append(row("p50 latency, c=1 (ms)", p50, ".3f", tgt, ok))
    lines.append(row("p99 latency, c=1 (ms)", {n: med[n]["p99"] for n in names}, ".3f", "", None))
    for c in (1, 4, 16):
        vals = {n: res[n]["rps"][c] for n in names}
        tgt, ok = "", None
        if c == 16:
            parts, oks = [], []
            if "mlflow" in names:
                parts.append(f">= {TARGET_RPS_RATIO:g}x MLflow")
                oks.append(vals["ours"] >= TARGET_RPS_RATIO * vals["mlflow"])
            if "bare" in names:
                parts.append(f">= {TARGET_BARE_RATIO:g}x bare")
                oks.append(vals["ours"] >= TARGET_BARE_RATIO * vals["bare"])
            tgt, ok = "; ".join(parts), (all(oks) if oks else None)
        lines.append(row(f"throughput, c={c} (req/s)", vals, ".0f", tgt, ok))
    if any("cpu_us" in res[n] for n in names):
        for phase in ("c=1 latency", "c=16"):
            vals = {n: res[n].get("cpu_us", {}).get(phase, {}).get("total") for n in names}
            lines.append(row(f"CPU per request, {phase} (µs, all processes)", vals, ".0f", "", None))
    if cold:
        lines.append(
            row(
                "cold start to first prediction (s)",
                {n: cold.get(n) for n in names},
                ".3f",
                f"<= {TARGET_COLD_S} s",
                cold["ours"] <= TARGET_COLD_S if "ours" in cold else None,
            )
        )
    cpu_lines = []
    for n in names:
        for phase, d in res[n].get("cpu_us", {}).items():
            parts = ", ".join(
                f"{k} {v:.1f}" if k.startswith("wakeups") else f"{k} {v:.0f}"
                for k, v in d.items()
                if k != "total"
            )
            cpu_lines.append(f"- {n}, {phase}: {d['total']:.0f} µs ({parts})")
    for p in peers:  # interleaved runs: the ratio of each pair of neighbouring runs, then the median
        for phase, runs in res["ours"].get("cpu_runs", {}).items():
            theirs = res[p].get("cpu_runs", {}).get(phase)
            if theirs:
                r = sorted(a["total"] / b["total"] for a, b in zip(runs, theirs, strict=False) if b["total"])
                if r:
                    cpu_lines.append(
                        f"- ours / {p} CPU per request, {phase}: median {statistics.median(r):.2f}x "
                        f"(runs {', '.join(f'{x:.2f}' for x in r)})"
                    )
    for c in (1, 4, 16):  # the same for req/s
        for p in peers:
            a, b = res["ours"]["rps_runs"][c], res[p]["rps_runs"][c]
            r = sorted(x / y for x, y in zip(a, b, strict=False) if y)
            if r:
                cpu_lines.append(
                    f"- ours / {p} req/s at c={c}, run by run: median {statistics.median(r):.2f}x "
                    f"(runs {', '.join(f'{x:.2f}' for x in r)})"
                )
    agree = res["agreement"]
    agree_txt = ", ".join(f"{k} {v}/{agree['rows']}" for k, v in agree.items() if k != "rows")
    ours_desc = (
        "the whole `mlops local up` runtime (with log shipping, drift events, alarms, metrics)"
        if info["full_runtime"]
        else "the local runtime's serving path (`LocalRuntime` of the stack: gateway with authorizer "
        "(cache warm), rate limit, dynamic routing and header transformations, all functions as fdk "
        "processes, function stdout captured to log files; log shipping/drift/alarm services off)"
    )
    w = info["workers"]
    procs = "1 fdk process" if w == 1 else f"{w} fdk processes"
    cores_s, cores_c = ",".join(map(str, info["server_cores"])), ",".join(map(str, info["client_cores"]))
    parts = [
        f"**Method.** {info['cpu']}, {info['cores']} cores shared with other work (load average "
        f"{info['load_start']} at the start, {info['load_end']} at the end), Python {info['python']}, "
        f"scikit-learn {info['sklearn']}.",
        f"One `GradientBoostingClassifier` (100 trees, depth 3, {N_FEATURES} features, seed {args.seed}) "
        f"registered, approved and deployed as stable of an endpoint; the same fitted model served by each peer.",
        f"Ours: {ours_desc}; the inference function has a pool of {procs}.",
    ]
    if "mlflow" in names:
        parts += [
            f"MLflow: `mlflow models serve --env-manager local -w {w}` (uvicorn) from its own venv "
            f"({info['peer']}), the model saved with `mlflow.sklearn.save_model`.",
            _workers_note(info).strip(),
        ]
    if "bare" in names:
        parts.append(
            f"Bare: a FastAPI app, one `POST /invocations` route doing `await request.json()`, "
            f"`model.predict_proba` on the event loop and a `JSONResponse`, no auth/routing/logs, run by "
            f"`uvicorn --no-access-log` ({w} process) from its own venv ({info['bare']})."
        )
    parts += [
        f"Every server, and every process started by it, pinned to core(s) {cores_s} (`sched_setaffinity`, "
        f"checked per process: " + ", ".join(f"{n} {info['affinity'].get(n)}" for n in names) + ").",
        f"Load generator on core(s) {cores_c}: one asyncio process (uvloop) with the project's HTTP/1.1 client "
        f"(`mlops.local.httpwire.Connection`, keep-alive; {_conn_txt(info)}), one request in flight per "
        f"connection, the same {N_BODIES} one-row `dataframe_split` bodies cycled for every server.",
        f"Latency: {args.rounds} rounds x {args.requests} requests at c=1 after {args.warmup} warm-up requests, "
        f"servers interleaved round by round, median of the per-round p50/p99.",
        f"Throughput: c connections for {args.seconds:g} s, {args.rps_rounds} runs per level and server, "
        f"interleaved, median.",
    ]
    if any("cpu_us" in res[n] for n in names):
        parts.append(
            "CPU per request: the CPU time (`/proc/<pid>/task/*/schedstat`) every process of a server "
            "used during a run divided by the requests it answered, median over the runs; unlike req/s "
            "it does not depend on what else the machine runs."
        )
    if cold:
        parts.append(
            f"Cold start: from spawning one inference fdk process (pool of 1, same cores) to its first "
            f"successful prediction on its socket, median of {len(res['cold'].get('ours', []))}"
            + (
                f"; MLflow's: from launching `mlflow models serve` to the first successful "
                f"`/invocations`, median of {len(res['cold']['mlflow'])}."
                if "mlflow" in cold
                else "."
            )
        )
    parts.append(f"Predictions agree with the model's own on {agree['rows']} held-out rows: {agree_txt}.")
    out = "\n".join(lines) + "\n\n" + " ".join(parts)
    if cpu_lines:
        out += "\n\nCPU per request by process (median µs) and interleaved ratios:\n" + "\n".join(cpu_lines)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="latency rounds at c=1")
    ap.add_argument("--requests", type=int, default=1000, help="requests per latency round")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of one throughput run")
    ap.add_argument("--rps-rounds", type=int, default=3, help="throughput runs per concurrency level")
    ap.add_argument("--cold-rounds", type=int, default=5)
    ap.add_argument("--peer-cold-rounds", type=int, default=3)
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="model-serving processes of each server (default 1: the servers get one core)",
    )
    ap.add_argument("--server-cores", type=int, nargs="+", default=[0])
    ap.add_argument("--client-cores", type=int, nargs="+", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peer", action="store_true", help="measure ours only (same as --peers with nothing)")
    ap.add_argument(
        "--peers",
        nargs="*",
        choices=["mlflow", "bare"],
        default=["mlflow", "bare"],
        help="servers measured next to ours: `mlflow models serve` and a bare FastAPI + uvicorn app",
    )
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="also measure CPU time per request of every server process (from /proc schedstat)",
    )
    ap.add_argument(
        "--full-runtime",
        action="store_true",
        help="run everything `mlops local up` runs (log shipping, drift events, alarms, metrics)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="ours only, c=1: split a request's time into gateway, fdk, handler and predict",
    )
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="with --breakdown: cProfile the runtime process and the inference handler into DIR",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve-ours", metavar="PROJECT", help=argparse.SUPPRESS)
    ap.add_argument("--diag-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_ours:
        serve_ours(
            Path(args.serve_ours),
            args.full_runtime,
            Path(args.diag_dir) if args.diag_dir else None,
            args.profile is not None,
        )
        return
    avail = sorted(os.sched_getaffinity(0))
    if args.client_cores is None:
        args.client_cores = [c for c in avail if c not in args.server_cores] or avail
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.breakdown or args.profile is not None:
        res = runner(run_breakdown(args))
        print(json.dumps(res, indent=2, default=str) if args.json else breakdown_report(res))
        return
    if args.no_peer:
        args.peers = []
    res = runner(run(args))
    if args.json:
        print(json.dumps(res, indent=2, default=str))
        return
    print(report(res, args))
    missing = [p for p in ("mlflow", "bare") if p not in res]
    if missing:
        print(
            f"\nNot measured (not installed or not asked for): {', '.join(missing)}; their ratios are missing."
        )


if __name__ == "__main__":
    main()
