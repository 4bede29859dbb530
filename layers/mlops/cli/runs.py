"""``mlops train``, ``mlops runs list|show|compare`` and ``mlops validate`` (the build's validation gate)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TypeGuard

from mlops.cli.output import add_json_flag, emit, print_json, table


def _open_store(args: argparse.Namespace):
    """``--store URL`` if given, else ``MLOPS_STORE_*``, else the stack's store."""
    from mlops.cli.common import open_args_store

    return open_args_store(args)


def _registry_and_runs(args: argparse.Namespace):
    from mlops.cli.common import actor, audit_anchor_for, audit_store_for
    from mlops.registry import Registry
    from mlops.runs.store import RunStore

    store = _open_store(args)
    return Registry(
        store, actor=actor(args), anchor=audit_anchor_for(args), audit_store=audit_store_for(args)
    ), RunStore(store)


def _add_store_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        metavar="URL",
        help="object store to use instead of the stack's (a path, file:, s3://, oci://)",
    )


# ------------------------------------------------------------------ train


def cmd_train(args: argparse.Namespace) -> int:
    from mlops.runs.recorder import train_and_register
    from mlops.runs.training import parse_param_args

    if args.tune or args.trials is not None or args.resume or args.parallel != 1 or args.timeout is not None:
        from mlops.cli.tune import cmd_tune

        return cmd_tune(args, *_registry_and_runs(args))
    registry, runs = _registry_and_runs(args)
    result = train_and_register(
        args.entrypoint,
        args.model,
        registry=registry,
        runs=runs,
        params=parse_param_args(args.param),
        if_changed=args.if_changed,
        register=not args.no_register,
        description=args.description,
        expectations=args.expectations,
        infer_expectations=args.expectations_infer,
    )
    if args.json:
        print_json(result)
        return 0
    print(result["reason"])
    rows = [
        {"field": k, "value": result.get(k)}
        for k in ("run_id", "model", "version", "status", "duration_s", "code_commit", "data_digest")
    ]
    rows += [{"field": f"params.{k}", "value": v} for k, v in sorted(result.get("params", {}).items())]
    rows += [{"field": f"metrics.{k}", "value": v} for k, v in sorted(result.get("metrics", {}).items())]
    print(table(rows, ["field", "value"]))
    return 0


# ------------------------------------------------------------------ runs


LIST_COLUMNS = ["run_id", "model", "version", "status", "started_at", "duration_s", "code_commit", "metric"]


def cmd_runs_list(args: argparse.Namespace) -> int:
    _, runs = _registry_and_runs(args)
    docs = runs.list(model=args.model, limit=args.limit, parent=args.parent)
    rows = []
    for d in docs:
        metrics = d.get("metrics") or {}
        shown = next((f"{k}={metrics[k]:.4g}" for k in ("f1", "rmse", "accuracy") if k in metrics), None)
        rows.append({**d, "code_commit": (d.get("code_commit") or "")[:12] or None, "metric": shown})
    emit({"runs": docs if args.json else rows}, args, LIST_COLUMNS, rows_key="runs")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    _, runs = _registry_and_runs(args)
    print_json(runs.get(args.run_id))
    return 0


