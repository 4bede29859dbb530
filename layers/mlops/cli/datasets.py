"""``mlops datasets``: create, list, show and diff immutable dataset versions (tables by default, ``--json``).

The store is the stack's (``--stack``), unless ``--store`` names one (see ``mlops models``); creating a
version appends ``dataset.create`` to the registry's audit log as ``--as`` (default ``$MLOPS_ACTOR``).
"""

from __future__ import annotations

from typing import Any

from mlops.cli.common import add_action, registry_for
from mlops.cli.output import emit, print_json, table
from mlops.errors import BadRequestError, UnprocessableError

HELP = "versioned, immutable datasets (Parquet in the object store): create, list, show, diff, gc"


def open_datasets(args):
    from mlops.datasets import DatasetStore

    return DatasetStore.for_registry(registry_for(args))


def read_input(path: str, event_time: str):
    """A Parquet or CSV file as a stream of record batches (bounded memory; CSV types inferred by pyarrow,
    ISO 8601 times become timestamps)."""
    import pyarrow as pa

    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=64 * 1024))
        if lower.endswith((".csv", ".csv.gz")):
            import pyarrow.csv as pcsv

            return pcsv.open_csv(path)
    except pa.ArrowInvalid as exc:
        raise UnprocessableError(
            f"{path}: not readable ({str(exc).splitlines()[0]})", code="invalid_file"
        ) from None
    raise BadRequestError(f"{path}: give a .parquet or .csv file", code="invalid_argument")


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    tr = m.get("time_range") or {}
    return {
        "dataset": m["name"],
        "version": m["version"],
        "digest": m["digest"][:19],
        "rows": m["rows"],
        "columns": len(m["columns"]),
        "parts": len(m["parts"]),
        "from": tr.get("min"),
        "to": tr.get("max"),
        "created_at": m.get("created_at"),
        "created_by": m.get("created_by"),
    }


SUMMARY = ["dataset", "version", "digest", "rows", "columns", "parts", "from", "to", "created_at"]

# ----------------------------------------------------------------------------- commands


