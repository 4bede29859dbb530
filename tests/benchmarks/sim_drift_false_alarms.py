"""Simulation behind issue 13 H: drift false alarms on unchanged data, and what real shifts do.

Prints, for a categorical feature with a Zipf(1.1) law over 1,000 / 10,000 / 100,000 categories
(reference 100,000 rows; the same law in every window), the share of windows whose raw p-value is
<= 0.05 and the share where the feature drifted (``dataset_rule="any"``), with the mean effect
size; then Poisson(3) + 0 / +0.017 / -1e-9 / +1 (45 windows of 5,000 rows each), the default
dataset rule on 5 of 20 features shifted by 0.5 sd, and the PSI of an empty window.

    .venv/bin/python tests/benchmarks/sim_drift_false_alarms.py [--windows 200] [--layers DIR]

``--layers`` points at another checkout's ``layers`` (e.g. main's) to measure before/after.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--windows", type=int, default=200, help="null windows of 1,000 rows (a quarter of 50,000)"
    )
    ap.add_argument("--layers", default=str(ROOT / "layers"))
    args = ap.parse_args()
    sys.path.insert(0, args.layers)
    from mlops.drift import DriftDetector, build_reference_profile, stats

    def zipf(k: int, s: float = 1.1):
        p = 1.0 / np.arange(1, k + 1) ** s
        cdf = np.cumsum(p / p.sum())
        cdf[-1] = 1.0
        return lambda rng, n: np.searchsorted(cdf, rng.random(n), side="right")

    print("| case | windows | p <= 0.05 | drifted | mean effect |\n|---|---:|---:|---:|---:|")
    for k in (1_000, 10_000, 100_000):
        draw = zipf(k)
        rng = np.random.default_rng(k)
        det = DriftDetector(
            build_reference_profile({"c": draw(rng, 100_000)}, {"c": "categorical"}), dataset_rule="any"
        )
        for n in (1_000, 50_000):
            w = args.windows if n == 1_000 else max(args.windows // 4, 20)
            sig = drifted = 0
            effects = []
            t = time.perf_counter()
            for _ in range(w):
                f = det.compare({"c": draw(rng, n)}).features["c"]
                sig += f.p_value <= 0.05
                drifted += f.drifted
                effects.append(f.effect_size)
            print(
                f"| Zipf K={k:,}, window {n:,} rows | {w} | {sig / w:.3f} | {drifted / w:.3f} "
                f"| {np.mean(effects):.3f} | ({time.perf_counter() - t:.1f} s)"
            )
    rng = np.random.default_rng(3)
    det = DriftDetector(
        build_reference_profile({"x": rng.poisson(3, 20_000).astype(float)}, {"x": "numeric"}),
        dataset_rule="any",
    )
    for shift in (0.0, 0.017, -1e-9, 1.0):
        drifted, psis = 0, []
        for _ in range(45):
            f = det.compare({"x": rng.poisson(3, 5_000) + shift}).features["x"]
            drifted += f.drifted
            psis.append(f.psi)
        print(f"| Poisson(3) {shift:+g}, 5,000 rows | 45 | | {drifted}/45 | PSI {np.mean(psis):.3f} |")
    rng = np.random.default_rng(4)
    names = [f"x{i}" for i in range(20)]
    det = DriftDetector(
        build_reference_profile({n: rng.normal(size=20_000) for n in names}, dict.fromkeys(names, "numeric"))
    )
    r = det.compare({n: rng.normal(size=5_000) + (0.5 if i < 5 else 0.0) for i, n in enumerate(names)})
    print(
        f"\n5 of 20 features shifted by 0.5 sd, default detector: {r.dataset['n_drifted']} drifted, "
        f"rule {r.dataset['rule']}, dataset drifted: {r.drifted}"
    )
    try:
        value = stats.psi(np.full(10, 0.1), stats.sorted_bin_fractions(np.empty(0), np.arange(9.0)))
        print(f"PSI of an empty window: {value}")
    except ValueError as exc:
        print(f"PSI of an empty window: ValueError({exc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
