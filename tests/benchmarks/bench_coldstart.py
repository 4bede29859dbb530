"""Benchmark: cold start to the first prediction of a logistic-regression pipeline, ONNX vs joblib (issue 18).

One ``StandardScaler`` + ``LogisticRegression`` pipeline (20 features, seeded) is registered twice in a
throwaway file store: as model ``onnx`` with its training rows (so the registry stores a verified
ONNX export, ``mlops.registry.onnxexport``) and as model ``joblib`` with a signature only (no
training rows: no export, served from the joblib artifact). Then, alternating ONNX / joblib, a
fresh ``python`` process does what the inference function does on its first request and nothing
else, timed from its first line:

1. import what ``functions/inference/func.py`` imports for serving (``mlops.registry.Registry``,
   ``mlops.serving.inference``, ``mlops.serving.source``, ``mlops.storage``);
2. ``RegistrySource.load(1)``: read the version record, read the artifact and verify its sha256
   and size, then for ONNX import onnxruntime and build a one-thread session
   (``mlops.serving.onnxscorer``), for joblib ``joblib.load`` (which imports scikit-learn);
3. score one row with ``mlops.serving.inference.score`` (what a predict request calls).

The fdk runtime's own start and the interpreter's start are the same for both and not counted in
``in-process``; ``process`` is the parent's wall time from spawn to the child's answer (interpreter
start included); ``in-process CPU`` / ``process CPU`` are the child's CPU time over the same spans
(``time.process_time``, ``getrusage``), steadier than wall time on a shared machine. Each child also reports whether sklearn / joblib ended up imported, and both
paths must answer the same probability (to 1e-9). Medians of ``--rounds`` (>= 7) each, same run.

    .venv/bin/python tests/benchmarks/bench_coldstart.py [--rounds 9] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N_FEATURES = 20
TARGET_ONNX_S = 0.3

CHILD = textwrap.dedent("""
    import time
    t0, c0 = time.perf_counter(), time.process_time()
    import json, sys
    from mlops.registry import Registry
    from mlops.serving.inference import InferenceService, score
    from mlops.serving.source import RegistrySource
    from mlops.storage import FileStore
    import numpy as np
    t1 = time.perf_counter()
    store = FileStore(sys.argv[1])
    src = RegistrySource(Registry(store), store, endpoint="ep", model=sys.argv[2], variant="stable",
                         alias="production")
    m = src.load(1)
    t2 = time.perf_counter()
    preds, proba, _ = score(m, np.asarray([json.loads(sys.argv[3])], dtype=np.float64))
    t3, c3 = time.perf_counter(), time.process_time()
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"total": t3 - t0, "cpu": ru.ru_utime + ru.ru_stime, "cpu_in": c3 - c0, "imports": t1 - t0, "load": t2 - t1, "predict": t3 - t2,
                      "p": float(proba[0][1]), "scorer": type(m.model).__name__,
                      "sklearn": "sklearn" in sys.modules, "joblib": "joblib" in sys.modules}))
""")


def setup(root: Path) -> list[float]:
    """Register the pipeline as ``onnx`` (with training rows) and ``joblib`` (signature only); one row."""
    import numpy as np
    from mlops.registry import Registry
    from mlops.storage import FileStore
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, N_FEATURES))
    y = (X[:, :3].sum(axis=1) + rng.normal(size=5000) > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    names = [f"f{i}" for i in range(N_FEATURES)]
    reg = Registry(FileStore(str(root)), actor="bench")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = reg.register_version("onnx", model, X, y, feature_names=names)
    assert rec["onnx"]["status"] == "verified", rec["onnx"]
    sig = {"inputs": [{"name": n, "dtype": "float64"} for n in names], "classes": [0, 1]}
    assert reg.register_version("joblib", model, signature=sig)["onnx"] is None
    return X[0].tolist()


def once(root: Path, model: str, row: list[float]) -> dict:
    start = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), model, json.dumps(row)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{model} child failed:\n{r.stderr}")
    out = json.loads(r.stdout)
    out["process"] = wall
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9, help="cold starts per path (>= 7), alternating")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.rounds < 7:
        ap.error("--rounds must be >= 7")
    with tempfile.TemporaryDirectory(prefix="mlops-bench-cold-") as tmp:
        root = Path(tmp) / "store"
        row = setup(root)
        runs: dict[str, list[dict]] = {"onnx": [], "joblib": []}
        for i in range(args.rounds):
            order = ("onnx", "joblib") if i % 2 == 0 else ("joblib", "onnx")
            for name in order:
                runs[name].append(once(root, name, row))
    res = {name: summarize(rs) for name, rs in runs.items()}
    p_onnx, p_joblib = runs["onnx"][0]["p"], runs["joblib"][0]["p"]
    assert abs(p_onnx - p_joblib) < 1e-9, (p_onnx, p_joblib)
    assert res["onnx"]["scorer"] == "OnnxScorer" and not res["onnx"]["sklearn"] and not res["onnx"]["joblib"]
    res["ratio"] = res["joblib"]["total"] / res["onnx"]["total"]
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(
        f"cold start to first prediction, StandardScaler+LogisticRegression ({N_FEATURES} features), "
        f"median of {args.rounds} fresh processes each, alternating\n"
    )
    print(
        "| path | in-process (s) | imports | load | predict | in-process CPU (s) | process (s) "
        "| process CPU (s) | sklearn imported |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("onnx", "joblib"):
        r = res[name]
        print(
            f"| {name} ({r['scorer']}) | {r['total']:.3f} | {r['imports']:.3f} | {r['load']:.3f} | "
            f"{r['predict'] * 1000:.1f} ms | {r['cpu_in']:.3f} | {r['process']:.3f} | {r['cpu']:.3f} | {r['sklearn']} |"
        )

    def verdict(v: float) -> str:
        return "met" if v <= TARGET_ONNX_S else "NOT met"

    o = res["onnx"]
    print(
        f"\njoblib / onnx (in-process): {res['ratio']:.1f}x wall, {res['joblib']['cpu_in'] / o['cpu_in']:.1f}x CPU; "
        f"target onnx <= {TARGET_ONNX_S} s: wall {verdict(o['total'])}, CPU {verdict(o['cpu_in'])} "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    return 0


def summarize(rs: list[dict]) -> dict:
    out: dict = {
        k: statistics.median(r[k] for r in rs)
        for k in ("total", "imports", "load", "predict", "process", "cpu", "cpu_in")
    }
    out.update(
        scorer=rs[0]["scorer"], sklearn=any(r["sklearn"] for r in rs), joblib=any(r["joblib"] for r in rs)
    )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
