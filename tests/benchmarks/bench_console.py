"""Benchmark: every console data route answers in <= 100 ms p95 locally on a full-size stack.

Run:  .venv/bin/python tests/benchmarks/bench_console.py [--rounds 60] [--metric-step-s 300]

The world, made by the real library calls: 5 models x 20 versions = 100 versions (registered, approval
requested and approved), 20 endpoints (a stable version each, a canary on every other one, a few weight
changes: all through ``Deployments``, so all audited), 30 days of metrics in SQLite for every variant
(``invocation_points`` for latency / invocations / errors and ``window_points`` for confidence and counts,
one of each every ``--metric-step-s`` seconds; the gateway's 50-route limit does not apply to data),
drift reports from the real drift job (two windows per endpoint), an alarm state file and 2,000
notification lines. The clock is fixed at the end of the 30 days.

How it is measured: each route is called ``--rounds`` times (after 3 warm-up calls) through the registry
function's real router (``mlops.console.app.build_app``) with a real ``mlops.http.Request`` (headers of a
read-scoped caller, as the gateway sets them) and ``mlops.function.dispatch`` - the function's own
request path minus the fdk/HTTP framing, which is the same for every route. Medians and p95 in ms are
printed as a Markdown table; the registry API's own ``GET /v1/models`` and ``GET
/v1/endpoints/{e}/deployment`` are measured in the same run as the peer baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

N_MODELS, VERSIONS_PER_MODEL, N_ENDPOINTS = 5, 20, 20
DAY = 86400.0
T_END = 1_790_000_000.0
FEATURES = [f"f{i}" for i in range(8)]
APP = "mlops-bench-app"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def build_registry(root: Path, clock: Clock):
    from mlops.registry import Registry
    from mlops.storage import FileStore
    from sklearn.linear_model import LogisticRegression

    store = FileStore(root / "store")
    reg = Registry(store, clock=clock, actor="alice")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, len(FEATURES)))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    for m in range(N_MODELS):
        for v in range(VERSIONS_PER_MODEL):
            model = LogisticRegression(C=0.1 + v, max_iter=200).fit(X, y)
            rec = reg.register_version(
                f"model{m}",
                model,
                X,
                y,
                feature_names=FEATURES,
                params={"C": 0.1 + v},
                metrics={"acc": 0.8 + v / 1000},
                code_commit=f"c{m}{v}",
            )
            reg.request_approval(f"model{m}", rec["version"])
            reg.with_actor("bob").decide_approval(f"model{m}", rec["version"], "approve")
    return store, reg, X


def deploy(reg, clock: Clock) -> None:
    for e in range(N_ENDPOINTS):
        ep, model = f"ep{e}", f"model{e % N_MODELS}"
        d = reg.deployments()
        d.set_stable(ep, model, 1 + e % VERSIONS_PER_MODEL, reason="first deploy")
        if e % 2 == 0:
            d.start_canary(ep, 2 + e % (VERSIONS_PER_MODEL - 1), 500, reason="try")
            for w in (1000, 2000, 3000):
                clock.t += 1
                d.set_weight(ep, w, reason="more")


def write_metrics(sqlite, step_s: float) -> int:
    from mlops.monitoring.metrics import invocation_points, window_points

    n = 0
    ts = np.arange(T_END - 30 * DAY + step_s, T_END + 1, step_s)
    rng = np.random.default_rng(1)
    for e in range(N_ENDPOINTS):
        for variant in ("stable", "canary") if e % 2 == 0 else ("stable",):
            fn = f"inference-ep{e}-{variant}"
            lat = rng.gamma(2.0, 10.0, size=ts.shape[0])
            batch = []
            for i, t in enumerate(ts.tolist()):
                batch += invocation_points(fn, 502 if i % 97 == 0 else 200, float(lat[i]), t, application=APP)
                batch += window_points(
                    "mlops",
                    f"ep{e}",
                    f"model{e % N_MODELS}",
                    1,
                    variant,
                    predictions=20,
                    confidence_mean=0.8,
                    ts=t,
                )
            sqlite.put(batch)
            n += len(batch)
    return n


def write_drift(store, reg, sqlite, clock: Clock, X) -> None:
    from mlops.driftjob import DriftJob, DriftJobConfig
    from mlops.local.logship import object_created_event
    from mlops.times import iso

    job = DriftJob(store, reg, sqlite, DriftJobConfig(min_rows=100), clock)
    rng = np.random.default_rng(2)
    for w in range(2):
        for e in range(N_ENDPOINTS):
            dep = reg.deployments().get(f"ep{e}")
            rows = rng.normal(size=(300, len(FEATURES))) + (0.8 if w else 0.0)
            lines = [
                json.dumps(
                    {
                        "kind": "prediction",
                        "ts": iso(clock.t - 30 + i * 0.05),
                        "prediction_id": f"{w}{e:02d}{i:029x}",
                        "endpoint": f"ep{e}",
                        "model": dep["model"],
                        "version": dep["stable_version"],
                        "variant": "stable",
                        "principal": f"c{i % 40}",
                        "latency_ms": 1.0,
                        "prediction": 1,
                        "confidence": 0.8,
                        "features": dict(zip(FEATURES, r.tolist(), strict=True)),
                    }
                )
                for i, r in enumerate(rows)
            ]
            key = f"prediction-logs/ep{e}/2026/09/21/{w:06d}.ndjson"
            store.put(key, ("\n".join(lines) + "\n").encode())
            job.run(object_created_event(key, bucket="b", namespace="n", size=1))
        clock.t += 60


def write_alarms(root: Path, sqlite, clock: Clock):
    from mlops.monitoring.alarms import AlarmRule
    from mlops.monitoring.evaluator import AlarmEvaluator
    from mlops.monitoring.notify import NdjsonNotifier

    rules = [
        AlarmRule(
            name=f"ep{e}-drift",
            namespace="mlops",
            metric="drift_share",
            dimensions={"endpoint": f"ep{e}"},
            interval="5m",
            statistic="max",
            operator=">",
            threshold=0.2,
            pending_duration="PT1M",
        )
        for e in range(N_ENDPOINTS)
    ]
    state, notify = root / "alarm-state.json", root / "notifications.ndjson"
    AlarmEvaluator(sqlite, rules, clock, state_path=state).evaluate()
    n = NdjsonNotifier(notify, clock=clock)
    for i in range(2000):
        n.publish(f"note {i}", {"text": "x" * 200})
    return rules, state, notify


def build(root: Path, step_s: float):
    from mlops.console.app import build_app, gateway_spec
    from mlops.console.sources import ConsoleSources
    from mlops.monitoring.reader import SqliteMetricsReader
    from mlops.monitoring.sqlite import SqliteMetrics
    from mlops.settings import settings_from_config

    clock = Clock(T_END - 3600)
    t0 = time.perf_counter()
    store, reg, X = build_registry(root, clock)
    deploy(reg, clock)
    sqlite = SqliteMetrics(root / "metrics.sqlite")
    points = write_metrics(sqlite, step_s)
    clock.t = T_END - 120
    write_drift(store, reg, sqlite, clock, X)
    clock.t = T_END
    rules, state, notify = write_alarms(root, sqlite, clock)
    settings = settings_from_config(
        {
            "mlops:endpoints": [{"name": f"ep{e}", "model": f"model{e % N_MODELS}"} for e in range(10)],
            "mlops:store": {"backend": "file", "path": str(root / "store")},
        },
        stack="bench",
    )
    src = ConsoleSources(
        registry=reg,
        metrics=SqliteMetricsReader(sqlite),
        namespace="mlops",
        application=APP,
        alarm_rules=rules,
        alarm_state_path=state,
        notify_file=notify,
        clock=clock,
        endpoints=tuple(f"ep{e}" for e in range(N_ENDPOINTS)),
    )
    router = build_app(reg, src, lambda: gateway_spec(settings))
    print(
        f"world built in {time.perf_counter() - t0:.0f} s: {N_MODELS * VERSIONS_PER_MODEL} versions, "
        f"{N_ENDPOINTS} endpoints, {points:,} metric points, {reg.audit.last_seq()} audit entries",
        file=sys.stderr,
    )
    return router, reg


ROUTES = [
    ("overview", "/v1/console/overview"),
    ("endpoint (canary, A/B)", "/v1/console/endpoints/ep0"),
    ("endpoint (stable only)", "/v1/console/endpoints/ep1"),
    ("metrics 1h", "/v1/console/endpoints/ep0/metrics?window=1h"),
    ("metrics 1d", "/v1/console/endpoints/ep0/metrics?window=1d"),
    ("metrics 30d", "/v1/console/endpoints/ep0/metrics?window=30d"),
    ("models", "/v1/console/models"),
    ("model (20 versions)", "/v1/console/models/model0"),
    ("version", "/v1/console/models/model0/versions/7"),
    ("compare", "/v1/console/models/model0/compare?a=3&b=9"),
    ("drift (all endpoints)", "/v1/console/drift"),
    ("drift report", "/v1/console/drift/report?endpoint=ep3&model=model3&version=4"),
    ("alarms", "/v1/console/alarms"),
    ("audit (newest 100)", "/v1/console/audit"),
    ("audit (endpoint)", "/v1/console/audit?endpoint=ep4"),
    ("audit (actor)", "/v1/console/audit?actor=bob&limit=50"),
    ("audit served at T", "/v1/console/audit/served?endpoint=ep2&at=2026-09-21T13:00:00Z"),
    ("audit verify (kept a minute)", "/v1/console/audit/verify"),
    ("audit verify, fresh=1 (re-reads every entry)", "/v1/console/audit/verify?fresh=1"),
    ("openapi.json", "/v1/openapi.json"),
    ("peer: GET /v1/models", "/v1/models"),
    ("peer: GET deployment", "/v1/endpoints/ep0/deployment"),
]


def measure(router, url: str, rounds: int) -> tuple[float, float]:
    from mlops.function import dispatch
    from mlops.http import Request

    headers = {"x-mlops-principal": "bench", "x-mlops-scopes": "mlops:read"}
    samples = []
    for i in range(rounds + 3):
        t = time.perf_counter()
        resp = dispatch(router, Request.from_url("GET", url, headers))
        resp.encode()  # the JSON serialisation is part of the answer
        if i >= 3:
            samples.append(time.perf_counter() - t)
        assert resp.status == 200, (url, resp.status, resp.body)
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))] * 1000


def measure_cold(router, urls: list[str]) -> tuple[float, float]:
    """One call per URL, each the first for its data (the 30-day chart before its final buckets are kept)."""
    from mlops.function import dispatch
    from mlops.http import Request

    headers = {"x-mlops-principal": "bench", "x-mlops-scopes": "mlops:read"}
    samples = []
    for url in urls:
        t = time.perf_counter()
        resp = dispatch(router, Request.from_url("GET", url, headers))
        resp.encode()
        samples.append(time.perf_counter() - t)
        assert resp.status == 200, (url, resp.status)
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))] * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--metric-step-s", type=float, default=300.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        router, _ = build(Path(tmp), args.metric_step_s)
        print("| route | median ms | p95 ms | <= 100 ms p95 |\n|---|---:|---:|:---:|")
        worst = 0.0
        for name, url in ROUTES:
            med, p95 = measure(router, url, args.rounds)
            if not name.startswith("peer") and "fresh=1" not in name:
                worst = max(worst, p95)
            print(f"| {name} | {med:.1f} | {p95:.1f} | {'yes' if p95 <= 100 else 'NO'} |")
        cold = [f"/v1/console/endpoints/ep{e}/metrics?window=30d" for e in range(2, N_ENDPOINTS, 2)]
        med, p95 = measure_cold(router, cold)
        print(
            f"| metrics 30d, first call per endpoint ({len(cold)} endpoints, canary + stable) | {med:.1f} | "
            f"{p95:.1f} | {'yes' if p95 <= 100 else 'NO'} |"
        )
        print(f"\nworst console p95 (warm): {worst:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
