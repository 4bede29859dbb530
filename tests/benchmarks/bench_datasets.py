"""Benchmark: write and read a dataset version on the file store vs plain pyarrow Parquet, in the same run.

Data: ``--rows`` (default 10,000,000) x 10 columns, seeded: an int64 id, a timestamp[us, UTC] event time,
six float64 (normal, 5% nulls in one), an int32 category and a short string (12 values). Built once in memory
before timing.

- ours, write: ``DatasetStore.create`` (parts of 1Mi rows, zstd, one row group per part; sha256 of every part,
  per-column null counts and the event-time range; each part stored by content in a ``FileStore``, which
  fsyncs every object; then the manifest, create-exclusive). Also timed with ``FileStore(fsync=False)``
  to show what durability costs.
- peer, write: ``pyarrow.parquet.write_table(table, path, compression="zstd")`` (one file, no fsync).
- ours, read: ``DatasetStore.read`` (every part read and its sha256 checked, then parsed, then concatenated).
- peer, read: ``pyarrow.parquet.read_table(path)``.
- streaming: a separate process creates the same data from a generator of 64Ki-row batches (never a whole
  table in memory) and reports its peak RSS, against the in-memory size of the table.

Medians over ``--rounds`` rounds; the ratio is ours / peer (1.0 = no overhead). Nothing is asserted.

    .venv/bin/python tests/benchmarks/bench_datasets.py [--rows 10000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

BATCH = 64 * 1024


def make_batch(start: int, n: int, seed: int) -> pa.RecordBatch:
    import numpy as np

    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {
        "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "ts": pa.array(
            np.int64(1_780_000_000_000_000) + np.arange(start, start + n, dtype=np.int64) * 1_000,
            pa.timestamp("us", tz="UTC"),
        ),
    }
    for j in range(6):
        values = rng.normal(size=n)
        mask = rng.random(n) < 0.05 if j == 0 else None
        cols[f"f{j}"] = pa.array(values, mask=mask)
    cols["category"] = pa.array(rng.integers(0, 50, size=n, dtype=np.int32))
    words = np.array([f"plan-{k:02d}" for k in range(12)], dtype=object)
    cols["plan"] = pa.array(words[rng.integers(0, 12, size=n)], pa.string())
    return pa.record_batch(cols)


def make_table(rows: int) -> pa.Table:
    batches = [make_batch(s, min(BATCH * 16, rows - s), s) for s in range(0, rows, BATCH * 16)]
    return pa.Table.from_batches(batches)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


STREAM_CHILD = """
import json, sys
sys.path.insert(0, {layers!r}); sys.path.insert(0, {bench!r})
import pyarrow as pa
from bench_datasets import BATCH, make_batch
from mlops.datasets import DatasetStore
from mlops.storage import FileStore
rows = {rows}
schema = make_batch(0, 1, 0).schema
reader = pa.RecordBatchReader.from_batches(
    schema, (make_batch(s, min(BATCH, rows - s), s) for s in range(0, rows, BATCH)))
def status(field):  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    line = next(x for x in open("/proc/self/status") if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024
before = status("VmRSS")
v = DatasetStore(FileStore({root!r})).create("stream", reader, entity_keys=["id"], event_time="ts")
print(json.dumps({{"rows": v.rows, "parts": len(v.parts), "rss_before_mb": before, "rss_peak_mb": status("VmHWM")}}))
"""


def streaming(rows: int, root: Path) -> dict:
    """Create ``rows`` rows from a generator in a fresh process; its peak RSS (VmHWM) and RSS before."""
    code = STREAM_CHILD.format(
        layers=str(ROOT / "layers"), bench=str(Path(__file__).parent), rows=rows, root=str(root)
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600
    )
    return json.loads(out.stdout)


def one_round(ds, ds_nosync, table: pa.Table, peer_path: Path, name: str) -> dict[str, float]:
    out = {"peer_write": _timed(lambda: pq.write_table(table, peer_path, compression="zstd"))}
    out["ours_write"] = _timed(lambda: ds.create(name, table, entity_keys=["id"], event_time="ts"))
    out["ours_write_nofsync"] = _timed(
        lambda: ds_nosync.create(name, table, entity_keys=["id"], event_time="ts")
    )
    out["peer_read"] = _timed(lambda: pq.read_table(peer_path))
    back: list[pa.Table] = []
    out["ours_read"] = _timed(lambda: back.append(ds.read(name)))
    assert back[0].num_rows == table.num_rows and back[0].equals(table)
    return out


def run(rows: int, rounds: int) -> None:
    from mlops.datasets import DatasetStore
    from mlops.storage import FileStore

    table = make_table(rows)
    mb = table.nbytes / 1e6
    work = Path(tempfile.mkdtemp(prefix="bench-datasets-"))
    try:
        ds = DatasetStore(FileStore(work / "store"))
        ds_nosync = DatasetStore(FileStore(work / "store-nosync", fsync=False))
        peer_path = work / "peer.parquet"
        t: dict[str, list[float]] = {}
        for r in range(rounds):
            for k, secs in one_round(ds, ds_nosync, table, peer_path, f"bench{r}").items():
                t.setdefault(k, []).append(secs)
            shutil.rmtree(work / "store-nosync" / "objects", ignore_errors=True)
        v = ds.get("bench0")
        med = {k: statistics.median(v_) for k, v_ in t.items()}
        peer_size = peer_path.stat().st_size / 1e6
        print(
            f"\n{rows:,} rows x 10 columns, {mb:,.0f} MB in memory; ours {v.manifest['bytes'] / 1e6:,.0f} MB "
            f"in {len(v.parts)} parts, peer {peer_size:,.0f} MB in one file; median of {rounds} rounds\n"
        )
        print("| step | ours (s) | ours MB/s | plain pyarrow (s) | pyarrow MB/s | ratio ours/peer |")
        print("|---|---|---|---|---|---|")
        for step, ours, peer in (
            ("write (fsync)", "ours_write", "peer_write"),
            ("write (no fsync)", "ours_write_nofsync", "peer_write"),
            ("read + verify", "ours_read", "peer_read"),
        ):
            print(
                f"| {step} | {med[ours]:.2f} | {mb / med[ours]:,.0f} | {med[peer]:.2f} | {mb / med[peer]:,.0f} "
                f"| {med[ours] / med[peer]:.2f} |"
            )
        s = streaming(rows, work / "stream-store")
        print(
            f"\nstreaming create from 64Ki-row batches: {s['rows']:,} rows in {s['parts']} parts, peak RSS "
            f"{s['rss_peak_mb']:,.0f} MB (process at start {s['rss_before_mb']:,.0f} MB) for {mb:,.0f} MB of data"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    run(a.rows, a.rounds)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--stream-only":
        print(streaming(int(sys.argv[2]), Path(tempfile.mkdtemp(prefix="bench-datasets-stream-"))))
    else:
        main()
