"""Benchmark: checking a table against an expectations suite (``mlops.quality``) vs peers, in the same run.

Data: ``--rows`` (default 1,000,000) x 20 columns, seeded: an int64 entity key, a timestamp[us, UTC] event
time, 12 float64 (normal; 2% NaN in four of them), 3 int32 and 3 strings of 8 categories (1% nulls).
The suite is inferred from the data (timed as ``infer``), so every check runs and passes: the full cost.

- ours, ``check``: ``mlops.quality.checks`` on the pyarrow Table (types, null rates, ranges, categories,
  key uniqueness, freshness).
- ours, ``row_masks``: the row-level masks a quarantine uses.
- baseline (numpy, no pandas): the same checks written the obvious way over numpy arrays already converted
  from the table (the conversion is not timed): ``np.isnan``, comparisons, ``np.isin`` on object arrays,
  ``np.unique`` for the key.
- pandera (optional, ``--pandera-python PATH`` to a Python of a separate venv with pandera and pandas; never
  this project's venv): a ``DataFrameSchema`` with the same checks (dtype, range and ``isin`` element checks,
  ``unique`` key, a column-level null-rate check), ``validate(lazy=True)`` on a pandas DataFrame read from
  the same Parquet file (the read is not timed). Also its import time vs ours, each in a fresh process
  (``-X importtime``, the cost a function's cold start pays).

Medians over ``--rounds``; ratios are peer / ours (> 1: ours faster). Nothing is asserted.

    .venv/bin/python tests/benchmarks/bench_quality.py [--rows 1000000] [--rounds 5] [--pandera-python P]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

NOW = 1_796_000_000.0


def make(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    cols: dict[str, pa.Array] = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    micros = ((NOW - 3600 - rng.random(rows) * 86400 * 30) * 1e6).astype(np.int64)
    cols["ts"] = pa.array(micros, type=pa.timestamp("us", tz="UTC"))
    for i in range(12):
        x = rng.normal(i, 1 + i, rows)
        if i < 4:
            x[rng.random(rows) < 0.02] = np.nan
        cols[f"f{i}"] = pa.array(x, from_pandas=False)
    for i in range(3):
        cols[f"n{i}"] = pa.array(rng.integers(0, 1000, rows).astype(np.int32))
    cats = np.array([f"cat-{k}" for k in range(8)], dtype=object)
    for i in range(3):
        s = cats[rng.integers(0, 8, rows)]
        s[rng.random(rows) < 0.01] = None
        cols[f"s{i}"] = pa.array(s, type=pa.string())
    return pa.table(cols)


def median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_baseline(suite, arrays: dict[str, np.ndarray]) -> int:
    """The same aggregate checks, written plainly over numpy arrays; the number of failures."""
    failures = 0
    n = len(next(iter(arrays.values())))
    for exp in suite.columns:
        a = arrays[exp.name]
        if a.dtype == object:
            missing = np.fromiter((v is None for v in a), bool, n)
        elif a.dtype.kind == "f":
            missing = np.isnan(a)
        else:
            missing = np.zeros(n, bool)
        failures += int(missing.mean() > (exp.max_null_rate or 1.0))
        if exp.min is not None and a.dtype.kind in "fi":
            lo, hi = exp.bounds()
            out = (a < lo) | (a > hi)
            failures += int(out.mean() > exp.max_out_of_range)
        if exp.categories is not None:
            unseen = ~np.isin(a, np.array(exp.categories, dtype=object)) & ~missing
            failures += int(unseen.sum() / max(1, (~missing).sum()) > exp.max_unseen)
    for key in suite.unique_keys:
        failures += int(len(np.unique(arrays[key])) < n)
    newest = arrays[suite.freshness["column"]].max() / 1e6
    failures += int(NOW - newest > suite.freshness["max_age_s"])
    return failures


PANDERA_SCRIPT = r"""
import json, statistics, sys, time
import pandas as pd, pandera.pandas as pa_
path, suite_json, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
suite = json.loads(open(suite_json).read())
df = pd.read_parquet(path)
columns = {}
for name, c in suite["columns"].items():
    checks = []
    if c.get("min") is not None:
        pad = c["range_tolerance"] * (c["max"] - c["min"])
        checks.append(pa_.Check.in_range(c["min"] - pad, c["max"] + pad, ignore_na=True))
    if c.get("categories") is not None:
        checks.append(pa_.Check.isin(c["categories"], ignore_na=True))
    rate = c.get("max_null_rate")
    checks.append(pa_.Check(lambda s, r=rate: s.isna().mean() <= r, element_wise=False, ignore_na=False))
    columns[name] = pa_.Column(nullable=True, checks=checks, unique=name in suite["dataset"].get("unique_keys", []))
