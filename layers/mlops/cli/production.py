"""``mlops production``: compact an endpoint's prediction logs into Parquet, build labelled datasets from them.

The store is the stack's (``--stack``) unless ``--store`` names one (see ``mlops models``). ``dataset``
registers the labelled production dataset as the next version of ``--name`` (audited as ``--as``), with the
compaction manifests it read as lineage; the counts of what was left out are printed, never hidden.
"""

from __future__ import annotations

from mlops.cli.common import add_actor_flag, add_store_flag, open_args_store, registry_for
from mlops.cli.output import add_json_flag, emit, print_json
from mlops.errors import BadRequestError

HELP = "production logs -> Parquet partitions -> labelled datasets (feedback joined to logged features)"
COMPACT_COLUMNS = [
    "endpoint",
    "day",
    "batch",
    "objects",
    "predictions",
    "feedback",
    "with_features",
    "skipped",
]


def cmd_compact(args) -> int:
    from mlops.production import compact, compact_all

    if bool(args.day) == bool(args.all):
        raise BadRequestError("give --day YYYY-MM-DD or --all", code="invalid_argument")
    store = open_args_store(args)
    done = compact_all(store, args.endpoint) if args.all else [compact(store, args.endpoint, args.day)]
    if args.json:
        print_json({"batches": [r.to_dict() for r in done]})
        return 0
    rows = [
        {
            "endpoint": r.endpoint,
            "day": r.day,
            "batch": r.batch if r.batch is not None else "up to date",
            "objects": len(r.sources),
            "predictions": r.counts.predictions,
            "feedback": r.counts.feedback,
            "with_features": r.counts.with_features,
            "skipped": r.counts.lines_skipped + r.counts.other_endpoint,
        }
        for r in done
    ]
    emit(rows, args, COMPACT_COLUMNS)
    return 0


def cmd_dataset(args) -> int:
    from mlops.datasets import DatasetStore
    from mlops.production import build

    registry = registry_for(args)
    res = build(
        registry.store, args.endpoint, args.start, args.end, model=args.model, horizon_days=args.horizon_days
    )
    stats = dict(res.stats.__dict__)
    if res.table.num_rows == 0:
        raise BadRequestError(
            f"no labelled prediction with features in the window ({stats}); compact first "
            f"(mlops production compact {args.endpoint} --all) or widen the window",
            code="empty_dataset",
        )
    lineage = {
        "sources": res.sources,
        "labels": "feedback",
        "endpoint": args.endpoint,
        "window": {"from": args.start, "to": args.end, "horizon_days": args.horizon_days},
        "counts": stats,
    }
    v = DatasetStore.for_registry(registry).create(
        args.name, res.table, entity_keys=["prediction_id"], event_time="prediction_ts", lineage=lineage
    )
    out = {"dataset": v.ref, "digest": v.digest, **stats}
    emit(out, args, ["dataset", "rows", "labelled", "labelled_without_features", "feedback_unmatched"])
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("production", help=HELP, description=HELP)
    actions = p.add_subparsers(dest="production_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    c = actions.add_parser(
        "compact", help="compact an endpoint's JSON-line log objects into Parquet partitions"
    )
    c.add_argument("endpoint")
    c.add_argument("--day", metavar="YYYY-MM-DD", help="the day of the log objects (their names' day)")
    c.add_argument(
        "--all", action="store_true", help="every day with log objects (covered ones write nothing)"
    )
    add_store_flag(c)
    add_json_flag(c)
    c.set_defaults(func=cmd_compact)
    d = actions.add_parser(
        "dataset", help="register the labelled production dataset of a prediction-time window"
    )
    d.add_argument("endpoint")
    d.add_argument(
        "--from", dest="start", required=True, metavar="TIME", help="window start (ISO 8601, inclusive)"
    )
    d.add_argument("--to", dest="end", required=True, metavar="TIME", help="window end (ISO 8601, exclusive)")
    d.add_argument("--name", required=True, help="the dataset to add a version to")
    d.add_argument("--model", help="only predictions of this model")
    d.add_argument(
        "--horizon-days",
        type=int,
        default=30,
        metavar="N",
        help="labels count up to N days after the prediction",
    )
    add_store_flag(d)
    add_json_flag(d)
    add_actor_flag(d)
    d.set_defaults(func=cmd_dataset)
