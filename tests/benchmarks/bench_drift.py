"""Benchmark: one drift window with our detector vs a per-column scipy.stats.ks_2samp loop vs Evidently.

For 20 and 100 numeric features x 50,000 rows (reference and window alike; 60% normal, 20%
lognormal, 20% integer-valued so that ties are exercised; 10% of the features shifted by 0.2 sd):

- ours: ``DriftDetector.compare`` on the window. The reference is profiled and loaded once before
  timing (that happens at model registration), so a window costs sorting and merging its own data,
  p-values, PSI, W1, BH and decisions.
- scipy: ``[scipy.stats.ks_2samp(ref[j], cur[j]) for j in features]`` (statistic and
  p-value only; it sorts the reference again every time).
- Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` in its own venv
  (``.mlops/bench-venvs/evidently``, made on the first run with this interpreter and pip; skipped
  with a message if that fails), in a subprocess; only ``run`` is timed, not building the frames.

Asserts that our KS statistics equal scipy's (``==``) and prints the largest p-value difference.
Prints medians over rounds and ratios as a Markdown table; targets: <= 0.05 s per window for 20
features and <= 0.2 s for 100.

    .venv/bin/python tests/benchmarks/bench_drift.py [--rounds 7] [--no-evidently]
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

from mlops.drift import DriftDetector, build_reference_profile, load_profile  # noqa: E402

TARGETS = {20: 0.05, 100: 0.2}
EVIDENTLY_VENV = ROOT / ".mlops" / "bench-venvs" / "evidently"
EVIDENTLY_SPEC = ["evidently>=0.7,<0.8", "pandas<3"]  # evidently 0.7 imports a helper pandas 3 removed

EVIDENTLY_RUNNER = textwrap.dedent("""
    import json, sys, time, warnings
    import numpy as np, pandas as pd
    warnings.filterwarnings("ignore")
    ref_path, cur_path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ref, cur = np.load(ref_path), np.load(cur_path)
    cols = [f"f{i}" for i in range(ref.shape[1])]
    ref_df, cur_df = pd.DataFrame(ref, columns=cols), pd.DataFrame(cur, columns=cols)
    import evidently
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
        def run():
            return Report([DataDriftPreset()]).run(cur_df, ref_df)
    except ImportError:
        from evidently.report import Report
        from evidently.metric_preset import DataDriftPreset
        def run():
            r = Report(metrics=[DataDriftPreset()])
            r.run(reference_data=ref_df, current_data=cur_df)
            return r
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    print(json.dumps({"version": evidently.__version__, "times": times}))
""")


def make_data(n_features: int, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(reference, window, names); arrays are (features, rows): each column contiguous, as a window
    decoded from prediction records is."""
    rng = np.random.default_rng(seed)
    ref = np.empty((n_features, rows))
    cur = np.empty((n_features, rows))
    for j in range(n_features):
        kind = j % 5
        shift = 0.2 if j % 10 == 3 else 0.0
        if kind in (0, 1, 2):
            ref[j] = rng.normal(size=rows)
            cur[j] = rng.normal(shift, 1.0, size=rows)
        elif kind == 3:
            ref[j] = rng.lognormal(size=rows)
            cur[j] = rng.lognormal(size=rows) + shift * 2.16  # ~0.1 sd of a lognormal(0, 1)
        else:
            ref[j] = rng.poisson(4.0, size=rows)
            cur[j] = rng.poisson(4.0 + shift * 2.0, size=rows)
    return ref, cur, [f"f{i}" for i in range(n_features)]


def time_rounds(fn, rounds: int) -> tuple[float, object]:
    out = fn()  # warm-up (imports, caches), not counted
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def ensure_evidently() -> Path | None:
    """The Evidently venv's python, made on first use; None (with a message) if it cannot be made."""
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=120).returncode == 0:
        return python
    print(
        f"setting up {EVIDENTLY_VENV.relative_to(ROOT)} with {' '.join(EVIDENTLY_SPEC)} (first run only)...",
        file=sys.stderr,
    )
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *EVIDENTLY_SPEC],
            check=True,
            timeout=1800,
        )
        subprocess.run(probe, check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"Evidently skipped: could not install it into its own venv ({exc})", file=sys.stderr)
        return None
    return python


