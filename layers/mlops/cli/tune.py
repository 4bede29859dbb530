"""``mlops train --tune`` (hyperparameter search) and ``mlops runs compare`` of many runs (a search's trials).

Imported only when those are asked for: it pulls in Optuna.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlops.cli.output import print_json, table
from mlops.errors import BadRequestError, NotFoundError


def _request(args: argparse.Namespace):
    from mlops.runs.training import parse_param_args
    from mlops.tuning.trials import TuneRequest

    if not args.tune:
        raise BadRequestError("--trials, --parallel, --timeout and --resume need --tune SPACE_FILE")
    if args.trials is None:
        raise BadRequestError("--tune needs --trials N (the number of trials to run)")
    if args.if_changed:
        raise BadRequestError("--if-changed does not apply to --tune (every search trains)")
    if args.expectations_infer:
        raise BadRequestError(
            "--expectations-infer does not apply to --tune: write the suite once with a plain `mlops train "
            "--expectations-infer`, then search (every trial is checked against it)"
        )
    return TuneRequest(
        entrypoint=args.entrypoint,
        model=args.model,
        space_file=args.tune,
        n_trials=args.trials,
        parallel=args.parallel,
        timeout_s=args.timeout,
        params=parse_param_args(args.param),
        resume=args.resume,
        register=not args.no_register,
        description=args.description,
        expectations=args.expectations,
    )


def cmd_tune(args: argparse.Namespace, registry, runs) -> int:
    from mlops.tuning.study import tune

    req = _request(args)
    parent = tune(req, registry=registry, runs=runs, verbose=not args.json)
    if args.json:
        print_json(parent)
        return 0
    s = parent["study"]
    reg = s.get("registered")
    done = f"registered {req.model} v{reg['version']}" if reg else "not registered (--no-register)"
    print(f"study {parent['run_id']}: best trial {s['best_trial']} of {s['n_trials']}; {done}")
    rows = [
        {"field": k, "value": s.get(k)}
        for k in (
            "metric",
            "direction",
            "best_value",
            "best_run_id",
            "trials_complete",
            "trials_pruned",
            "trials_failed",
            "trials_interrupted",
            "stopped_by",
            "sampler",
            "pruner",
        )
    ]
    rows += [{"field": f"best.{k}", "value": v} for k, v in sorted((s.get("best_params") or {}).items())]
    if reg and not reg["matches_best_trial"]:
        rows.append({"field": "refit value (differs)", "value": reg["value"]})
    print(table(rows, ["field", "value"]))
    print(f"\ncompare the trials: mlops runs compare --parent {parent['run_id']}")
    return 0


# ------------------------------------------------------------------ runs compare, many runs


def _order(docs: list[dict[str, Any]], metric: str | None, direction: str | None) -> list[dict[str, Any]]:
    """Best first on the study's metric when known (runs without it last), else by trial number."""

    def trial_no(d: dict[str, Any]) -> int:
        return int((d.get("trial") or {}).get("number", 1 << 30))

    if not metric:
        return sorted(docs, key=trial_no)
    sign = -1.0 if direction == "maximize" else 1.0

    def key(d: dict[str, Any]) -> tuple[int, float, int]:
        v = (d.get("metrics") or {}).get(metric)
        return (0, sign * v, trial_no(d)) if isinstance(v, int | float) else (1, 0.0, trial_no(d))

    return sorted(docs, key=key)


def _many_rows(docs: list[dict[str, Any]], metric: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    params = sorted({k for d in docs for k in (d.get("params") or {})})
    varying = [k for k in params if len({repr((d.get("params") or {}).get(k)) for d in docs}) > 1]
    metrics = sorted({k for d in docs for k in (d.get("metrics") or {})})
    if metric in metrics:
        metrics.remove(metric)
        metrics.insert(0, metric)
    rows = []
    for d in docs:
        row: dict[str, Any] = {
            "run_id": d["run_id"],
            "trial": (d.get("trial") or {}).get("number"),
            "status": d.get("status"),
        }
        row.update({f"params.{k}": (d.get("params") or {}).get(k) for k in varying})
        for k in metrics:
            v = (d.get("metrics") or {}).get(k)
            row[f"metrics.{k}"] = round(v, 4) if isinstance(v, float) else v
        rows.append(row)
    columns = (
        ["run_id", "trial", "status"] + [f"params.{k}" for k in varying] + [f"metrics.{k}" for k in metrics]
    )
    return rows, columns


def compare_many(args: argparse.Namespace, runs) -> int:
    """One row per run: the trials of ``--parent`` and/or the runs named, the varying params, the metrics."""
    docs: list[dict[str, Any]] = []
    metric = direction = None
    if args.parent:
        docs = list(runs.iter_runs(parent=args.parent))
        if not docs:
            raise NotFoundError(
                f"run {args.parent} has no trials (is it the parent run of a hyperparameter search?)",
                code="run_not_found",
            )
        try:
            study = runs.get(args.parent).get("study") or {}
            metric, direction = study.get("metric"), study.get("direction")
        except NotFoundError:  # the search is still running, or was killed: no parent record yet
            pass
    docs += [runs.get(r) for r in args.run_ids]
    if len(docs) < 2:
        raise BadRequestError("runs compare: give two or more run ids, or --parent RUN")
    rows, columns = _many_rows(_order(docs, metric, direction), metric)
    if args.json:
        print_json({"parent": args.parent, "metric": metric, "direction": direction, "runs": rows})
        return 0
    print(table(rows, columns))
    if metric:
        print(f"\nbest first by {metric} ({direction})")
    return 0
