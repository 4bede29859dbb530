"""Benchmark: register a small model and resolve an alias, on the file store and on S3 (moto server over HTTP).

Run:  .venv/bin/python tests/benchmarks/bench_registry.py [--rounds 30] [--backends file,s3] [--mlflow]

Prints medians (and p90) of N rounds as a Markdown table. Each round registers a new version of a
scikit-learn LogisticRegression trained on 1,000 rows x 20 features (artifact, signature,
training-data digest and drift reference profile, version record by compare-and-swap, audit
entry), then resolves the ``production`` alias to its version number and to the version record,
then loads the version (sha256 verified, then unpickled).

``--mlflow`` also measures the peer in the same run: MLflow's own registry on a local file store
(``log_model`` with an input example and explicit requirements + ``register_model``,
``get_model_version_by_alias``, ``load_model("models:/bench@production")``), in a separate venv the script creates under /tmp (it installs
``mlflow-skinny``, scikit-learn and pandas there; nothing is installed into the project venv).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N_ROWS, N_FEATURES = 1000, 20


def _fixture():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    return X, y, [f"f{i}" for i in range(N_FEATURES)], LogisticRegression(max_iter=200).fit(X, y)


def _stats(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(0.9 * len(s)))] * 1000


def bench_backend(name: str, store, rounds: int) -> dict[str, tuple[float, float]]:
    from mlops.registry import Registry

    X, y, names, model = _fixture()
    alice, bob = Registry(store, actor="alice"), Registry(store, actor="bob")
    rec = alice.register_version("bench", model, X, y, feature_names=names)  # warm-up, and a governed alias
    alice.request_approval("bench", rec["version"])
    bob.decide_approval("bench", rec["version"], "approve")
    alice.set_alias("bench", "production", rec["version"])
    t_reg, t_alias, t_record, t_load = [], [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        alice.register_version("bench", model, X, y, feature_names=names, metrics={"auc": 0.9})
        t_reg.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        alice.alias_version("bench", "production")
        t_alias.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        alice.resolve_alias("bench", "production")
        t_record.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        alice.load_model("bench", "production")
        t_load.append(time.perf_counter() - t0)
    assert alice.audit.verify()["ok"]
    return {
        "register": _stats(t_reg),
        "alias": _stats(t_alias),
        "record": _stats(t_record),
        "load": _stats(t_load),
    }


_MLFLOW_SCRIPT = r"""
import json, os, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from sklearn.linear_model import LogisticRegression
import mlflow, mlflow.sklearn
from mlflow import MlflowClient
root, rounds = sys.argv[1], int(sys.argv[2])
mlflow.set_tracking_uri("file:" + os.path.join(root, "mlruns"))  # created by MLflow (default experiment)
rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 20)); y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
model = LogisticRegression(max_iter=200).fit(X, y)
client = MlflowClient()
def register():
    with mlflow.start_run():
        mlflow.log_metric("auc", 0.9)
        kw = {"name": "model"} if int(mlflow.__version__.split(".")[0]) >= 3 else {"artifact_path": "model"}
        # explicit requirements: skip MLflow's requirement inference (a subprocess, seconds) to be fair
        info = mlflow.sklearn.log_model(model, input_example=X[:2], serialization_format="cloudpickle",
                                        pip_requirements=["scikit-learn"], **kw)
    return mlflow.register_model(info.model_uri, "bench")
v = register()
client.set_registered_model_alias("bench", "production", v.version)
reg, alias, load = [], [], []
for _ in range(rounds):
    t0 = time.perf_counter(); register(); reg.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); client.get_model_version_by_alias("bench", "production"); alias.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); mlflow.sklearn.load_model("models:/bench@production"); load.append(time.perf_counter() - t0)
def st(s):
    s = sorted(s); return [statistics.median(s) * 1000, s[min(len(s) - 1, int(0.9 * len(s)))] * 1000]
print(json.dumps({"register": st(reg), "record": st(alias), "load": st(load), "version": mlflow.__version__}))
"""


def bench_mlflow(rounds: int) -> dict | None:
    venv = Path(tempfile.gettempdir()) / "mlops-bench-mlflow-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(py), "-c", "import mlflow, sklearn, pandas"], capture_output=True).returncode != 0:
        print(f"installing mlflow-skinny, scikit-learn, pandas into {venv} ...", file=sys.stderr)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "mlflow-skinny", "scikit-learn", "pandas"],
            check=True,
            timeout=900,
        )
    with tempfile.TemporaryDirectory() as d:
        # MLflow 3 keeps its file store in maintenance mode behind this switch; it is the like-for-like peer
        # of our file store (both: local files, no server).
        env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
        out = subprocess.run(
            [str(py), "-c", _MLFLOW_SCRIPT, d, str(rounds)],
            capture_output=True,
            text=True,
            timeout=1800,
            env=env,
        )
    if out.returncode != 0:
        print(f"mlflow peer failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--backends", default="file,s3")
    ap.add_argument("--mlflow", action="store_true", help="also measure MLflow's registry (creates a venv)")
    args = ap.parse_args()
    results: dict[str, dict] = {}
    for backend in args.backends.split(","):
        if backend == "file":
            from mlops.storage import FileStore

            with tempfile.TemporaryDirectory() as d:
                results["file"] = bench_backend("file", FileStore(d), args.rounds)
        elif backend == "s3":
            from tests.contract.servers import AtomicMotoServer

            server = AtomicMotoServer()
            server.start()
            try:
                from mlops.storage.s3 import S3Store

                bucket = server.create_bucket(f"bench-{uuid.uuid4().hex[:12]}")
                results["s3 (moto, HTTP)"] = bench_backend(
                    "s3", S3Store(bucket, client=server.client()), args.rounds
                )
            finally:
                server.stop()
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    peer = bench_mlflow(args.rounds) if args.mlflow else None

    def cell(v):
        return f"{v[0]:.1f} ({v[1]:.1f})" if v else "-"

    print(
        f"\nRegistry, {args.rounds} rounds, {N_ROWS}x{N_FEATURES} LogisticRegression, "
        f"{os.cpu_count()} CPUs; median (p90) in ms\n"
    )
    print(
        "| backend | register version | resolve alias -> number | resolve alias -> record | load (verify + unpickle) |"
    )
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {cell(r['register'])} | {cell(r['alias'])} | {cell(r['record'])} | {cell(r['load'])} |"
        )
    if peer:
        print(
            f"| MLflow {peer['version']} registry, file store (peer) | {cell(peer['register'])} | - | "
            f"{cell(peer['record'])} | {cell(peer['load'])} |"
        )
        if "file" in results:
            f = results["file"]
            print(
                f"\nfile store vs MLflow file store: register {peer['register'][0] / f['register'][0]:.1f}x faster, "
                f"resolve alias {peer['record'][0] / f['record'][0]:.1f}x, load {peer['load'][0] / f['load'][0]:.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