schema = pa_.DataFrameSchema(columns)
times = []
for _ in range(rounds):
    t0 = time.perf_counter(); schema.validate(df, lazy=True); times.append(time.perf_counter() - t0)
print(json.dumps({"validate_s": statistics.median(times)}))
"""


def import_ms(python: str, module: str, env_path: str | None = None) -> float:
    """Cumulative import time of ``module`` (ms) in a fresh process, from ``-X importtime``."""
    env = {"PYTHONPATH": env_path} if env_path else {}
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    last = [line for line in proc.stderr.splitlines() if line.rstrip().endswith(f" {module}")][-1]
    return int(last.split("|")[1]) / 1000


def run_pandera(python: str, table: pa.Table, suite, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        pq.write_table(table, path)
        (Path(tmp) / "suite.json").write_text(json.dumps(suite.to_dict()))
        (Path(tmp) / "bench.py").write_text(PANDERA_SCRIPT)
        out = subprocess.run(
            [python, str(Path(tmp) / "bench.py"), str(path), str(Path(tmp) / "suite.json"), str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["import_ms"] = min(import_ms(python, "pandera.pandas") for _ in range(3))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pandera-python", help="a Python with pandera and pandas (a separate venv)")
    args = ap.parse_args()
    from mlops.quality import check, infer, row_masks

    table = make(args.rows)
    t_infer = median_time(lambda: infer(table, entity_keys=["id"], event_time="ts", clock=lambda: NOW), 3)
    suite = infer(table, entity_keys=["id"], event_time="ts", clock=lambda: NOW)
    report = check(suite, table, clock=lambda: NOW)
    assert report.ok, report.to_text()
    t_check = median_time(lambda: check(suite, table, clock=lambda: NOW), args.rounds)
    t_masks = median_time(lambda: row_masks(suite, table), args.rounds)
    arrays = {n: table.column(n).to_numpy() for n in table.column_names}
    arrays["ts"] = table.column("ts").cast(pa.int64()).to_numpy()
    assert numpy_baseline(suite, arrays) == 0
    t_numpy = median_time(lambda: numpy_baseline(suite, arrays), args.rounds)
    ours_import = min(
        import_ms(sys.executable, "mlops.quality.checks", str(ROOT / "layers")) for _ in range(3)
    )
    result = {
        "rows": args.rows,
        "columns": table.num_columns,
        "infer_s": round(t_infer, 4),
        "check_s": round(t_check, 4),
        "row_masks_s": round(t_masks, 4),
        "numpy_baseline_s": round(t_numpy, 4),
        "numpy_over_ours": round(t_numpy / t_check, 2),
        "import_ms_mlops_quality_checks": round(ours_import, 1),
    }
    if args.pandera_python:
        pandera = run_pandera(args.pandera_python, table, suite, args.rounds)
        result.update(
            pandera_validate_s=round(pandera["validate_s"], 4),
            pandera_over_ours=round(pandera["validate_s"] / t_check, 2),
            import_ms_pandera=round(pandera["import_ms"], 1),
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
