"""``mlops features``: register group definitions, ingest batches, list and show groups, build training sets,
materialize groups into the online store and look entities up in it.

The store is the stack's (``--stack``), unless ``--store`` gives a path or URL or ``MLOPS_STORE_*`` name one
(see ``mlops.cli.common.open_args_store``). Registrations and ingestions are entries in the audit log.
The online store is ``--online`` (``sqlite:PATH`` or ``redis://HOST:PORT[/DB]``), else ``MLOPS_FEATURES_ONLINE``,
else, for a file store, ``online/features.sqlite`` in the store's directory.
"""

from __future__ import annotations

from typing import Any

from mlops.cli.common import add_actor_flag, add_store_flag
from mlops.cli.output import add_json_flag, emit, print_json

_HELP = "feature groups: register, ingest, list, show, point-in-time training sets, materialize, online get"


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


def _online(args, store):
    import os

    from mlops.errors import BadRequestError
    from mlops.features.online_open import open_online

    url = args.online or os.environ.get("MLOPS_FEATURES_ONLINE")
    if not url:
        root = getattr(store, "root", None)
        if root is None:
            raise BadRequestError(
                "name the online store: --online sqlite:PATH or redis://HOST:PORT (or MLOPS_FEATURES_ONLINE)",
                code="invalid_argument",
            )
        url = f"sqlite:{root / 'online' / 'features.sqlite'}"
    return open_online(url)


def cmd_materialize(args) -> int:
    from mlops.cli.common import open_args_store
    from mlops.features.materialize import materialize

    store = open_args_store(args)
    online = _online(args, store)
    try:
        res = materialize(store, online, args.group)
    finally:
        online.close()
    if args.json:
        print_json({**res.to_doc(), "online": online.url})
    elif res.to_batch == res.from_batch:
        print(f"{res.group}@{res.version}: up to date (batch {res.to_batch}) in {online.url}")
    else:
        print(
            f"{res.group}@{res.version}: batches {res.from_batch + 1}..{res.to_batch} materialized, "
            f"{res.entities_written} entit{'y' if res.entities_written == 1 else 'ies'} written to {online.url}"
        )
    return 0


def _entity(words: list[str], gv) -> dict[str, str]:
    from mlops.errors import BadRequestError

    out = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or name not in gv.group.key_names:
            raise BadRequestError(
                f"{word[:60]!r}: give KEY=VALUE for the keys of {gv.ref} ({', '.join(gv.group.key_names)})",
                code="invalid_argument",
            )
        out[name] = value
    return out


def cmd_get(args) -> int:
    from mlops.cli.common import open_args_store
    from mlops.errors import NotFoundError
    from mlops.features.groups import get_group

    store = open_args_store(args)
    gv = get_group(store, args.group)
    entity = _entity(args.key, gv)
    online = _online(args, store)
    try:
        (row,) = online.get(gv, [entity])
    finally:
        online.close()
    if row is None:
        raise NotFoundError(
            f"{gv.ref}: no online values for {entity} (never materialized, or older than the TTL {gv.group.ttl})",
            code="entity_not_found",
        )
    print_json({**entity, **{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}})
    return 0


def register(subparsers) -> None:
    """Add ``mlops features register|ingest|list|show|training-set|materialize|get``."""
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
    m = sub.add_parser("materialize", help="push each entity's latest values into the online store")
    m.add_argument("group", help="GROUP or GROUP@VERSION")
    g = sub.add_parser("get", help="an entity's latest values from the online store (JSON)")
    g.add_argument("group", help="GROUP or GROUP@VERSION")
    g.add_argument("key", nargs="+", metavar="KEY=VALUE", help="the entity's keys, e.g. customer_id=c-17")
    for parser in (m, g):
        parser.add_argument(
            "--online",
            default=None,
            metavar="URL",
            help="sqlite:PATH or redis://HOST:PORT[/DB] (default: $MLOPS_FEATURES_ONLINE, else a file store's "
            "online/features.sqlite)",
        )
    for parser, func in (
        (r, cmd_register),
        (i, cmd_ingest),
        (ls, cmd_list),
        (sh, cmd_show),
        (t, cmd_training_set),
        (m, cmd_materialize),
        (g, cmd_get),
    ):
        add_store_flag(parser)
        parser.set_defaults(func=func)
    for parser in (r, i):
        add_actor_flag(parser)
    for parser in (r, i, ls, m):
        add_json_flag(parser)
