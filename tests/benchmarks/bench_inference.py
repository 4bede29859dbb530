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
  never a dependency of the project).

Both servers get the same core(s) (``--server-cores``, pinned with ``sched_setaffinity``,
inherited by every worker process) and the same number of model-serving processes
(``--workers``: the inference function's fdk pool size, MLflow's uvicorn workers). The
load generator (``mlops.local.httpwire.Connection``: asyncio + httptools, keep-alive, one
request in flight per connection) runs in this process on ``--client-cores``, sends the
same one-row ``dataframe_split`` bodies to both, checks their predictions agree, and
measures p50/p99 at c=1, req/s at c=1/4/16 and cold start to the first prediction.

    .venv/bin/python tests/benchmarks/bench_inference.py [--rounds 5] [--requests 1000] [--seconds 3]
        [--workers 2] [--server-cores 0] [--client-cores 1] [--cold-rounds 5] [--no-peer] [--json]

Prints a Markdown table (ours, MLflow, ratio, target) and the method paragraph.
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

PEER_VENV = ROOT / ".mlops" / "bench-venvs" / "mlflow"
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
ENDPOINT, MODEL, STACK = "bench", "gbc", "bench"
STABLE_FN = f"inference-{ENDPOINT}-stable"
PREDICT_PATH = f"/v1/endpoints/{ENDPOINT}/predict"
TARGET_P50_MS, TARGET_RPS_RATIO, TARGET_COLD_S = 1.5, 4.0, 1.2
N_BODIES = 256                  # distinct one-row bodies, cycled, the same sequence for both servers
AGREE_ROWS = 200                # rows whose predictions both servers must agree on
READY_TIMEOUT_S = 180.0         # any server start, bounded