def run_evidently(python: Path, ref: np.ndarray, cur: np.ndarray, rounds: int) -> tuple[float, str] | None:
    with tempfile.TemporaryDirectory() as tmp:
        rp, cp, script = Path(tmp, "ref.npy"), Path(tmp, "cur.npy"), Path(tmp, "run_evidently.py")
        np.save(rp, np.ascontiguousarray(ref.T))  # rows x features for the DataFrame
        np.save(cp, np.ascontiguousarray(cur.T))
        script.write_text(EVIDENTLY_RUNNER)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        try:
            proc = subprocess.run(
                [str(python), str(script), str(rp), str(cp), str(rounds)],
                capture_output=True,
                text=True,
                timeout=3600,
                env=env,
            )
        except subprocess.TimeoutExpired:
            print("Evidently skipped: its run took more than an hour", file=sys.stderr)
            return None
        if proc.returncode != 0:
            print(f"Evidently skipped: its run failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            return None
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        return statistics.median(out["times"]), out["version"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, nargs="+", default=[20, 100])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=7, help="rounds for our detector")
    ap.add_argument("--scipy-rounds", type=int, default=3)
    ap.add_argument("--evidently-rounds", type=int, default=2)
    ap.add_argument("--no-evidently", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from scipy.stats import ks_2samp

    evidently_python = None if args.no_evidently else ensure_evidently()
    rows_out = []
    for nf in args.features:
        ref, cur, names = make_data(nf, args.rows, args.seed)
        kinds = dict.fromkeys(names, "numeric")
        profile = load_profile(
            json.loads(
                json.dumps(
                    build_reference_profile(
                        {n: ref[j] for j, n in enumerate(names)}, kinds, max_sample=args.rows
                    )
                )
            )
        )
        detector = DriftDetector(profile)
        window = {n: cur[j] for j, n in enumerate(names)}
        ours_s, result = time_rounds(lambda d=detector, w=window: d.compare(w), args.rounds)
        scipy_s, scipy_res = time_rounds(
            lambda r=ref, c=cur: [ks_2samp(r[j], c[j]) for j in range(r.shape[0])], args.scipy_rounds
        )
        ours_stat = np.array([result.features[n].statistic for n in names])
        ours_p = np.array([result.features[n].p_value for n in names])
        sp_stat = np.array([r.statistic for r in scipy_res])
        sp_p = np.array([r.pvalue for r in scipy_res])
        assert np.array_equal(ours_stat, sp_stat), "KS statistics differ from scipy's"
        p_rel = float(np.max(np.abs(ours_p - sp_p) / np.maximum(sp_p, 1e-300)))
        ev = None
        if evidently_python is not None:
            print(f"running Evidently on {nf} features...", file=sys.stderr)
            ev = run_evidently(evidently_python, ref, cur, args.evidently_rounds)
        rows_out.append((nf, ours_s, scipy_s, ev, p_rel, result))

    print(
        f"\nDrift window, {args.rows:,} rows (reference {args.rows:,}, profiled once, not timed); "
        f"medians of {args.rounds} (ours) / {args.scipy_rounds} (scipy) / {args.evidently_rounds} (Evidently) "
        f"rounds on {os.cpu_count()} cores\n"
    )
    print(
        "| features | ours (s) | target (s) | met | scipy ks_2samp loop (s) | scipy / ours | Evidently (s) "
        "| Evidently / ours | KS stat == scipy | max p rel. diff | drifted (ours) |"
    )
    print("|---:|---:|---:|:---:|---:|---:|---:|---:|:---:|---:|---:|")
    for nf, ours_s, scipy_s, ev, p_rel, result in rows_out:
        target = TARGETS.get(nf)
        met = "–" if target is None else ("yes" if ours_s <= target else "NO")
        ev_s = f"{ev[0]:.3f} (v{ev[1]})" if ev else "skipped"
        ev_ratio = f"{ev[0] / ours_s:.0f}×" if ev else "–"
        print(
            f"| {nf} | {ours_s:.4f} | {target if target else '–'} | {met} | {scipy_s:.3f} | {scipy_s / ours_s:.1f}× "
            f"| {ev_s} | {ev_ratio} | yes | {p_rel:.1e} | {result.dataset['n_drifted']}/{nf} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
