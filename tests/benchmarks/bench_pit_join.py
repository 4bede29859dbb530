"""Benchmark: point-in-time join of labelled events against three feature groups, ours
(``mlops.features.pit.training_set``) vs Feast's local offline stores, on the same data in the same run.

Synthetic data, seeded, generated once into a temporary directory (or ``--data DIR``, kept and reused):
1M entities; three groups with int64 key ``customer_id`` — ``orders`` (50% of the rows, TTL 30d),
``sessions`` (30%, TTL 7d), ``profile`` (20%, TTL 90d) — two features each, 10M feature rows in all, event
times uniform over 90 days at microsecond resolution; 1M labels (10% of them for entities without features),
timestamps over days 10..100.

- ours: the three groups registered and ingested into a ``FileStore`` and their snapshots built (what the first
  join after an ingestion does; both times reported apart, not in the join's), then
  ``training_set(store, labels, groups)`` timed: a lookup and a vectorised bisection per group over the
  sorted snapshot (``mlops.features.pit``).
- peer: Feast (``.mlops/bench-venvs/feast``, ``bash .ci/peer-venv feast``; never a project dependency) with
  the same Parquet files as ``FileSource``s, a ``FeatureView`` per group with the same TTL, and
  ``get_historical_features(entity_df, features).to_arrow()`` timed inside its own process (imports and
  ``apply`` not counted), for each of its local offline stores given by ``--peer-stores`` (dask = the
  ``file`` store, duckdb = the ibis-based one).

The table shows medians over ``--rounds`` of wall and CPU seconds (all threads of the process; on a shared
machine CPU time is the steadier figure) and the ratios peer / ours, and the number of label rows where the
two answers differ (compared by a label id; there are no ties in the data, so the answers must agree), and
the number of label rows missing from the peer's answer.

    .venv/bin/python tests/benchmarks/bench_pit_join.py [--labels 1000000] [--rows 10000000] [--rounds 3]
        [--peer-stores dask,duckdb] [--peer-timeout 1800] [--no-peer] [--data DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))
sys.path.insert(0, str(ROOT))

from mlops.features.definition import parse_definition  # noqa: E402
from mlops.features.groups import get_group, register_group  # noqa: E402
from mlops.features.ingest import ingest  # noqa: E402
from mlops.features.pit import training_set  # noqa: E402
from mlops.features.snapshot import build_snapshot  # noqa: E402
from mlops.storage import FileStore  # noqa: E402

from tests.harness import peer_venv_python  # noqa: E402

DAY_US = 86_400 * 1_000_000
T0_US = 1_704_067_200 * 1_000_000  # 2024-01-01T00:00:00Z
# name: (share of the rows, ttl days, ((feature, type), ...))
GROUPS = {
    "orders": (0.5, 30, (("orders_7d", "int64"), ("spend_7d", "float64"))),
    "sessions": (0.3, 7, (("sessions_1d", "int64"), ("minutes_1d", "float64"))),
    "profile": (0.2, 90, (("tenure_days", "int64"), ("score", "float64"))),
}
TARGET_RATIO = 5.0  # issue 15: >= 5x Feast on the join

PEER_SCRIPT = textwrap.dedent(
    """
    import json, os, statistics, sys, time
    from datetime import timedelta
    os.environ.setdefault("FEAST_USAGE", "False")
    import pandas as pd, pyarrow.parquet as pq
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64
    import feast
    data, kind, rounds, groups = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    repo = os.path.join(data, "feast-" + kind)
    os.makedirs(repo, exist_ok=True)
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(f"project: bench\\nregistry: {repo}/registry.db\\nprovider: local\\n"
                f"offline_store:\\n  type: {kind}\\nonline_store:\\n  type: sqlite\\n  path: {repo}/online.db\\n"
                "entity_key_serialization_version: 3\\n")
    store = FeatureStore(repo_path=repo)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    views, refs = [], []
    for name, (ttl_days, feats) in groups.items():
        src = FileSource(name=name + "_src", path=os.path.join(data, name + ".parquet"), timestamp_field="event_timestamp")
        types = {"int64": Int64, "float64": Float64}
        views.append(FeatureView(name=name, entities=[customer], ttl=timedelta(days=ttl_days),
                                 schema=[Field(name=f, dtype=types[t]) for f, t in feats], source=src))
        refs += [f"{name}:{f}" for f, _ in feats]
    store.apply([customer, *views])
    entity_df = pd.read_parquet(os.path.join(data, "labels.parquet"))
    times, cpu = [], []
    for i in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        out = store.get_historical_features(entity_df=entity_df, features=refs).to_arrow()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        if i == 0:
            pq.write_table(out, os.path.join(data, "peer-" + kind + ".parquet"))
    print(json.dumps({"times": times, "cpu": cpu, "version": feast.__version__}))
    """
)


def generate(data: Path, n_labels: int, n_rows: int, seed: int = 0) -> None:
    """The groups' Parquet files and the labels, unless ``data`` already holds them for these sizes."""
    stamp = data / "sizes.json"
    want = {"labels": n_labels, "rows": n_rows, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return
    rng = np.random.default_rng(seed)
    n_entities = 1_000_000
    for name, (share, _ttl, feats) in GROUPS.items():
        n = int(n_rows * share)
        cols = {
            "customer_id": rng.integers(0, n_entities, n),
            "event_timestamp": pa.array(T0_US + rng.integers(0, 90 * DAY_US, n)).cast(
                pa.timestamp("us", "UTC")
            ),
        }
        for f, kind in feats:
            cols[f] = rng.integers(0, 1000, n) if kind == "int64" else rng.random(n)
        pq.write_table(pa.table(cols), data / f"{name}.parquet")
    labels = pa.table(
        {
            "customer_id": rng.integers(0, int(n_entities * 1.1), n_labels),
            "event_timestamp": pa.array(T0_US + rng.integers(10 * DAY_US, 100 * DAY_US, n_labels)).cast(
                pa.timestamp("us", "UTC")
            ),
            "label_id": np.arange(n_labels),
            "label": rng.integers(0, 2, n_labels),
        }
    )
    pq.write_table(labels, data / "labels.parquet")
    stamp.write_text(json.dumps(want))


def prepare_ours(data: Path) -> tuple[FileStore, float, float]:
    """Register and ingest the groups into a fresh file store, then build their snapshots (what the first
    join after an ingestion does); returns the store, the ingestion and the snapshot seconds."""
    root = data / f"store-{os.getpid()}"
    store = FileStore(root)
    t = time.perf_counter()
    for name, (_share, ttl, feats) in GROUPS.items():
        doc = {
            "name": name,
            "entity_keys": [{"name": "customer_id", "type": "int64"}],
            "event_time": "event_timestamp",
            "ttl": f"{ttl}d",
            "features": [{"name": f, "type": k} for f, k in feats],
        }
        register_group(store, parse_definition(doc, name), now=lambda: "2026-01-01T00:00:00Z", actor="bench")
        res = ingest(store, name, str(data / f"{name}.parquet"), now=lambda: 2e9)
        assert res.rows_quarantined == 0, res
    ingest_s = time.perf_counter() - t
    t = time.perf_counter()
    for name in GROUPS:
        build_snapshot(store, get_group(store, name))
    return store, ingest_s, time.perf_counter() - t


def compare(ours: pa.Table, theirs: pa.Table) -> dict[str, int]:
    """Label rows missing from the peer's answer, and rows (by label id) whose features differ (nulls equal
    nulls; the data has no NaN)."""
    feats = [f for _s, _t, fs in GROUPS.values() for f, _ in fs]
    peer = theirs.select(["label_id", *feats]).rename_columns(["label_id", *[f + "__peer" for f in feats]])
    both = ours.select(["label_id", *feats]).join(peer, "label_id", join_type="inner")
    bad = np.zeros(both.num_rows, dtype=bool)
    for f in feats:
        x = both[f].cast(pa.float64()).to_numpy(zero_copy_only=False)
        y = both[f + "__peer"].cast(pa.float64()).to_numpy(zero_copy_only=False)
        xn, yn = np.isnan(x), np.isnan(y)
        bad |= (xn != yn) | (~xn & ~yn & (x != y))
    return {"missing_rows": ours.num_rows - both.num_rows, "differing_rows": int(bad.sum())}


def run_peer(python: Path, data: Path, kind: str, rounds: int, timeout_s: float) -> dict:
    (data / "peer.py").write_text(PEER_SCRIPT)
    groups = {name: (ttl, feats) for name, (_s, ttl, feats) in GROUPS.items()}
    try:
        out = subprocess.run(
            [str(python), str(data / "peer.py"), str(data), kind, str(rounds), json.dumps(groups)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=data,
            env={**os.environ, "FEAST_USAGE": "False"},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s ({rounds} rounds)"}
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["exit " + str(out.returncode)])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-stores", default="dask,duckdb")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument(
        "--peer-timeout", type=float, default=1800, help="seconds for all rounds of one peer store"
    )
    ap.add_argument("--data", help="directory to keep the generated data in (reused when the sizes match)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    python = None if args.no_peer else peer_venv_python("feast")
    if python is None and not args.no_peer:
        sys.exit("no feast venv at .mlops/bench-venvs/feast (bash .ci/peer-venv feast), or pass --no-peer")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        generate(data, args.labels, args.rows)
        store, ingest_s, snapshot_s = prepare_ours(data)
        labels = pq.read_table(data / "labels.parquet")
        times, cpu, ours = [], [], None
        for _ in range(args.rounds):
            t, c = time.perf_counter(), time.process_time()
            ours = training_set(store, labels, list(GROUPS))
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        assert ours is not None
        report = {
            "labels": args.labels,
            "feature_rows": args.rows,
            "ingest_s": ingest_s,
            "snapshot_s": snapshot_s,
            "ours_s": statistics.median(times),
            "ours_cpu_s": statistics.median(cpu),
            "ours_labels_with_orders": ours.num_rows - ours["orders_7d"].null_count,
            "peers": {},
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
        for kind in [] if python is None else [k for k in args.peer_stores.split(",") if k]:
            peer = run_peer(python, data, kind, args.rounds, args.peer_timeout)
            if "times" in peer:
                peer["median_s"] = statistics.median(peer["times"])
                peer["ratio"] = peer["median_s"] / report["ours_s"]
                peer["cpu_s"] = statistics.median(peer["cpu"])
                peer["cpu_ratio"] = peer["cpu_s"] / report["ours_cpu_s"]
                peer.update(compare(ours, pq.read_table(data / f"peer-{kind}.parquet")))
            report["peers"][kind] = peer
        _print(report, args.json)


def _print(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"point-in-time join: {report['labels']:,} labels x 3 groups, {report['feature_rows']:,} feature rows "
        f"({report['cpus']} cpus, Python {report['python']})"
    )
    print(
        f"  ours (sorted snapshots)       median {report['ours_s']:8.2f} s wall {report['ours_cpu_s']:8.2f} s cpu   "
        f"(not timed: ingestion {report['ingest_s']:.1f} s, snapshot build {report['snapshot_s']:.1f} s)"
    )
    for kind, peer in report["peers"].items():
        if "error" in peer:
            print(f"  feast {kind:<7} failed: {peer['error']}")
            continue
        verdict = "meets" if peer["ratio"] >= TARGET_RATIO else "misses"
        print(
            f"  feast {peer['version']} {kind:<7}   median {peer['median_s']:8.2f} s wall {peer['cpu_s']:8.2f} s cpu"
            f"   feast/ours {peer['ratio']:.1f}x wall, {peer['cpu_ratio']:.1f}x cpu ({verdict} the "
            f"{TARGET_RATIO:.0f}x target on wall time); label rows missing from its answer: "
            f"{peer['missing_rows']:,}, differing: {peer['differing_rows']:,}"
        )


if __name__ == "__main__":
    main()