def cmd_create(args) -> int:
    import pyarrow as pa

    ds = open_datasets(args)
    lineage: dict[str, Any] = {"sources": [args.file, *(args.source or [])]}
    if args.feature_group:
        lineage["feature_groups"] = args.feature_group
    if args.parent:
        lineage["datasets"] = args.parent
    if args.labels:
        lineage["labels"] = args.labels
    reader = read_input(args.file, args.event_time)
    try:
        v = ds.create(
            args.name,
            reader,
            entity_keys=args.entity_key or [],
            event_time=args.event_time,
            lineage=lineage,
            description=args.description or "",
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UnprocessableError(f"{args.file}: {str(exc).splitlines()[0]}", code="invalid_file") from None
    emit(v.to_dict() if args.json else _summary(v.to_dict()), args, None if args.json else SUMMARY)
    return 0


def cmd_list(args) -> int:
    ds = open_datasets(args)
    found = ds.versions(args.name) if args.name else ds.latest()
    if args.name and not found:
        raise BadRequestError(f"dataset {args.name!r} has no versions", code="dataset_not_found")
    manifests = [v.to_dict() for v in found]
    if args.json:
        print_json({"datasets": manifests})
    else:
        print(table([_summary(m) for m in manifests], SUMMARY))
    return 0


def cmd_show(args) -> int:
    m = open_datasets(args).get_ref(args.ref).to_dict()
    if args.json:
        print_json(m)
        return 0
    print(table([_summary(m)], SUMMARY))
    keys_, event = set(m.get("entity_keys") or []), m.get("event_time")
    rows = [
        {
            "column": c["name"],
            "type": c["type"],
            "nullable": c["nullable"],
            "nulls": c["null_count"],
            "role": "entity key" if c["name"] in keys_ else ("event time" if c["name"] == event else None),
        }
        for c in m["columns"]
    ]
    print(table(rows, ["column", "type", "nullable", "nulls", "role"]))
    print(f"digest: {m['digest']}")
    print(f"location: {m['location']['store']} {m['location']['prefix']} ({m['bytes']} bytes)")
    lineage = m.get("lineage") or {}
    for field in sorted(lineage):
        print(f"lineage.{field}: {lineage[field]}")
    if m.get("description"):
        print(m["description"])
    return 0


def cmd_diff(args) -> int:
    d = open_datasets(args).diff(args.a, args.b)
    if args.json:
        print_json(d)
        return 0
    cols = d["columns"]
    print(f"{d['a']} -> {d['b']}: {'same content' if d['same_content'] else 'content differs'}")
    print(f"rows: {d['rows']['a']} -> {d['rows']['b']} ({d['rows']['change']:+d})")
    tr = d["time_range"]
    if tr["changed"]:
        print(f"time range: {tr['a']['min']}..{tr['a']['max']} -> {tr['b']['min']}..{tr['b']['max']}")
    for label, names in (("added", cols["added"]), ("removed", cols["removed"])):
        if names:
            print(f"columns {label}: {', '.join(names)}")
    for c in cols["changed"]:
        print(
            f"column {c['name']}: type {c['type'][0]} -> {c['type'][1]}, nullable {c['nullable'][0]} -> {c['nullable'][1]}"
        )
    if d["entity_keys"]:
        print(f"entity keys: {d['entity_keys'][0]} -> {d['entity_keys'][1]}")
    if d["event_time"]:
        print(f"event time: {d['event_time'][0]} -> {d['event_time'][1]}")
    if d["null_rates"]:
        print(table(d["null_rates"], ["name", "a", "b", "change"]))
    return 0


def cmd_gc(args) -> int:
    if not args.grace_hours >= 0:
        raise BadRequestError("--grace-hours must be a number >= 0", code="invalid_argument")
    done = open_datasets(args).gc(args.name, grace_s=args.grace_hours * 3600)
    emit(done, args, ["dataset", "skipped", "deleted_parts", "kept_parts", "stale_writers", "active_writers"])
    return 0


# ----------------------------------------------------------------------------- parser


def register(subparsers) -> None:
    p = subparsers.add_parser("datasets", help=HELP, description=HELP)
    actions = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    c = add_action(
        actions, "create", "write a Parquet or CSV file as the next version of NAME", cmd_create, writes=True
    )
    c.add_argument("name")
    c.add_argument("file", help="a .parquet or .csv file (read in batches)")
    c.add_argument("--entity-key", action="append", metavar="COL", help="an entity key column (repeatable)")
    c.add_argument("--event-time", required=True, metavar="COL", help="the event-time column (a timestamp)")
    c.add_argument("--description", default="")
    c.add_argument(
        "--source", action="append", metavar="URI", help="another source it was built from (lineage)"
    )
    c.add_argument(
        "--feature-group", action="append", metavar="GROUP:V", help="a feature-group version used (lineage)"
    )
    c.add_argument(
        "--parent", action="append", metavar="NAME:V", help="a dataset version it derives from (must exist)"
    )
    c.add_argument("--labels", metavar="SOURCE", help="where its labels come from (lineage)")

    ls = add_action(actions, "list", "every dataset's newest version, or every version of NAME", cmd_list)
    ls.add_argument("name", nargs="?")

    s = add_action(
        actions, "show", "a version: schema, nulls, time range, digest, location, lineage", cmd_show
    )
    s.add_argument("ref", metavar="NAME[:VERSION]")

    d = add_action(
        actions, "diff", "schema, rows, time range and null-rate changes between two versions", cmd_diff
    )
    d.add_argument("a", metavar="NAME:V1")
    d.add_argument("b", metavar="NAME:V2")

    g = add_action(
        actions, "gc", "delete orphan parts (of failed writes) no version references", cmd_gc, writes=True
    )
    g.add_argument("name")
    g.add_argument(
        "--grace-hours",
        type=float,
        default=24.0,
        help="do nothing while a writer that started less than this ago may be running (default 24)",
    )
