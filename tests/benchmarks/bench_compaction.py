"""Benchmark: compaction of prediction logs to Parquet, and building the labelled dataset from it vs from JSON.

Prediction records are made by the real code path (``mlops.serving.records.emit_prediction_records``, the
function the inference service calls, with ``retain_features`` on: every record carries its 8 features) and
rolled into ~1 MB NDJSON log objects ``prediction-logs/bench/<day>/...`` of a ``FileStore`` exactly as the
local log shipper writes them; feedback for 30% of the predictions, in random order with 5% duplicated,
lands in log objects two days later. Then, in the same run:

- ``compact``: the prediction day and the feedback day into Parquet partitions (one-off cost, timed once);
- ours: ``build`` of the labelled dataset from the partitions (median of ``--rounds``);
- peer: the same labelled rows built by re-parsing every log object with the stdlib ``json`` (a dict of
  predictions by id, the latest label per id, one row per labelled prediction with features), which is what
  building a dataset costs without compaction (median of ``--rounds``). Both sides' row counts are compared.

Also, the inference hot path A/B (the brief: unchanged when ``retain_features`` is off): the per-request cost of
``emit_prediction_records`` for a 1-row and a 100-row request, this branch's function (retention off and on) vs
``main``'s version of the function loaded from git in the same process (skipped when git has no ``main``).

    .venv/bin/python tests/benchmarks/bench_compaction.py [--lines 1000000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

from mlops.http import Request  # noqa: E402
from mlops.serving.records import Scored, emit_prediction_records  # noqa: E402

N_FEATURES = 8
NAMES = [f"x{i}" for i in range(N_FEATURES)]
OBJECT_BYTES = 1_000_000
BARE_BYTES: list[int] = []


class _Sig:
    names = NAMES


class _Model:
    """What ``emit_prediction_records`` reads of the loaded model: ``version`` and ``signature.names``."""

    version = 3
    signature = _Sig()


def _request() -> Request:
    return Request.from_url("POST", "/v1/endpoints/bench/predict", {"x-mlops-principal": "svc"}, b"{}")


def _objects(lines, store, prefix: str) -> int:
    buf, size, seq, total = [], 0, 0, 0
    for line in lines:
        buf.append(line)
        size += len(line) + 1
        if size >= OBJECT_BYTES:
            seq += 1
            total += size
            store.put(f"{prefix}{seq:06d}.ndjson", ("\n".join(buf) + "\n").encode())
            buf, size = [], 0
    if buf:
        seq += 1
        total += size
        store.put(f"{prefix}{seq:06d}.ndjson", ("\n".join(buf) + "\n").encode())
    return total


def make_logs(store, n: int) -> tuple[int, int]:
    """``n`` prediction lines (2026-09-01) and labels for 30% of them (2026-09-03); returns their JSON bytes."""
    rng = np.random.default_rng(0)
    m, req, pids = _Model(), _request(), []
    out: list[str] = []

    def emit(rec):
        rec["ts"] = "2026-09-01T12:00:00.000Z"
        pids.append(rec["prediction_id"])
        line = json.dumps(rec, separators=(",", ":"))
        out.append(line)
        if len(pids) <= 1000:  # the same record without its features: what the log costs without retention
            bare = {k: v for k, v in rec.items() if k not in ("features", "sampled")}
            BARE_BYTES.append(len(json.dumps(bare, separators=(",", ":"))) + 1)

    def gen():
        for start in range(0, n, 1000):
            k = min(1000, n - start)
            X = rng.normal(size=(k, N_FEATURES))
            ids = [f"{start + i:032x}" for i in range(k)]
            s = Scored(m, X, [int(v > 0) for v in X[:, 0]], np.full(k, 0.9), ids, 1.0, "stable")  # type: ignore[arg-type]
            emit_prediction_records(
                emit,
                req,
                s,
                endpoint="bench",
                model_name="m",
                sample_rate=0.05,
                rng=random.Random(1),
                retain_features=True,
            )
            yield from out
            out.clear()

    pred_bytes = _objects(gen(), store, "prediction-logs/bench/2026/09/01/")
    r = random.Random(2)
    labelled = r.sample(pids, len(pids) * 3 // 10)
    labelled += r.sample(labelled, len(labelled) // 20)
    r.shuffle(labelled)
    fb = (
        json.dumps(
            {
                "kind": "feedback",
                "ts": f"2026-09-03T00:00:{i % 60:02d}Z",
                "prediction_id": p,
                "endpoint": "bench",
                "actual": i % 2,
            },
            separators=(",", ":"),
        )
        for i, p in enumerate(labelled)
    )
    return pred_bytes, _objects(fb, store, "prediction-logs/bench/2026/09/03/")


def peer_build(store) -> int:
    """The labelled rows from the JSON log objects, with the stdlib json (no compaction)."""
    preds: dict[str, dict] = {}
    labels: dict[str, tuple[str, object]] = {}
    for key in store.list("prediction-logs/bench/"):
        for line in store.get(key).data.splitlines():
            r = json.loads(line)
            if r["kind"] == "prediction":
                preds.setdefault(r["prediction_id"], r)
            elif r["kind"] == "feedback":
                prev = labels.get(r["prediction_id"])
                if prev is None or prev[0] <= r["ts"]:
                    labels[r["prediction_id"]] = (r["ts"], r["actual"])
    rows = [
        {**p["features"], "prediction_id": pid, "label": labels[pid][1]}
        for pid, p in preds.items()
        if pid in labels and p.get("features")
    ]
    return len(rows)


def _median_time(fn, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _main_records():
    """``main``'s records.py as a module of its own (the hot-path baseline), or None without git/main."""
    try:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", "main:layers/mlops/serving/records.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "records_main.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("records_main", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["records_main"] = mod
    spec.loader.exec_module(mod)
    return mod


