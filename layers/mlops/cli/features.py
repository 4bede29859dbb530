"""``mlops features``: register group definitions, ingest batches, list and show groups, build training sets.

The store is the stack's (``--stack``), unless ``--store`` gives a path or URL or ``MLOPS_STORE_*`` name one
(see ``mlops.cli.common.open_args_store``). Registrations and ingestions are entries in the audit log.
"""

from __future__ import annotations

from typing import Any

from mlops.cli.common import add_actor_flag, add_store_flag
from mlops.cli.output import add_json_flag, emit, print_json

_HELP = "feature groups: register, ingest, list, show, point-in-time training sets"


def _registry(args):
    from mlops.cli.common import registry_for

    return registry_for(args)


def cmd_register(args) -> int:
    from mlops.features.definition import load_definition
    from mlops.features.groups import register_group
    from mlops.times import iso

    group = load_definition(args.file)
    reg = _registry(args)
    gv, created = register_group(reg.store, group, now=lambda: iso(reg.clock()), actor=reg.actor)
    if created:
        reg.audit_event(
            None, "featuregroup.register", f"featuregroup:{gv.group.name}", {"version": gv.version}
        )
    doc = {**gv.to_doc(), "group": gv.group.name, "created": created}
    if args.json:
        print_json(doc)
    else:
        print(f"{gv.ref}: " + ("registered (new version)" if created else "unchanged (already registered)"))
    return 0


def cmd_ingest(args) -> int:
    from mlops.errors import BadRequestError
    from mlops.features.groups import get_group
    from mlops.features.ingest import ingest

    reg = _registry(args)
    source = args.file
    if source is None:  # the definition's own source, when it names a file
        source = get_group(reg.store, args.group).group.source
        if source == "ingest":
            raise BadRequestError(
                f"feature group {args.group} has no source file (source: ingest): name the FILE to ingest",
                code="invalid_argument",
            )
    res = ingest(reg.store, args.group, source, actor=reg.actor, future_tolerance_s=args.future_tolerance)
    reg.audit_event(
        None,
        "featuregroup.ingest",
        f"featuregroup:{res.group}",
        {
            "version": res.version,
            "batch": res.batch,
            "rows_ok": res.rows_ok,
            "rows_quarantined": res.rows_quarantined,
        },
    )
    if args.json:
        print_json(res.to_doc())
        return 0
    print(
        f"{res.group}@{res.version} batch {res.batch}: {res.rows_in} rows in, {res.rows_ok} stored "
        f"in {len(res.parts)} part(s), {res.rows_quarantined} quarantined"
    )
    for reason, count in res.reasons.items():
        print(f"  {count:>8}  {reason}")
    if res.quarantine:
        print(f"quarantine: {res.quarantine}")
    if res.ignored_columns:
        print(f"ignored columns (not in the definition): {', '.join(res.ignored_columns)}")
    return 0


def _row(store, gv) -> dict[str, Any]:
    from mlops.features.offline import batch_summary

    s = batch_summary(store, gv.group.name, gv.version)
    return {
        "group": gv.group.name,
        "version": gv.version,
        "keys": ",".join(gv.group.key_names),
        "features": len(gv.group.features),
        "ttl": gv.group.ttl,
        "owner": gv.group.owner or None,
        "rows": s["rows"],
        "quarantined": s["quarantined"],
        "batches": s["batches"],
    }


def cmd_list(args) -> int:
    from mlops.cli.common import open_args_store
    from mlops.features.groups import list_groups

    store = open_args_store(args)
    rows = [_row(store, gv) for gv in list_groups(store)]
    emit(
        rows, args, ["group", "version", "keys", "features", "ttl", "owner", "rows", "quarantined", "batches"]
    )
    return 0


def cmd_show(args) -> int:
    from mlops.cli.common import open_args_store
    from mlops.features.groups import get_group, version_numbers
    from mlops.features.offline import batch_summary

    store = open_args_store(args)
    gv = get_group(store, args.group)
    doc = {
        **gv.to_doc(),
        "group": gv.group.name,
        "versions": version_numbers(store, gv.group.name),
        "offline": batch_summary(store, gv.group.name, gv.version),
    }
    print_json(doc)
    return 0


def cmd_training_set(args) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops.cli.common import open_args_store
    from mlops.errors import UnprocessableError
    from mlops.features.pit import training_set

    store = open_args_store(args)
    try:
        labels = pq.read_table(args.labels)
    except pa.ArrowException as exc:
        first = (str(exc).strip().splitlines() or ["unreadable"])[0][:200]
        raise UnprocessableError(
            f"{args.labels}: not a Parquet file: {first}", code="invalid_labels"
        ) from None
    out = training_set(
        store, labels, args.group, timestamp_column=args.timestamp_column, full_feature_names=args.full_names
    )
    pq.write_table(out, args.output, compression="zstd")
    print(f"{out.num_rows} rows, {out.num_columns} columns -> {args.output}")
    return 0


def register(subparsers) -> None:
    """Add ``mlops features register|ingest|list|show|training-set``."""
    p = subparsers.add_parser("features", help=_HELP)
    sub = p.add_subparsers(dest="features_command", metavar="ACTION")
    sub.required = True
    r = sub.add_parser("register", help="register a group definition file (a changed one is a new version)")
    r.add_argument("file", help="the group's YAML definition, e.g. features/customer_activity.yaml")
    i = sub.add_parser("ingest", help="validate a batch and store it; bad rows go to the quarantine")
    i.add_argument("group", help="GROUP or GROUP@VERSION")
    i.add_argument("file", nargs="?", help="a .parquet or .csv file (default: the definition's source file)")
    i.add_argument(
        "--future-tolerance",
        default=300.0,
        type=float,
        metavar="SECONDS",
        help="event times later than now + this are quarantined (default 300)",
    )
    ls = sub.add_parser("list", help="registered groups (latest versions) with their row counts")
    sh = sub.add_parser("show", help="a group version's definition and offline data (JSON)")
    sh.add_argument("group", help="GROUP or GROUP@VERSION")
    t = sub.add_parser("training-set", help="join labels to groups point-in-time, write Parquet")
    t.add_argument("labels", help="Parquet file of labelled events (entity keys, timestamp, labels)")
    t.add_argument("group", nargs="+", help="GROUP or GROUP@VERSION (repeatable)")
    t.add_argument("-o", "--output", required=True, help="Parquet file to write")
    t.add_argument(
        "--timestamp-column", default="event_timestamp", help="the labels' time (default event_timestamp)"
    )
    t.add_argument("--full-names", action="store_true", help="name features GROUP__FEATURE")
    for parser, func in (
        (r, cmd_register),
        (i, cmd_ingest),
        (ls, cmd_list),
        (sh, cmd_show),
        (t, cmd_training_set),
    ):
        add_store_flag(parser)
        parser.set_defaults(func=func)
    for parser in (r, i):
        add_actor_flag(parser)
    for parser in (r, i, ls):
        add_json_flag(parser)