def _flatten(run: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in (
        "model",
        "version",
        "status",
        "entrypoint",
        "started_at",
        "duration_s",
        "code_commit",
        "code_dirty",
        "code_digest",
        "data_digest",
        "holdout_digest",
        "n_train",
        "n_holdout",
        "task",
        "created_by",
        "error",
    ):
        out[k] = run.get(k)
    for k, v in sorted((run.get("params") or {}).items()):
        out[f"params.{k}"] = v
    for k, v in sorted((run.get("metrics") or {}).items()):
        out[f"metrics.{k}"] = v
    for k, v in sorted((run.get("packages") or {}).items()):
        out[f"packages.{k}"] = v
    return out


def _is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of ``field | run A | run B | change`` (params, metrics, lineage side by side)."""
    fa, fb = _flatten(a), _flatten(b)
    keys = list(dict.fromkeys([*fa, *fb]))
    order = {"params": 1, "metrics": 2, "packages": 3}
    keys.sort(key=lambda k: order.get(k.split(".")[0], 0) if "." in k else 0)
    rows = []
    for k in keys:
        va, vb = fa.get(k), fb.get(k)
        change = ""
        if va != vb:
            change = (
                f"{vb - va:+.4g}" if k.startswith("metrics.") and _is_number(va) and _is_number(vb) else "*"
            )
        rows.append({"field": k, "a": va, "b": vb, "change": change})
    return rows


def cmd_runs_compare(args: argparse.Namespace) -> int:
    _, runs = _registry_and_runs(args)
    if args.parent or len(args.run_ids) != 2:
        from mlops.cli.tune import compare_many

        return compare_many(args, runs)
    a, b = runs.get(args.run_ids[0]), runs.get(args.run_ids[1])
    rows = compare_runs(a, b)
    if args.json:
        print_json({"run_a": a["run_id"], "run_b": b["run_id"], "rows": rows})
        return 0
    for r in rows:
        for side in ("a", "b"):
            v = r[side]
            if isinstance(v, str) and v.startswith("sha256:"):
                r[side] = v[:19]
            elif r["field"] == "code_commit" and isinstance(v, str):
                r[side] = v[:12]
    print(table(rows, ["field", "a", "b", "change"]))
    print(f"\nA = {a['run_id']}\nB = {b['run_id']}")
    return 0


# ------------------------------------------------------------------ validate


def cmd_validate(args: argparse.Namespace) -> int:
    from mlops.runs.gate import validate_candidate

    registry, runs = _registry_and_runs(args)
    result = validate_candidate(
        registry,
        runs,
        args.model,
        args.candidate,
        against=args.against,
        metric=args.metric,
        min_delta=args.min_delta,
    )
    if args.json:
        print_json(result.to_dict())
    else:
        if result.candidate_metrics:
            rows = [
                {
                    "metric": m,
                    f"candidate v{result.candidate}": result.candidate_metrics.get(m),
                    f"{args.against} v{result.baseline}": result.baseline_metrics.get(m),
                }
                for m in result.candidate_metrics
            ]
            cols = ["metric", f"candidate v{result.candidate}", f"{args.against} v{result.baseline}"]
            print(table(rows, cols))
        print(("PASS: " if result.passed else "FAIL: ") + result.reason)
    if not result.passed:
        print(f"mlops: error: validation gate failed: {result.reason}", file=sys.stderr)
        return 1
    return 0


def _add_tune_flags(t: argparse.ArgumentParser) -> None:
    g = t.add_argument_group("hyperparameter search (Optuna; see mlops.tuning)")
    g.add_argument("--tune", metavar="SPACE_FILE", help="search the parameters of this YAML space file")
    g.add_argument("--trials", type=int, metavar="N", help="number of trials (with --tune)")
    g.add_argument(
        "--parallel", type=int, default=1, metavar="K", help="trials at once, in K processes (<= cores)"
    )
    g.add_argument("--timeout", type=float, metavar="S", help="start no new trial after S seconds")
    g.add_argument("--resume", metavar="RUN", help="continue the search whose parent run id is RUN")


def _add_expectations_flags(t: argparse.ArgumentParser) -> None:
    t.add_argument(
        "--expectations",
        metavar="FILE",
        help="data-quality suite the training data must meet (default: expectations.yaml beside the script)",
    )
    t.add_argument(
        "--expectations-infer",
        action="store_true",
        help="write the suite (FILE or expectations.yaml) from this training data instead of checking it",
    )


def register(subparsers) -> None:
    """Add ``mlops train``, ``mlops runs list|show|compare`` and ``mlops validate``."""
    t = subparsers.add_parser("train", help="run a training project, record the run, register the version")
    t.add_argument("entrypoint", help="training script defining load_data(params) and train(params, data)")
    t.add_argument("--model", required=True, help="registered model name")
    t.add_argument("--param", action="append", metavar="NAME=VALUE", help="training parameter (repeatable)")
    t.add_argument(
        "--if-changed",
        action="store_true",
        help="train only if the code, data or params differ from the model's last registered run",
    )
    t.add_argument("--no-register", action="store_true", help="record the run without registering a version")
    t.add_argument("--description", help="description of the new version")
    _add_expectations_flags(t)
    _add_tune_flags(t)
    _add_store_flag(t)
    add_json_flag(t)
    t.set_defaults(func=cmd_train)

    r = subparsers.add_parser("runs", help="recorded training runs: list, show, compare")
    sub = r.add_subparsers(dest="runs_command", metavar="ACTION")
    sub.required = True
    ls = sub.add_parser("list", help="the newest runs")
    ls.add_argument("--model", help="only runs of this model")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--parent", metavar="RUN", help="only the trials of this hyperparameter search")
    _add_store_flag(ls)
    add_json_flag(ls)
    ls.set_defaults(func=cmd_runs_list)
    sh = sub.add_parser("show", help="one run record (JSON)")
    sh.add_argument("run_id")
    _add_store_flag(sh)
    sh.set_defaults(func=cmd_runs_show)
    cp = sub.add_parser(
        "compare",
        help="params, metrics and lineage of two runs side by side; of more runs (or a search's trials) "
        "one row each",
    )
    cp.add_argument("run_ids", nargs="*", metavar="RUN", help="run ids (two: side by side)")
    cp.add_argument("--parent", metavar="RUN", help="also every trial of this hyperparameter search")
    _add_store_flag(cp)
    add_json_flag(cp)
    cp.set_defaults(func=cmd_runs_compare)

    v = subparsers.add_parser(
        "validate", help="validation gate: candidate vs an alias on the candidate's holdout"
    )
    v.add_argument("model")
    v.add_argument("--candidate", required=True, help="candidate version (number, alias or latest)")
    v.add_argument("--against", default="production", help="alias to beat (default production)")
    v.add_argument("--metric", default="f1", help="metric to compare (default f1)")
    v.add_argument(
        "--min-delta",
        type=float,
        default=0.0,
        help="required improvement over the baseline (default 0: at least as good)",
    )
    _add_store_flag(v)
    add_json_flag(v)
    v.set_defaults(func=cmd_validate)
