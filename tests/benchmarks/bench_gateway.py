"""Benchmark: an echo function called directly on its fdk socket vs through the local gateway.

Both paths use the same client (``mlops.local.httpwire``, keep-alive, asyncio) and the
same kind of fdk workers (pool of 2, one request at a time each). The gateway runs in
its own process, with the authorizer in front (its answer cached, as in steady state)
and a dynamic-routing route, i.e. the full predict path minus the model.

    .venv/bin/python tests/benchmarks/bench_gateway.py [--rounds 5] [--requests 2000] [--seconds 3]

Prints p50/p99 at c=1 and req/s at c=1/4/16 (medians over rounds) and the gateway's
overhead, as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlops.local.httpwire import Connection  # noqa: E402
from mlops.local.pool import FunctionDef, FunctionPool  # noqa: E402

ECHO = ROOT / "tests" / "fixtures" / "functions" / "echo" / "func.py"
BODY = json.dumps({"echo_only": 1, "instances": [[0.5] * 20]}).encode()

SERVER = r"""
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from mlops.local.pool import FunctionDef
from mlops.local.runtime import LocalRuntime
from mlops.local.setup import local_api_key
from mlops.settings import settings_from_config
from mlops.blueprint.functions import function_spec
root, tmp = Path(sys.argv[1]), Path(sys.argv[2])
settings = settings_from_config({"mlops:endpoints": [], "mlops:store": {"backend": "file", "path": str(tmp / "store")},
    "mlops:local": {"port": 0, "state_dir": str(tmp / "state"), "secrets_file": str(tmp / "secrets.json")},
    "mlops:gateway": {"auth_cache_ttl_s": 3600}}, stack="bench", project_dir=tmp)
key = local_api_key(settings)
cfg = dict(function_spec(settings, "authorizer").config); cfg["MLOPS_ENDPOINTS"] = "bench"
fn = lambda n: {"type": "ORACLE_FUNCTIONS_BACKEND", "function_id": f"local:fn:{n}"}
spec = {"request_policies": {"authentication": {"type": "CUSTOM_AUTHENTICATION", "function_id": "local:fn:authorizer",
          "parameters": {"token": "request.headers[Authorization]"}, "cache_keys": ["token"]}},
        "routes": [{"path": "/v1/endpoints/bench/predict", "methods": ["POST"],
          "backend": {"type": "DYNAMIC_ROUTING_BACKEND", "selection_source": {"type": "SINGLE", "selector": "request.auth[cohort_bench]"},
            "routing_backends": [{"key": {"type": "ANY_OF", "values": ["canary"], "name": "canary"}, "backend": fn("echo")},
                                 {"key": {"type": "ANY_OF", "values": ["stable"], "name": "stable", "is_default": True}, "backend": fn("echo")}]},
          "request_policies": {"authorization": {"type": "ANY_OF", "allowed_scopes": ["mlops:predict"]}}}]}
echo = root / "tests/fixtures/functions/echo/func.py"
rt = LocalRuntime(settings, port=0, spec=spec, functions=[FunctionDef("authorizer", root / "functions/authorizer/func.py", cfg, pool_size=1),
                                                          FunctionDef("echo", echo, {}, pool_size=int(sys.argv[3]))])
async def main():
    await rt.start()
    print(json.dumps({"port": rt.bound_port, "key": key}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await rt.stop()
try:
    import uvloop; uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


async def _latency(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _throughput(make_call, c: int, seconds: float, max_requests: int = 200_000) -> float:
    calls = [make_call() for _ in range(c)]
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(call):
        nonlocal done
        while time.perf_counter() < stop_at and done < max_requests:
            await call()
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(cl) for cl in calls))
    return done / (time.perf_counter() - t0)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    # direct: the same fdk worker pool, driven from this process over the unix sockets
    pool = FunctionPool(FunctionDef("echo", ECHO, {}, pool_size=args.pool), tempfile.mkdtemp(prefix="mlops-"))
    await pool.start()

    def direct_call():
        async def call():
            status, _h, _b = await pool.call([("Content-Type", "application/json")], BODY)
            assert status == 200

        return call

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT), str(tmp), str(args.pool)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    info = json.loads(server.stdout.readline())
    headers = [("Authorization", f"Bearer {info['key']}"), ("Content-Type", "application/json")]

    def gateway_call():
        conn = Connection(("127.0.0.1", info["port"]))

        async def call():
            status, _h, _b = await conn.request("POST", "/v1/endpoints/bench/predict", headers, BODY)
            assert status == 200, (status, _b[:200])

        return call

    try:
        results: dict = {
            "direct": {"p50": [], "p99": [], "rps": {}},
            "gateway": {"p50": [], "p99": [], "rps": {}},
        }
        for _name, make in (("direct", direct_call), ("gateway", gateway_call)):
            await _latency(make(), 300)  # warm up (and fill auth cache)
        for _ in range(args.rounds):  # interleave the two paths
            for name, make in (("direct", direct_call), ("gateway", gateway_call)):
                lat = await _latency(make(), args.requests)
                results[name]["p50"].append(pct(lat, 0.5))
                results[name]["p99"].append(pct(lat, 0.99))
        for c in (1, 4, 16):
            for name, make in (("direct", direct_call), ("gateway", gateway_call)):
                rps = [await _throughput(make, c, args.seconds) for _ in range(max(1, args.rounds // 2))]
                results[name]["rps"][c] = statistics.median(rps)
        return results
    finally:
        server.stdin.close()
        server.wait(30)
        await pool.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--pool", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        import uvloop

        res = uvloop.run(run(args))
    except ImportError:
        res = asyncio.run(run(args))
    d, g = res["direct"], res["gateway"]
    med = {k: {m: statistics.median(v[m]) for m in ("p50", "p99")} for k, v in res.items()}
    if args.json:
        print(json.dumps({"median": med, "rps": {k: v["rps"] for k, v in res.items()}}, indent=2))
        return
    print(
        f"echo function, pool of {args.pool} fdk workers, {args.rounds} rounds x {args.requests} requests "
        f"(c=1), {args.seconds:.0f}s throughput runs; medians; {os.cpu_count()} cores\n"
    )
    print("| path | p50 c=1 (ms) | p99 c=1 (ms) | req/s c=1 | req/s c=4 | req/s c=16 |")
    print("|---|---|---|---|---|---|")
    for name, r in (("direct fdk socket", d), ("through local gateway", g)):
        key = "direct" if r is d else "gateway"
        print(
            f"| {name} | {med[key]['p50']:.3f} | {med[key]['p99']:.3f} | {r['rps'][1]:.0f} | {r['rps'][4]:.0f} "
            f"| {r['rps'][16]:.0f} |"
        )
    print(
        f"\ngateway overhead at c=1: {med['gateway']['p50'] - med['direct']['p50']:.3f} ms median "
        f"(target <= 0.5 ms); throughput ratio gateway/direct at c=16: {g['rps'][16] / d['rps'][16]:.2f}"
    )


if __name__ == "__main__":
    main()
