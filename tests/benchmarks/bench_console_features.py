"""Benchmark: the console's feature-group routes on a store with many groups and ingestion batches.

Run:  .venv/bin/python tests/benchmarks/bench_console_features.py [--groups 20] [--batches 30] [--rounds 40]

The world, made by the real library calls on a FileStore: ``--groups`` feature groups, each registered in
two versions (``register_group``); version 1 gets one batch and version 2 ``--batches`` batches
(``ingest`` of 20 rows over two event dates, every third batch with 2 rows the checks quarantine).

How it is measured: each route is called ``--rounds`` times (after 3 warm-up calls) through the registry
function's real router with a read-scoped caller (as ``bench_console.py``). "cold" clears the console's
cache of batch summaries before every call, so every manifest is read again, as on a fresh function
instance. The peer, measured in the same run on the same store: what ``mlops features list`` computes
(``list_groups`` + ``batch_summary``, which reads every manifest each time). Medians and p95 in ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

NOW_S = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 10**6)
DAY_US = 86_400 * 10**6


def _definition(name: str, extra: bool) -> dict:
    feats = [
        {"name": "orders_7d", "type": "int64", "nullable": False},
        {"name": "spend_7d", "type": "float64"},
    ]
    if extra:
        feats.append({"name": "is_vip", "type": "bool"})
    return {
        "name": name,
        "owner": "bench",
        "entity_keys": [{"name": "customer_id", "type": "string"}],
        "event_time": "event_ts",
        "ttl": "30d",
        "features": feats,
    }


def _batch(n: int, day: int, bad: bool, extra: bool):
    import pyarrow as pa

    cols = {
        "customer_id": pa.array([f"c{i}" for i in range(n)]),
        "event_ts": pa.array([T0 + (day + i % 2) * DAY_US + i for i in range(n)], pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "orders_7d": pa.array([None if bad and i < 2 else i for i in range(n)], pa.int64()),
        "spend_7d": pa.array([i * 1.5 for i in range(n)], pa.float64()),
    }
    if extra:
        cols["is_vip"] = pa.array([i % 3 == 0 for i in range(n)])
    return pa.table(cols)


def build(root: Path, groups: int, batches: int):
    from mlops.console.app import build_app
    from mlops.console.sources import ConsoleSources
    from mlops.features.definition import parse_definition
    from mlops.features.groups import register_group
    from mlops.features.ingest import ingest
    from mlops.registry import Registry
    from mlops.storage import FileStore

    store = FileStore(root / "store")
    for g in range(groups):
        name = f"group_{g:02d}"
        for extra in (False, True):
            register_group(store, parse_definition(_definition(name, extra), "b"), now=lambda: "t", actor="b")
            for b in range(batches if extra else 1):
                ingest(store, name, _batch(20, b % 28, b % 3 == 2, extra), now=lambda: NOW_S, actor="b")
    reg = Registry(store)
    return store, build_app(reg, ConsoleSources(registry=reg), lambda: {"routes": []})


def _stats(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))] * 1000


def measure(fn, rounds: int, before=None) -> tuple[float, float]:
    samples = []
    for i in range(rounds + 3):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        if i >= 3:
            samples.append(time.perf_counter() - t)
    return _stats(samples)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=20)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    from mlops.console import featuresview
    from mlops.features.groups import list_groups
    from mlops.features.offline import batch_summary
    from mlops.function import dispatch
    from mlops.http import Request

    headers = {"x-mlops-principal": "bench", "x-mlops-scopes": "mlops:read"}

    def call(url: str):
        def go() -> None:
            resp = dispatch(router, Request.from_url("GET", url, headers))
            resp.encode()
            assert resp.status == 200, (url, resp.status)

        return go

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        store, router = build(Path(tmp), args.groups, args.batches)
        total = args.groups * (args.batches + 1)
        print(
            f"{args.groups} groups x 2 versions, {total} batches ingested in {time.perf_counter() - t:.1f} s\n"
        )
        clear = featuresview.BATCHES._items.clear
        rows = [
            (f"features list ({args.groups} groups), warm", call("/v1/console/features"), None),
            (f"features list ({args.groups} groups), cold", call("/v1/console/features"), clear),
            (f"one group ({args.batches + 1} batches), warm", call("/v1/console/features/group_07"), None),
            (f"one group ({args.batches + 1} batches), cold", call("/v1/console/features/group_07"), clear),
            (
                "peer: `mlops features list`'s reads (every manifest)",
                lambda: [batch_summary(store, gv.group.name, gv.version) for gv in list_groups(store)],
                None,
            ),
        ]
        print("| what | median ms | p95 ms |\n|---|---:|---:|")
        for name, fn, before in rows:
            med, p95 = measure(fn, args.rounds, before)
            print(f"| {name} | {med:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
