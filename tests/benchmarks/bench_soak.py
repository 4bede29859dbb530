"""Benchmark (issue 13 F): a bounded soak through the real local stack; RSS growth per 10k requests.

A throwaway project gets a GradientBoostingClassifier (20 features) registered, approved and
deployed as the stable version of endpoint ``soak``; the stack runs as ``mlops local up`` runs it
(``python -m mlops.local.daemon``: gateway, authorizer, inference pools, log shipping -> drift,
metrics, alarms). After a warm-up, ``--concurrency`` keep-alive clients send one-row predictions
until ``--requests`` are done; every ``--every`` requests the VmRSS of the gateway (the daemon)
and of every function process (from ``/proc/<pid>/status``) is sampled.

    .venv/bin/python tests/benchmarks/bench_soak.py [--requests 60000] [--concurrency 16]
        [--warmup 5000] [--every 10000] [--trace DIR] [--json]

Prints, per process, RSS after the warm-up, at the end, and the growth per 10k requests (least
squares slope over the samples, and first->last). ``--trace DIR`` runs the daemon under
tracemalloc and writes the top allocation-site growth between the first and last sample (to find
a creep, not to measure: tracing slows the gateway down).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

STACK, ENDPOINT, MODEL = "soak", "soak", "soak-model"
FEATURES = [f"f{i}" for i in range(20)]

# The daemon, optionally under tracemalloc: a thread dumps a snapshot whenever DIR/dump-<n> appears.
DAEMON = r"""
import os, sys, threading, time
trace = sys.argv[1]
if trace:
    import pickle, tracemalloc
    tracemalloc.start(int(os.environ.get("SOAK_TRACE_FRAMES", "8")))
    def dumper():
        n = 0
        while True:
            req = os.path.join(trace, f"dump-{n}")
            if os.path.exists(req):
                snap = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])
                with open(os.path.join(trace, f"snap-{n}.pickle.tmp"), "wb") as f:
                    pickle.dump(snap, f)
                os.replace(os.path.join(trace, f"snap-{n}.pickle.tmp"), os.path.join(trace, f"snap-{n}.pickle"))
                n += 1
            time.sleep(0.2)
    threading.Thread(target=dumper, daemon=True).start()
