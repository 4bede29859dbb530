"""Benchmark: exact Tree SHAP of one row, ours (``mlops.serving.explain``) vs ``shap.TreeExplainer``.

One scikit-learn ``GradientBoostingClassifier`` (20 features, 100 trees of depth 3, seeded; the
model of ``bench_inference.py``) is fitted once; then, in the same run and on the same rows:

- ours: ``tree_shap(compiled, row)`` on the compiled trees the serving path loads (the model's
  ``.npz`` round trip, no scikit-learn involved), after one first explanation that builds the
  per-model leaf tables (its cost is reported separately as "first explanation");
- peer: ``shap.TreeExplainer(model).shap_values(row)`` (its C++ extension, path-dependent,
  raw log-odds output) in a subprocess of its own venv ``.mlops/bench-venvs/shap`` (never a
  dependency of the project; create it with
  ``bash .ci/peer-venv shap`` or point ``MLOPS_SHAP_VENV`` at one); the timing
  runs inside that process, so neither side pays for process start or imports.

In the same run, the whole ``/explain`` handler is timed as the function runs it (issue 18: one row
<= 2 ms): ``InferenceService.explain`` on a real ``mlops.http.Request`` (JSON body parsed and validated,
model scored, Tree SHAP, answer built; the version registered in a file-store registry and loaded by
``RegistrySource`` as the inference function does), with the ``/predict`` handler on the same rows
beside it for reference. The model-agnostic fallback (sampling Shapley values, defaults: 16 antithetic
permutations, 100 background rows) is timed on a LogisticRegression of the same data, one row per call,
through the same handler (``--sampling-calls``; it has no peer here).

Each round times ``--calls`` one-row explanations per side, cycling over 200 rows, and one batch
of ``--batch`` rows; the table shows medians over rounds (per call: the median call of the round)
and the ratio shap / ours. Both sides' contributions are compared (max abs difference) so the
numbers are for the same answer.

    .venv/bin/python tests/benchmarks/bench_explain.py [--rounds 5] [--calls 2000] [--batch 1000]
        [--no-peer] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))
sys.path.insert(0, str(ROOT))

from mlops.serving.compiled import CompiledTrees, compile_model  # noqa: E402
from mlops.serving.explain import tree_shap  # noqa: E402

from tests.harness import peer_venv_python  # noqa: E402

N_FEATURES, N_TREES, DEPTH = 20, 100, 3
TARGET_ONE_ROW_MS = 2.0  # issue 18

PEER_SCRIPT = textwrap.dedent(
    """
    import json, statistics, sys, time
    import joblib, numpy as np, shap
    model = joblib.load(sys.argv[1])
    rows = np.load(sys.argv[2])
    calls, batch = int(sys.argv[3]), int(sys.argv[4])
    explainer = shap.TreeExplainer(model)
    explainer.shap_values(rows[:1])  # warm
    times = []
    for i in range(calls):
        row = rows[i % 200 : i % 200 + 1]
        t = time.perf_counter()
        explainer.shap_values(row)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    values = np.asarray(explainer.shap_values(rows[:batch]), dtype=np.float64)
    batch_s = time.perf_counter() - t
    np.save(sys.argv[5], values)
    print(json.dumps({"one_row_s": statistics.median(times), "batch_s": batch_s, "version": shap.__version__}))
    """
)


def fitted_model(n_rows: int):
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, N_FEATURES))
    y = (X[:, :5].sum(axis=1) + 0.5 * X[:, 5] * X[:, 6] + rng.normal(scale=0.5, size=len(X)) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=N_TREES, max_depth=DEPTH, random_state=0).fit(X, y)
    rows = rng.normal(size=(max(200, n_rows), N_FEATURES)) * 1.3  # wider than training
    return model, rows, X, y


def ours_round(
    compiled: CompiledTrees, rows: np.ndarray, calls: int, batch: int
) -> tuple[float, float, np.ndarray]:
    times = []
    for i in range(calls):
        row = rows[i % 200 : i % 200 + 1]
        t = time.perf_counter()
        tree_shap(compiled, row)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    _base, values = tree_shap(compiled, rows[:batch])
    return statistics.median(times), time.perf_counter() - t, values


def serving_service(model, X_train: np.ndarray, y_train: np.ndarray, tmp: Path):
    """The inference service of an endpoint serving ``model``, registered and deployed as in production."""
    from mlops.registry import Registry
    from mlops.serving.inference import InferenceService
    from mlops.serving.source import RegistrySource
    from mlops.storage import FileStore

    store = FileStore(str(tmp / "store"))
    reg = Registry(store, actor="bench")
    v = reg.register_version("bench", model, X_train, y_train)["version"]
    reg.request_approval("bench", v)
    reg.with_actor("approver").decide_approval("bench", v, "approve")
    reg.deployments().set_stable("bench", "bench", v)
    src = RegistrySource(reg, store, endpoint="bench", model="bench", variant="stable", alias="production")
    return InferenceService(
        src,
        endpoint="bench",
        model_name="bench",
        variant="stable",
        emit=lambda rec: None,
        start_refresher=False,
    )


def sampling_one_row_ms(X_train: np.ndarray, y_train: np.ndarray, bodies: list[bytes], calls: int, tmp: Path):
    """Median one-row time of the explain handler serving a LogisticRegression (the sampling method)."""
    from mlops.http import Request
    from sklearn.linear_model import LogisticRegression

    svc = serving_service(LogisticRegression(max_iter=1000).fit(X_train, y_train), X_train, y_train, tmp)
    times = []
    for i in range(calls):
        req = Request.from_url(
            "POST",
            "/v1/endpoints/bench/explain",
            {"content-type": "application/json"},
            bodies[i % len(bodies)],
        )
        t = time.perf_counter()
        resp = svc.explain(req)
        times.append(time.perf_counter() - t)
        assert resp.body["method"] == "sampling_shapley"
    return statistics.median(times) * 1e3


def handler_round(svc, bodies: list[bytes], calls: int) -> tuple[float, float]:
    """Median one-row time of the explain and the predict handler on real Request objects."""
    from mlops.http import Request

    explain, predict = [], []
    for i in range(calls):
        body = bodies[i % len(bodies)]
        req = Request.from_url(
            "POST", "/v1/endpoints/bench/explain", {"content-type": "application/json"}, body
        )
        t = time.perf_counter()
        resp = svc.explain(req)
        explain.append(time.perf_counter() - t)
        assert resp.body["method"] == "tree_shap_exact"
        req = Request.from_url(
            "POST", "/v1/endpoints/bench/predict", {"content-type": "application/json"}, body
        )
        t = time.perf_counter()
        svc.predict(req)
        predict.append(time.perf_counter() - t)
    return statistics.median(explain), statistics.median(predict)


def peer_round(python: Path, tmp: Path, calls: int, batch: int) -> tuple[dict, np.ndarray]:
    out = subprocess.run(
        [str(python), str(tmp / "peer.py"), str(tmp / "model.joblib"), str(tmp / "rows.npy")]
        + [str(calls), str(batch), str(tmp / "peer_values.npy")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        cwd=tmp,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), np.load(tmp / "peer_values.npy")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--sampling-calls", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    python = None if args.no_peer else peer_venv_python("shap")
    if python is None and not args.no_peer:
        sys.exit("no shap venv at .mlops/bench-venvs/shap (see this file's docstring), or pass --no-peer")
    model, rows, X_train, y_train = fitted_model(args.batch)
    first = compile_model(model)
    assert first is not None
    compiled = CompiledTrees.from_npz(first.to_npz())  # what serving loads
    t = time.perf_counter()
    tree_shap(compiled, rows[:1])
    first_ms = (time.perf_counter() - t) * 1e3
    ours_one, ours_batch, peer_one, peer_batch, diffs = [], [], [], [], []
    handler_explain, handler_predict = [], []
    version = ""
    bodies = [json.dumps({"instances": [r.tolist()]}).encode() for r in rows[:200]]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        svc = serving_service(model, X_train, y_train, tmp)
        handler_round(svc, bodies[:1], 1)  # the first explanation builds the model's leaf tables
        if python is not None:
            import joblib

            joblib.dump(model, tmp / "model.joblib")
            np.save(tmp / "rows.npy", rows)
            (tmp / "peer.py").write_text(PEER_SCRIPT)
        for _ in range(args.rounds):
            one, whole, values = ours_round(compiled, rows, args.calls, args.batch)
            ours_one.append(one)
            ours_batch.append(whole)
            h_explain, h_predict = handler_round(svc, bodies, args.calls)
            handler_explain.append(h_explain)
            handler_predict.append(h_predict)
            if python is not None:
                peer, theirs = peer_round(python, tmp, args.calls, args.batch)
                peer_one.append(peer["one_row_s"])
                peer_batch.append(peer["batch_s"])
                version = peer["version"]
                diffs.append(float(np.abs(values - theirs.reshape(values.shape)).max()))
        sampling_ms = sampling_one_row_ms(X_train, y_train, bodies, args.sampling_calls, tmp / "lr")
    handler = {"explain": handler_explain, "predict": handler_predict, "sampling_ms": sampling_ms}
    report(args, first_ms, ours_one, ours_batch, peer_one, peer_batch, diffs, version, handler)


def report(args, first_ms, ours_one, ours_batch, peer_one, peer_batch, diffs, version, handler) -> None:
    med = statistics.median
    result = {
        "model": f"GradientBoostingClassifier {N_TREES} trees depth {DEPTH}, {N_FEATURES} features",
        "rounds": args.rounds,
        "calls": args.calls,
        "batch": args.batch,
        "first_explanation_ms": first_ms,
        "ours_one_row_ms": med(ours_one) * 1e3,
        "ours_batch_ms": med(ours_batch) * 1e3,
        "handler_explain_one_row_ms": med(handler["explain"]) * 1e3,
        "handler_predict_one_row_ms": med(handler["predict"]) * 1e3,
        "handler_sampling_one_row_ms": handler["sampling_ms"],
        "shap_version": version or None,
        "shap_one_row_ms": med(peer_one) * 1e3 if peer_one else None,
        "shap_batch_ms": med(peer_batch) * 1e3 if peer_batch else None,
        "max_abs_diff": max(diffs) if diffs else None,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"Tree SHAP, {result['model']}; medians over {args.rounds} rounds ({platform.machine()}, Python {platform.python_version()})\n"
    )
    print("| | ours | shap.TreeExplainer | shap / ours | target |")
    print("|---|---|---|---|---|")
    for label, key, target in (
        ("one row", "one_row", f"<= {TARGET_ONE_ROW_MS} ms"),
        (f"{args.batch} rows", "batch", ""),
    ):
        ours, peer = result[f"ours_{key}_ms"], result[f"shap_{key}_ms"]
        peer_cell = f"{peer:.3f} ms" if peer is not None else "—"
        ratio = f"{peer / ours:.2f}x" if peer is not None else "—"
        print(f"| {label} | {ours:.3f} ms | {peer_cell} | {ratio} | {target} |")
    h_explain, h_predict = result["handler_explain_one_row_ms"], result["handler_predict_one_row_ms"]
    peer = result["shap_one_row_ms"]
    print(
        f"| one row, the /explain handler (InferenceService.explain on a Request) | {h_explain:.3f} ms | "
        + (f"{peer:.3f} ms (values only) | {peer / h_explain:.2f}x" if peer is not None else "— | —")
        + f" | <= {TARGET_ONE_ROW_MS} ms |"
    )
    print(f"\nthe /predict handler on the same rows, same run: {h_predict:.3f} ms per one-row request")
    print(
        f"the /explain handler on a LogisticRegression (sampling Shapley, 16 permutations, 100 background "
        f"rows): {result['handler_sampling_one_row_ms']:.1f} ms per one-row request"
    )
    print(f"first explanation of the model (builds its leaf tables): {first_ms:.1f} ms")
    if diffs:
        print(f"shap {version}; max |ours - shap| over the {args.batch} rows: {max(diffs):.2e}")


if __name__ == "__main__":
    main()