def hot_path(calls: int = 20000) -> dict[str, float]:
    """Median µs per request of emit_prediction_records: main vs this branch (off, on); 1 and 100 rows."""
    base = _main_records()
    req, m, out = _request(), _Model(), {}

    def sink(rec):
        json.dumps(rec, separators=(",", ":"))  # what write_line costs, without the terminal

    for rows in (1, 100):
        X = np.random.default_rng(0).normal(size=(rows, N_FEATURES))
        n = max(200, calls // rows)
        ids = [f"{i:032x}" for i in range(rows)]
        variants = {
            "branch_off": (emit_prediction_records, Scored, {"retain_features": False}),
            "branch_on": (emit_prediction_records, Scored, {"retain_features": True}),
        }
        if base is not None:
            variants["main"] = (base.emit_prediction_records, base.Scored, {})
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(7):  # rounds interleave the variants, so drift of the machine hits all alike
            for name, (fn, scored, extra) in variants.items():
                s = scored(m, X, [1] * rows, np.full(rows, 0.9), ids, 1.0, "stable")
                rng = random.Random(3)
                t = time.perf_counter()
                for _ in range(n):
                    fn(sink, req, s, endpoint="bench", model_name="m", sample_rate=0.1, rng=rng, **extra)
                times[name].append((time.perf_counter() - t) / n * 1e6)
        for name, ts in times.items():
            out[f"{name}_{rows}row_us"] = statistics.median(ts[1:])  # the first round warms up
    return out


def run(lines: int, rounds: int) -> dict:
    from mlops.production import build, compact
    from mlops.storage import FileStore

    work = Path(tempfile.mkdtemp(prefix="bench-compaction-"))
    try:
        store = FileStore(str(work / "store"), fsync=False)
        pred_bytes, fb_bytes = make_logs(store, lines)
        t = time.perf_counter()
        c1 = compact(store, "bench", "2026-09-01")
        c2 = compact(store, "bench", "2026-09-03")
        compact_s = time.perf_counter() - t
        parquet_bytes = sum(f["size"] for c in (c1, c2) for f in c.files)
        ours_s, res = _median_time(lambda: build(store, "bench", "2026-09-01", "2026-09-02"), rounds)
        peer_s, peer_rows = _median_time(lambda: peer_build(store), rounds)
        assert res.stats.rows == peer_rows, (res.stats, peer_rows)  # type: ignore[attr-defined]
        return {
            "lines": lines,
            "labels": c2.counts.feedback,
            "json_mb": round((pred_bytes + fb_bytes) / 1e6, 1),
            "parquet_mb": round(parquet_bytes / 1e6, 1),
            "json_bytes_per_prediction": round(pred_bytes / lines, 1),
            "json_bytes_per_prediction_without_features": round(statistics.mean(BARE_BYTES), 1),
            "parquet_bytes_per_prediction": round(sum(f["size"] for f in c1.files) / lines, 1),
            "compact_s": round(compact_s, 2),
            "compact_lines_per_s": round((lines + c2.counts.feedback) / compact_s),
            "build_from_parquet_s": round(ours_s, 2),
            "build_from_json_s": round(peer_s, 2),
            "speedup": round(peer_s / ours_s, 1),
            "rows": peer_rows,
            **{k: round(v, 2) for k, v in hot_path().items()},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = run(a.lines, a.rounds)
    if a.json:
        print(json.dumps(out, indent=2))
        return
    width = max(len(k) for k in out)
    for k, v in out.items():
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