from mlops.local.daemon import main
sys.exit(main(sys.argv[2:]))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_project(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    os.symlink(ROOT / "functions", tmp / "functions")
    # defaults except the rate limit (it would cap c=16) and a port of our own
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
          mlops:local:
            port: 0
            state_dir: .mlops/state
            secrets_file: .mlops/secrets.json
        """)
    )
    return tmp


def deploy(project: Path):
    import numpy as np
    from mlops.local.setup import local_api_key
    from mlops.registry import Registry
    from mlops.settings import load_stack
    from mlops.storage.stack import open_stack_store
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(X, y)
    settings = load_stack(STACK, project)
    key = local_api_key(settings)
    reg = Registry(open_stack_store(settings), actor="bench")
    v = reg.register_version(MODEL, model, X, y, feature_names=FEATURES)["version"]
    reg.request_approval(MODEL, v)
    reg.with_actor("approver").decide_approval(MODEL, v, "approve")
    reg.deployments().set_stable(ENDPOINT, MODEL, v)
    return settings, key, X


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> dict[int, str]:
    """Function processes of the daemon: pid -> function name (from MLOPS_FUNCTION / argv)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            env = (d / "environ").read_bytes().split(b"\0")
            name = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"MLOPS_FUNCTION=")), None)
            out[int(d.name)] = name or (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()[-40:]
        except (OSError, ValueError, IndexError):
            continue
    return out


async def load(url_port: int, key: str, X, total: int, concurrency: int, every: int, on_sample) -> dict:
    from mlops.local.httpwire import Connection

    headers = [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")]
    bodies = [json.dumps({"instances": [X[i].tolist()]}).encode() for i in range(256)]
    done = errors = 0
    next_sample = every
    t0 = time.perf_counter()

    async def worker(w: int) -> None:
        nonlocal done, errors, next_sample
        conn = Connection(("127.0.0.1", url_port))
        i = w
        while done < total:
            status, _h, _b = await conn.request(
                "POST", f"/v1/endpoints/{ENDPOINT}/predict", headers, bodies[i % len(bodies)]
            )
            i += concurrency
            done += 1
            if status != 200:
                errors += 1
            if done >= next_sample:
                next_sample += every
                on_sample(done)
        conn.close()

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {"requests": done, "errors": errors, "seconds": time.perf_counter() - t0}


def slope_per_10k(xs: list[int], ys: list[int]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 10_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=60_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=5_000)
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--trace", default=None, help="run the daemon under tracemalloc; snapshots in this dir")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mlops-soak-"))
    project = make_project(tmp / "project")
    settings, key, X = deploy(project)
    state_file = tmp / "runtime.json"
    trace = str(Path(args.trace).resolve()) if args.trace else ""
    if trace:
        Path(trace).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DAEMON,
            trace,
            "--stack",
            STACK,
            "--project-dir",
            str(project),
            "--state-file",
            str(state_file),
            "--port",
            "0",
        ],
        cwd=str(project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "daemon.log", "wb"),
    )
    try:
        deadline = time.monotonic() + 180
        while not state_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stack did not start; see {tmp / 'daemon.log'}")
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        port = state["port"]
        log(f"stack up on port {port} (daemon pid {proc.pid}); warm-up {args.warmup} requests")
        asyncio.run(load(port, key, X, args.warmup, args.concurrency, 10**12, lambda n: None))
        procs = {proc.pid: "gateway (daemon)"} | children(proc.pid)
        samples: dict[int, list[int]] = {pid: [] for pid in procs}
        xs: list[int] = []
        dumps = 0

        def sample(done: int) -> None:
            nonlocal dumps
            xs.append(done)
            for pid in procs:
                samples[pid].append(rss_kb(pid) or 0)
            if trace:
                Path(trace, f"dump-{dumps}").touch()
                dumps += 1
            log(f"  {done:>7} requests: gateway RSS {samples[proc.pid][-1] / 1024:.1f} MB")

        sample(0)
        res = asyncio.run(load(port, key, X, args.requests, args.concurrency, args.every, sample))
        if xs[-1] != res["requests"]:
            sample(res["requests"])
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()

    rows = []
    for pid, name in sorted(procs.items(), key=lambda kv: (kv[0] != proc.pid, kv[1])):
        ys = samples[pid]
        if not ys or not ys[0]:
            continue
        rows.append(
            {
                "process": name,
                "pid": pid,
                "rss_start_mb": ys[0] / 1024,
                "rss_end_mb": ys[-1] / 1024,
                "growth_per_10k_kb_fit": slope_per_10k(xs, ys),
                "growth_per_10k_kb": (ys[-1] - ys[0]) / max(1, xs[-1]) * 10_000,
                "samples_mb": [round(y / 1024, 1) for y in ys],
            }
        )
    out = {
        "requests": res["requests"],
        "errors": res["errors"],
        "seconds": round(res["seconds"], 1),
        "req_per_s": round(res["requests"] / res["seconds"]),
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "processes": rows,
    }
    if trace and dumps >= 2:
        out["trace_top"] = trace_diff(Path(trace), 0, dumps - 1)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"\nSoak: {out['requests']} requests at c={args.concurrency} in {out['seconds']} s "
        f"({out['req_per_s']} req/s, {out['errors']} errors), after a warm-up of {args.warmup}\n"
    )
    print(
        "| process | RSS after warm-up (MB) | RSS at end (MB) | growth per 10k requests (KB, fit) | (first->last) |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['process']} | {r['rss_start_mb']:.1f} | {r['rss_end_mb']:.1f} | "
            f"{r['growth_per_10k_kb_fit']:.0f} | {r['growth_per_10k_kb']:.0f} |"
        )
    for line in out.get("trace_top", []):
        print(line)
    return 0


def trace_diff(trace: Path, a: int, b: int, top: int = 15) -> list[str]:
    import pickle

    for n in (a, b):
        deadline = time.monotonic() + 60
        while not (trace / f"snap-{n}.pickle").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    with open(trace / f"snap-{a}.pickle", "rb") as f:
        s0 = pickle.load(f)
    with open(trace / f"snap-{b}.pickle", "rb") as f:
        s1 = pickle.load(f)
    lines = ["", f"tracemalloc: top growth between sample {a} and {b} (traceback, size diff):"]
    for st in s1.compare_to(s0, "traceback")[:top]:
        lines.append(f"  {st.size_diff / 1024:+.1f} KB in {st.count_diff:+d} blocks")
        lines.extend(f"      {fr.filename}:{fr.lineno}" for fr in list(st.traceback)[-6:])
    return lines


if __name__ == "__main__":
    sys.exit(main())
