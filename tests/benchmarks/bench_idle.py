"""Benchmark: how much CPU an idle local stack uses (issue 19: the whole idle stack <= 2% of one core).

Starts the real ``mlops local up`` daemon (gateway + a pool of fdk workers per function) for a
project with the repository's stack settings (``Pulumi.local.yaml``, on a free port), registers
and deploys a small GradientBoosting model, sends traffic that touches every function (predict,
feedback, registry reads; the log shipper then invokes the drift function), and then sends nothing.
It reads each process's own CPU time (utime + stime from /proc, which does not depend on how busy
the machine is) over two idle windows:

- "settled": 15 s after the last request, once the drift run the traffic caused is over (refresh
  loops, log shipping, alarm evaluation);
- "past keep-alive": after fdk's keep-alive timeout (75 s), where fdk 0.1.128 as shipped starts
  spinning a core per used worker (fixed by ``mlops.fdkclock``).

    .venv/bin/python tests/benchmarks/bench_idle.py [--window 10] [--requests 200]

Prints the share of one core per process and in total for each window, as a Markdown table.
Bounded: a fixed number of requests and fixed windows; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FDK_KEEP_ALIVE_S = 75.0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for k in kids:
            out.append(int(k))
            out.extend(_children(int(k)))
    return out


def _name(pid: int) -> str:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    for item in env:
        if item.startswith(b"FN_LISTENER="):
            return "fdk " + os.path.basename(item.decode().split(":", 1)[1]).removesuffix(".sock")
    return "daemon (gateway, log shipper, alarms)"


def _measure(pids: list[int], seconds: float) -> dict[int, float]:
    c0 = {p: _cpu_seconds(p) for p in pids}
    t0 = time.monotonic()
    time.sleep(seconds)
    dt = time.monotonic() - t0
    return {p: (_cpu_seconds(p) - c0[p]) / dt for p in pids}


def _request(url: str, key: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data else "GET",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--window", type=float, default=10.0, help="seconds per idle window")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--skip-keepalive", action="store_true", help="only the settled window")
    args = ap.parse_args()

    import numpy as np
    from mlops.cli.local import start_runtime, stop_runtime
    from mlops.local.assemble import open_stack_store
    from mlops.local.setup import local_api_key
    from mlops.registry import Registry
    from mlops.settings import load_stack
    from sklearn.ensemble import GradientBoostingClassifier

    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    try:
        (tmp / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
        os.symlink(ROOT / "functions", tmp / "functions")
        stack = (ROOT / "Pulumi.local.yaml").read_text().replace("port: 8080", "port: 0")
        (tmp / "Pulumi.idle.yaml").write_text(stack)
        settings = load_stack("idle", tmp)
        key = local_api_key(settings)
        endpoint = settings.endpoints[0]
        reg = Registry(open_stack_store(settings), actor="bench")
        rng = np.random.default_rng(0)
        X = rng.normal(size=(2000, 30))
        y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
        model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(X, y)
        v = reg.register_version(endpoint.model, model, X, y, feature_names=[f"f{i}" for i in range(30)])[
            "version"
        ]
        reg.request_approval(endpoint.model, v)
        reg.with_actor("reviewer").decide_approval(endpoint.model, v, "approve", comment="bench")
        reg.deployments().set_stable(endpoint.name, endpoint.model, v, reason="bench")

        state = start_runtime(settings)
        url = state["url"]
        try:
            base = f"{url}/v1/endpoints/{endpoint.name}"
            for i in range(args.requests):
                out = _request(f"{base}/predict", key, {"instances": [X[i % len(X)].tolist()]})
                if i % 10 == 0:
                    _request(
                        f"{base}/feedback",
                        key,
                        {"prediction_id": out["prediction_ids"][0], "actual": int(y[i % len(y)])},
                    )
            _request(f"{url}/v1/models/{endpoint.model}", key)
            _request(f"{base}/deployment", key)
            t_last = time.monotonic()
            pids = [int(state["pid"]), *_children(int(state["pid"]))]
            names = {p: _name(p) for p in pids}
            windows = []
            time.sleep(15.0)  # the log shipper rolls the traffic's logs and the drift function runs
            windows.append(("settled (15 s after traffic)", _measure(pids, args.window)))
            if not args.skip_keepalive:
                time.sleep(max(0.0, t_last + FDK_KEEP_ALIVE_S + 5.0 - time.monotonic()))
                windows.append(("past fdk keep-alive (80 s)", _measure(pids, args.window)))
        finally:
            stop_runtime(settings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"| process | {' | '.join(w[0] for w in windows)} |")
    print(f"|---|{'---|' * len(windows)}")
    for p in sorted(names, key=lambda p: names[p]):
        print(f"| {names[p]} | {' | '.join(f'{w[1].get(p, 0.0):.2%}' for w in windows)} |")
    print(f"| **whole stack** | {' | '.join(f'**{sum(w[1].values()):.2%}**' for w in windows)} |")
    print(
        f"\n{len(names)} processes; CPU time from /proc over {args.window:.0f} s windows; share of one core."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
