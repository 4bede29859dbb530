"""Benchmark: what per-invocation metrics cost the gateway's hot path, and what the SQLite store sustains.

Compares, in the same run:
- recording one invocation (``invocation_points`` -> three points) into a ``BufferedSink``: the
  hot path alone (inner sink discards) and amortized with the background flush into SQLite in the
  same process (what the local gateway pays in CPU), against writing the same points straight into
  ``SqliteMetrics`` per invocation (the peer: no buffering, one transaction per call);
- the background flush rate (points/s) for batches of 500 and 10,000;
- one evaluation of the default rules of one endpoint over ten minutes of traffic at 100 req/s.

    .venv/bin/python tests/unit/monitoring/bench_metrics.py [--rounds 5]

Prints medians over rounds as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

from mlops.monitoring.buffered import BufferedSink  # noqa: E402
from mlops.monitoring.defaults import default_rules  # noqa: E402
from mlops.monitoring.evaluator import AlarmEvaluator  # noqa: E402
from mlops.monitoring.metrics import MetricsSink, invocation_points  # noqa: E402
from mlops.monitoring.sqlite import SqliteMetrics  # noqa: E402


def per_call_buffered(tmp: Path, n: int) -> float:
    store = SqliteMetrics(tmp / f"buf-{time.monotonic_ns()}.sqlite")
    sink = BufferedSink(store, max_points=500, max_delay_s=1.0)
    t = time.time()
    start = time.perf_counter()
    for i in range(n):
        sink.put(invocation_points("inference-churn-stable", 200, 0.4, t + i * 1e-3))
    elapsed = time.perf_counter() - start
    sink.close()
    assert len(store.query("oci_faas", "FunctionInvocationCount")) == n
    store.close()
    return elapsed / n


def per_call_hot_path(n: int) -> float:
    """invocation_points + BufferedSink.put with a sink that discards: the gateway's own cost."""

    class Discard(MetricsSink):
        def put(self, points):
            pass

    sink = BufferedSink(Discard(), max_points=500, max_delay_s=1.0)
    t = time.time()
    start = time.perf_counter()
    for i in range(n):
        sink.put(invocation_points("inference-churn-stable", 200, 0.4, t + i * 1e-3))
    elapsed = time.perf_counter() - start
    sink.close()
    return elapsed / n


def per_call_direct(tmp: Path, n: int) -> float:
    store = SqliteMetrics(tmp / f"direct-{time.monotonic_ns()}.sqlite")
    t = time.time()
    start = time.perf_counter()
    for i in range(n):
        store.put(invocation_points("inference-churn-stable", 200, 0.4, t + i * 1e-3))
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed / n


def flush_rate(tmp: Path, batch: int, batches: int) -> float:
    store = SqliteMetrics(tmp / f"flush-{time.monotonic_ns()}.sqlite")
    t = time.time()
    data = [
        [p for i in range(batch // 3) for p in invocation_points(f"fn{i % 4}", 200, 1.0, t + b + i * 1e-4)]
        for b in range(batches)
    ]
    start = time.perf_counter()
    for pts in data:
        store.put(pts)
    elapsed = time.perf_counter() - start
    store.close()
    return sum(len(d) for d in data) / elapsed


def evaluation(tmp: Path) -> tuple[float, int]:
    store = SqliteMetrics(tmp / f"eval-{time.monotonic_ns()}.sqlite")
    now = time.time()
    pts = []
    for i in range(60_000):  # 10 minutes at 100 req/s, split over the two variants
        fn = "inference-churn-canary" if i % 10 == 0 else "inference-churn-stable"
        pts += invocation_points(fn, 200, 0.3 + (i % 50) / 100, now - 600 + i / 100)
    store.put(pts)
    ev = AlarmEvaluator(
        store, default_rules(["churn"], ["authorizer", "registry", "drift", "guardian"]), lambda: now
    )
    start = time.perf_counter()
    ev.evaluate()
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, len(pts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for _ in range(args.rounds):
            rows.setdefault("hot path: invocation_points + buffered put, us/invocation", []).append(
                per_call_hot_path(50_000) * 1e6
            )
            rows.setdefault(
                "same + SQLite flushing in the same process (amortized), us/invocation", []
            ).append(per_call_buffered(tmp, 20_000) * 1e6)
            rows.setdefault("direct SQLite put (peer), us/invocation", []).append(
                per_call_direct(tmp, 500) * 1e6
            )
            rows.setdefault("flush, points/s (batches of 500)", []).append(flush_rate(tmp, 500, 40))
            rows.setdefault("flush, points/s (batches of 10,000)", []).append(flush_rate(tmp, 10_000, 4))
            el, n = evaluation(tmp)
            rows.setdefault(f"evaluate 13 default rules over {n:,} points, ms", []).append(el * 1e3)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print("| measure | median |")
    print("|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:,.2f} |")
    hot = med["hot path: invocation_points + buffered put, us/invocation"]
    amortized = med["same + SQLite flushing in the same process (amortized), us/invocation"]
    direct = med["direct SQLite put (peer), us/invocation"]
    print(
        f"\nhot path {direct / hot:,.0f}x and amortized total {direct / amortized:,.0f}x cheaper than a "
        "transaction per invocation"
    )


if __name__ == "__main__":
    main()
