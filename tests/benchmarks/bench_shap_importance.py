"""Benchmark: what computing global importances (mean |SHAP|) adds to registering a version (issue 18 §1).

GradientBoostingClassifier, 100 trees (depth 3) x 20 features, fitted on 2000 rows, registered with
those rows in a fresh FileStore each round (and, for scale, a RandomForestClassifier of 100 fully
grown trees on the same rows: deep paths, no lookup table):

- with: ``Registry.register_version`` as shipped (artifact, profile, compiled scorer, mean |SHAP|).
- without: the same call with ``version_importance`` replaced by ``lambda *a: None`` (the peer).
- alone: ``version_importance`` by itself (fetch the compiled scorer, exact Tree SHAP on 2000 rows).

Prints medians over rounds and the added share as a Markdown table.

    .venv/bin/python tests/benchmarks/bench_shap_importance.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

from mlops.registry import Registry, shapimportance, versions  # noqa: E402
from mlops.storage import FileStore  # noqa: E402


def _median(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _measure(model, X, y, names, rounds: int) -> tuple[float, float, float]:
    """(median register with importances, without them, version_importance alone) for one model."""
    real = versions.version_importance

    def register() -> dict:
        with tempfile.TemporaryDirectory() as d:
            reg = Registry(FileStore(Path(d)), actor="bench")
            return reg.register_version("m", model, X, y, feature_names=names)

    register()  # warm imports
    with_ = _median(register, rounds)
    versions.version_importance = lambda *a: None  # type: ignore[assignment]
    try:
        without = _median(register, rounds)
    finally:
        versions.version_importance = real
    with tempfile.TemporaryDirectory() as d:
        reg = Registry(FileStore(Path(d)), actor="bench")
        rec = reg.register_version("m", model, X, y, feature_names=names)
        sig, cols = rec["signature"], {n: X[:, i] for i, n in enumerate(names)}
        alone = _median(
            lambda: shapimportance.version_importance(reg.store, rec["compiled"], model, sig, cols), rounds
        )
    return with_, without, alone


def main() -> None:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    rounds = ap.parse_args().rounds
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.normal(scale=0.5, size=2000) > 0).astype(int)
    names = [f"x{i}" for i in range(20)]
    models = {
        "GradientBoosting 100 x depth 3": GradientBoostingClassifier(
            n_estimators=100, max_depth=3, random_state=0
        ),
        "RandomForest 100 x full depth": RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1),
    }
    print(
        "| 20 features, 2000 rows | register without (peer) s | register with mean abs SHAP s | added | "
        "version_importance alone s |"
    )
    print("|---|---|---|---|---|")
    for label, model in models.items():
        model.fit(X, y)
        with_, without, alone = _measure(model, X, y, names, rounds)
        print(
            f"| {label} | {without:.3f} | {with_:.3f} | {with_ - without:+.3f} s "
            f"({(with_ / without - 1) * 100:+.0f}%) | {alone:.3f} |"
        )


if __name__ == "__main__":
    main()