SAVE_MLFLOW_MODEL = r'''
import sys, joblib, numpy as np, pandas as pd, mlflow.sklearn
from mlflow.models import infer_signature
model, X, out, names = joblib.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
# as an MLflow user who trained on a DataFrame has it: the names let sklearn check the columns without a warning
model.feature_names_in_ = np.asarray(names, dtype=object)
df = pd.DataFrame(X[:50], columns=names)
# MLflow's default (skops) format asks to name the tree type trusted: we made the file ourselves
mlflow.sklearn.save_model(model, out, signature=infer_signature(df, model.predict(df)),
                          skops_trusted_types=["sklearn.tree._tree.Tree"])
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
    with contextlib.suppress(ProcessLookupError, PermissionError):   # stragglers of the group
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


def make_project(tmp: Path, workers: int) -> Path:
    """A throwaway project using this checkout's functions; stack ``bench`` with endpoint ``bench``."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    os.symlink(ROOT / "functions", tmp / "functions")
    # Defaults everywhere except: the rate limit (the default 1000 req/s per client IP would cap
    # the c=16 run), one process for the functions off the predict path, N for the stable variant.
    (tmp / f"Pulumi.{STACK}.yaml").write_text(textwrap.dedent(f"""\
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
        """))
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
    v = reg.register_version(MODEL, model, X, y, feature_names=FEATURES,
                             params={"n_estimators": 100, "max_depth": 3},
                             metrics={"train_accuracy": float((model.predict(X) == y).mean())})["version"]
    reg.request_approval(MODEL, v, comment="benchmark")
    reg.with_actor("approver").decide_approval(MODEL, v, "approve", comment="benchmark")
    reg.set_stable(ENDPOINT, MODEL, v, reason="benchmark")
    return key, int(v)


# ---------------------------------------------------------------------------------------------- the peer
def peer_python() -> Path | None:
    """MLflow's own venv (made on first use); None, with the reason on stderr, if it cannot be made."""
    import sklearn

    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", f"import mlflow, pandas, joblib, sklearn; assert sklearn.__version__ == "
                                f"{sklearn.__version__!r}, sklearn.__version__"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=300).returncode == 0:
        return python
    spec = ["mlflow", f"scikit-learn=={sklearn.__version__}", "joblib", "pandas"]
    _log(f"creating {PEER_VENV.relative_to(ROOT)} and installing {' '.join(spec)} (first run only; minutes)...")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *spec],
                       check=True, timeout=1800)
        subprocess.run(probe, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"\nMLflow could not be installed into its own venv ({exc}); printing our figures only.\n",
              file=sys.stderr, flush=True)
        return None
    return python


def peer_versions(python: Path) -> str:
    code = ("import mlflow, uvicorn, pandas, sklearn; "
            "print(f'mlflow {mlflow.__version__}, uvicorn {uvicorn.__version__}, pandas {pandas.__version__}, "
            "scikit-learn {sklearn.__version__}')")
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300)
    return r.stdout.strip() or "unknown versions"


def peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{PEER_VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"   # it runs `uvicorn` by name
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "OMP_NUM_THREADS": "1"})
    return env


def save_peer_model(python: Path, model, X, tmp: Path) -> Path:
    import joblib
    import numpy as np

    joblib.dump(model, tmp / "model.joblib")
    np.save(tmp / "X.npy", X)
    out = tmp / "mlflow-model"
    r = subprocess.run([str(python), "-c", SAVE_MLFLOW_MODEL, str(tmp / "model.joblib"), str(tmp / "X.npy"),
                        str(out), ",".join(FEATURES)], env=peer_env(), timeout=600, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{r.stderr[-3000:]}")
    return out


def start_peer(python: Path, model_dir: Path, port: int, workers: int, cores: set[int]) -> subprocess.Popen:
    cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1",
           "-p", str(port), "-w", str(workers), "--env-manager", "local"]
    return subprocess.Popen(cmd, env=peer_env(), cwd=str(model_dir.parent), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_pin(cores),
                            start_new_session=True)


# ---------------------------------------------------------------------------------------------- our server
def serve_ours(project: Path, full: bool) -> None:
    """``--serve-ours``: run the stack's runtime until stdin closes; print {"port": ...} when ready."""
    from mlops.local.assemble import build_runtime
    from mlops.local.runtime import LocalRuntime
    from mlops.settings import load_stack

    settings = load_stack(STACK, project)
    rt = build_runtime(settings, port=0) if full else LocalRuntime(settings, port=0)

    async def main() -> None:
        await rt.start()
        try:
            print(json.dumps({"port": rt.bound_port,
                              "workers": {n: [w.process.pid for w in p.workers if w.process]
                                          for n, p in rt.pools.items()}}), flush=True)
            loop = asyncio.get_running_loop()
            reader = loop.run_in_executor(None, sys.stdin.read)
            while not reader.done():          # flush the captured function logs as run_forever does
                await asyncio.wait([reader], timeout=0.5)
                rt.logs.flush()
        finally:
            await rt.stop()

    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(main())


def start_ours(project: Path, cores: set[int], full: bool) -> tuple[subprocess.Popen, dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-ours", str(project)]
    if full:
        cmd.append("--full-runtime")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=_pin(cores), start_new_session=True)
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
        proc.stdin.close()               # the runtime stops its pools and exits
        proc.wait(30)
    _killpg(proc)


# ---------------------------------------------------------------------------------------------- load generator
class Target:
    """One server as the load generator sees it: where, which path, which headers."""

    def __init__(self, name: str, port: int, path: str, headers: list[tuple[str, str]]) -> None:
        self.name, self.port, self.path, self.headers = name, port, path, headers

    def caller(self, bodies: list[bytes]) -> Callable[[], Awaitable[bytes]]:
        """A call on its own keep-alive connection, cycling through ``bodies``."""
        from mlops.local.httpwire import Connection

        conn = Connection(("127.0.0.1", self.port))
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


async def throughput(target: Target, bodies: list[bytes], c: int, seconds: float,
                     max_requests: int = 500_000) -> float:
    calls = [target.caller(bodies[k::c] or bodies) for k in range(c)]
    for call in calls:               # open the connections before the clock starts
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
    return done / (time.perf_counter() - t0)


async def wait_ready(target: Target, body: bytes, timeout_s: float, proc: subprocess.Popen | None = None,
                     poll_s: float = 0.01) -> float:
    """Seconds until the first 200 prediction (connection refused / errors are retried)."""
    from mlops.local.httpwire import Connection

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited with code {proc.returncode} before answering")
        conn = Connection(("127.0.0.1", target.port))
        try:
            status, _h, _b = await asyncio.wait_for(conn.request("POST", target.path, target.headers, body), 30)
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
    from mlops.local.pool import FunctionDef, FunctionPool
    from mlops.settings import load_stack
    from mlops.spec import function_spec

    settings = load_stack(STACK, project)
    spec = function_spec(settings, STABLE_FN)
    fdef = FunctionDef(STABLE_FN, project / "functions" / spec.source / "func.py", spec.config, pool_size=1)
    before = os.sched_getaffinity(0)
    out = []
    try:
        os.sched_setaffinity(0, cores)          # the fdk process inherits the server cores
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


async def cold_start_peer(python: Path, model_dir: Path, body: bytes, rounds: int, workers: int,
                          cores: set[int]) -> list[float]:
    out = []
    for _ in range(rounds):
        port = _free_port()
        t0 = time.perf_counter()
        proc = start_peer(python, model_dir, port, workers, cores)
        try:
            await wait_ready(Target("mlflow", port, "/invocations", [("Content-Type", "application/json")]),
                             body, READY_TIMEOUT_S, proc)
            out.append(time.perf_counter() - t0)
        finally:
            _killpg(proc)
    return out


# ---------------------------------------------------------------------------------------------- the run
def _bodies(X) -> list[bytes]:
    return [json.dumps({"dataframe_split": {"columns": FEATURES, "data": [X[i].tolist()]}}).encode()
            for i in range(len(X))]


async def measure(targets: list[Target], bodies: list[bytes], agree_bodies: list[bytes], expected: list[int],
                  args) -> dict:
    res: dict = {t.name: {"p50": [], "p99": [], "rps": {}} for t in targets}
    # agreement first: every server must give the model's own prediction on the same rows
    agree = {}
    for t in targets:
        call = t.caller(agree_bodies)
        got = [json.loads(await call())["predictions"][0] for _ in agree_bodies]
        agree[t.name] = sum(int(g == e) for g, e in zip(got, expected, strict=True))
    res["agreement"] = {"rows": len(expected), **agree}
    for t in targets:                                        # warm up (auth cache, imports, JITs)
        await latency(t.caller(bodies), args.warmup)
    for _ in range(args.rounds):                             # interleave the servers round by round
        for t in targets:
            lat = await latency(t.caller(bodies), args.requests)
            res[t.name]["p50"].append(pct(lat, 0.5))
            res[t.name]["p99"].append(pct(lat, 0.99))
    for c in (1, 4, 16):
        runs: dict[str, list[float]] = {t.name: [] for t in targets}
        for _ in range(args.rps_rounds):
            for t in targets:
                runs[t.name].append(await throughput(t, bodies, c, args.seconds))
        for t in targets:
            res[t.name]["rps"][c] = statistics.median(runs[t.name])
            res[t.name].setdefault("rps_runs", {})[c] = runs[t.name]
    return res


async def run(args) -> dict:
    import numpy as np
    import sklearn

    server_cores, client_cores = set(args.server_cores), set(args.client_cores)
    info: dict = {"load_start": loadavg(), "cpu": _cpu_model(), "cores": os.cpu_count(),
                  "python": platform.python_version(), "sklearn": sklearn.__version__,
                  "server_cores": sorted(server_cores), "client_cores": sorted(client_cores),
                  "workers": args.workers, "full_runtime": args.full_runtime}
    python = None if args.no_peer else peer_python()
    info["peer"] = peer_versions(python) if python else None
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-inf-"))
    ours_proc = peer_proc = None
    try:
        _log("training the model and deploying it")
        model, X, y, X_test = train(args.seed)
        project = make_project(tmp / "project", args.workers)
        key, version = deploy(project, model, X, y)
        info["version"] = version
        model_dir = save_peer_model(python, model, X, tmp) if python else None
        bodies = _bodies(X_test[:N_BODIES])
        agree_rows = X_test[N_BODIES:N_BODIES + AGREE_ROWS]
        expected = [int(v) for v in model.predict(agree_rows)]
        info["positives_in_agree_rows"] = int(np.sum(expected))

        _log(f"cold starts: ours x{args.cold_rounds}")
        res_cold = {"ours": await cold_start_ours(project, bodies[0], args.cold_rounds, server_cores)}
        if python:
            _log(f"cold starts: mlflow x{args.peer_cold_rounds}")
            res_cold["mlflow"] = await cold_start_peer(python, model_dir, bodies[0], args.peer_cold_rounds,
                                                       args.workers, server_cores)

        _log("starting both servers")
        ours_proc, ours = start_ours(project, server_cores, args.full_runtime)
        targets = [Target("ours", ours["port"], PREDICT_PATH,
                          [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")])]
        if python:
            port = _free_port()
            peer_proc = start_peer(python, model_dir, port, args.workers, server_cores)
            targets.append(Target("mlflow", port, "/invocations", [("Content-Type", "application/json")]))
        os.sched_setaffinity(0, client_cores)
        for t, proc in zip(targets, (ours_proc, peer_proc), strict=False):
            await wait_ready(t, bodies[0], READY_TIMEOUT_S, proc)
        info["ours_processes"] = len(_group_affinities(ours_proc.pid))
        info["affinity"] = {t.name: sorted(set(_group_affinities(p.pid).values()))
                            for t, p in zip(targets, (ours_proc, peer_proc), strict=False)}
        info["ours_inference_pids"] = ours["workers"].get(STABLE_FN)
        _log(f"measuring (load average {loadavg()})")
        res = await measure(targets, bodies, _bodies(agree_rows), expected, args)
        res["cold"] = res_cold
        info["load_end"] = loadavg()
        res["info"] = info
        return res
    finally:
        stop_ours(ours_proc)
        _killpg(peer_proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------------------------------------- report
def report(res: dict, args) -> str:
    info = res["info"]
    o = res["ours"]
    m = res.get("mlflow")
    med = {k: {q: statistics.median(res[k][q]) for q in ("p50", "p99")} for k in ("ours", "mlflow") if k in res}
    cold = {k: statistics.median(v) for k, v in res["cold"].items()}

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "-"

    def row(label: str, ours: float, peer: float | None, fmt: str, target: str, ok: bool | None) -> str:
        p = "n/a" if peer is None else format(peer, fmt)
        r = "n/a" if peer is None else ratio(ours, peer)
        met = "" if ok is None else ("yes" if ok else "**no**")
        return f"| {label} | {format(ours, fmt)} | {p} | {r} | {target} | {met} |"

    lines = ["| metric | ours (local gateway) | `mlflow models serve` | ours / MLflow | target | met |",
             "|---|---|---|---|---|---|",
             row("p50 latency, c=1 (ms)", med["ours"]["p50"], m and med["mlflow"]["p50"], ".3f",
                 f"<= {TARGET_P50_MS} ms", med["ours"]["p50"] <= TARGET_P50_MS),
             row("p99 latency, c=1 (ms)", med["ours"]["p99"], m and med["mlflow"]["p99"], ".3f", "", None)]
    for c in (1, 4, 16):
        tgt = f">= {TARGET_RPS_RATIO:.0f}x MLflow" if c == 16 else ""
        ok = (o["rps"][c] >= TARGET_RPS_RATIO * m["rps"][c]) if (c == 16 and m) else None
        lines.append(row(f"throughput, c={c} (req/s)", o["rps"][c], m and m["rps"][c], ".0f", tgt, ok))
    lines.append(row("cold start to first prediction (s)", cold["ours"], cold.get("mlflow"), ".3f",
                     f"<= {TARGET_COLD_S} s", cold["ours"] <= TARGET_COLD_S))
    agree = res["agreement"]
    agree_txt = ", ".join(f"{k} {v}/{agree['rows']}" for k, v in agree.items() if k != "rows")
    peer = info["peer"] or "not installed"
    ours_desc = ("the whole `mlops local up` runtime (with log shipping, drift events, alarms, metrics)"
                 if info["full_runtime"] else
                 "the local runtime's serving path (`LocalRuntime` of the stack: gateway with authorizer "
                 "(cache warm), rate limit, dynamic routing and header transformations, all functions as fdk "
                 "processes, function stdout captured to log files; log shipping/drift/alarm services off)")
    method = (
        f"**Method.** {info['cpu']}, {info['cores']} cores shared with other work (load average "
        f"{info['load_start']} at the start, {info['load_end']} at the end), Python {info['python']}, "
        f"scikit-learn {info['sklearn']}; peer: {peer}. One `GradientBoostingClassifier` (100 trees, depth 3, "
        f"{N_FEATURES} features, seed {args.seed}) registered and deployed as stable of an endpoint, and the same "
        f"fitted model saved with `mlflow.sklearn.save_model` (with its signature). Ours: {ours_desc}; the "
        f"inference function has a pool of {info['workers']} fdk processes. MLflow: `mlflow models serve "
        f"--env-manager local -w {info['workers']}` (uvicorn workers) from its own venv. Both servers, and "
        f"every process they start, pinned to core(s) {','.join(map(str, info['server_cores']))} "
        f"(`sched_setaffinity`; checked per process: ours {info['affinity'].get('ours')}, MLflow "
        f"{info['affinity'].get('mlflow', 'n/a')}); the load generator on core(s) "
        f"{','.join(map(str, info['client_cores']))}: one asyncio process (uvloop) with the project's keep-alive "
        f"HTTP/1.1 client (`mlops.local.httpwire`), one request in flight per connection, the same "
        f"{N_BODIES} one-row `dataframe_split` bodies cycled for both servers. Latency: {args.rounds} rounds x "
        f"{args.requests} requests at c=1 after {args.warmup} warm-up requests, servers interleaved round by "
        f"round, median of the per-round p50/p99. Throughput: c connections for {args.seconds:g} s, "
        f"{args.rps_rounds} runs per level and server, interleaved, median. Cold start: from spawning one "
        f"inference fdk process (pool of 1, same cores) to its first successful prediction on its socket, "
        f"median of {len(res['cold']['ours'])}; MLflow's: from launching `mlflow models serve` to the first "
        f"successful `/invocations`, median of {len(res['cold'].get('mlflow', []))}. Predictions agree with "
        f"the model's own on {agree['rows']} held-out rows: {agree_txt}.")
    return "\n".join(lines) + "\n\n" + method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="latency rounds at c=1")
    ap.add_argument("--requests", type=int, default=1000, help="requests per latency round")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of one throughput run")
    ap.add_argument("--rps-rounds", type=int, default=3, help="throughput runs per concurrency level")
    ap.add_argument("--cold-rounds", type=int, default=5)
    ap.add_argument("--peer-cold-rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="model-serving processes of each server")
    ap.add_argument("--server-cores", type=int, nargs="+", default=[0])
    ap.add_argument("--client-cores", type=int, nargs="+", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peer", action="store_true", help="measure ours only")
    ap.add_argument("--full-runtime", action="store_true",
                    help="run everything `mlops local up` runs (log shipping, drift events, alarms, metrics)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve-ours", metavar="PROJECT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_ours:
        serve_ours(Path(args.serve_ours), args.full_runtime)
        return
    avail = sorted(os.sched_getaffinity(0))
    if args.client_cores is None:
        args.client_cores = [c for c in avail if c not in args.server_cores] or avail
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    res = runner(run(args))
    if args.json:
        print(json.dumps(res, indent=2, default=str))
        return
    print(report(res, args))
    if "mlflow" not in res:
        print("\nMLflow was not measured (not installed or --no-peer): ratios are missing.")


if __name__ == "__main__":
    main()
