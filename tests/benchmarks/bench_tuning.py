"""Benchmark: what recording costs in a hyperparameter search, and what ``--parallel 2`` buys.

The example project (``pipelines/train/train.py``: gradient boosting on the breast-cancer data),
N trials over ``n_estimators`` (20-80), ``learning_rate`` (0.01-0.3, log) and ``max_depth`` (2-4),
random sampler with seed 0, so every variant trains the same N parameter sets:

- bare Optuna (the peer): an in-memory study whose objective calls the project's ``load_data`` and
  ``train`` and scores the holdout with ``mlops.runs.evaluation.evaluate``; nothing recorded.
- ``tune``, ``--parallel 1``: the same trials through ``mlops.tuning.study.tune`` without registering:
  each trial a child run record (digests, params, metrics) in a file store, the study in its journal
  (fsynced appends), the parent run record with the summary.
- ``tune``, ``--parallel 2``: the same, in two spawned worker processes (wall time includes their
  start-up: a fresh interpreter importing mlops, scikit-learn and Optuna each).

Asserts that the peer and ``tune`` found the same best parameters. Prints medians over rounds and the
ratios as a Markdown table (per-trial overhead = (tune - peer) / N).

    .venv/bin/python tests/benchmarks/bench_tuning.py [--rounds 3] [--trials 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers"))

import optuna  # noqa: E402
from mlops.registry import Registry  # noqa: E402
from mlops.runs import training as tr  # noqa: E402
from mlops.runs.evaluation import evaluate  # noqa: E402
from mlops.runs.store import RunStore  # noqa: E402
from mlops.storage import FileStore  # noqa: E402
from mlops.tuning.space import parse_space  # noqa: E402
from mlops.tuning.study import tune  # noqa: E402
from mlops.tuning.trials import TuneRequest  # noqa: E402

ENTRYPOINT = ROOT / "pipelines" / "train" / "train.py"
SPACE = """\
params:
  n_estimators: {type: int, low: 20, high: 80}
  learning_rate: {type: float, low: 0.01, high: 0.3, log: true}
  max_depth: {type: int, low: 2, high: 4}
objective: {metric: f1}
sampler: {type: random, seed: 0}
pruner: none
"""


def bare_optuna(n: int) -> tuple[float, dict]:
    space = parse_space(SPACE)
    project = tr.load_project(ENTRYPOINT)

    def objective(trial: optuna.Trial) -> float:
        params = {**project.defaults, **space.suggest(trial)}
        data = tr.load_data(project, params)
        model, _ = tr.fit(project, params, data)
        return evaluate(model, data.X_holdout, data.y_holdout)["f1"]

    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n)
    return time.perf_counter() - t0, study.best_params


def ours(n: int, parallel: int, tmp: Path) -> tuple[float, dict]:
    space_file = tmp / "space.yaml"
    space_file.write_text(SPACE)
    store = FileStore(tmp / f"store-{parallel}-{time.monotonic_ns()}")
    req = TuneRequest(
        str(ENTRYPOINT), "bench", str(space_file), n_trials=n, parallel=parallel, register=False
    )
    t0 = time.perf_counter()
    parent = tune(req, registry=Registry(store, actor="bench"), runs=RunStore(store))
    return time.perf_counter() - t0, parent["study"]["best_params"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=8)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = args.trials
    times: dict[str, list[float]] = {
        "bare Optuna (peer)": [],
        "tune --parallel 1": [],
        "tune --parallel 2": [],
    }
    with tempfile.TemporaryDirectory() as d:
        bare_optuna(2)  # warm the imports and the dataset cache for everyone
        for _ in range(args.rounds):
            t, best_peer = bare_optuna(n)
            times["bare Optuna (peer)"].append(t)
            t, best_ours = ours(n, 1, Path(d))
            times["tune --parallel 1"].append(t)
            assert best_ours == best_peer, (best_ours, best_peer)
            if (os.cpu_count() or 1) >= 2:
                t, _ = ours(n, 2, Path(d))
                times["tune --parallel 2"].append(t)
    peer = statistics.median(times["bare Optuna (peer)"])
    print(
        f"{n} trials, {args.rounds} rounds, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| variant | median s | per trial ms | vs peer |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        if not ts:
            continue
        m = statistics.median(ts)
        print(f"| {name} | {m:.2f} | {m / n * 1000:.0f} | {m / peer:.2f}x |")
    one = statistics.median(times["tune --parallel 1"])
    print(f"\nrecording overhead per trial: {(one - peer) / n * 1000:.0f} ms")


if __name__ == "__main__":
    main()
