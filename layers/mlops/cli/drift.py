"""``mlops drift reports|show``: the drift reports the drift function wrote for an endpoint."""

from __future__ import annotations

import json
import sys

from mlops.cli.common import stack_settings, store_for
from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import NotFoundError
from mlops.names import validate_endpoint_name


def register(sub) -> None:
    p = sub.add_parser("drift", help="drift reports of an endpoint (written by the drift function)")
    d = p.add_subparsers(dest="drift_command", metavar="ACTION")
    r = d.add_parser(
        "reports", help="the newest reports: when, which version, drifted or not, which features"
    )
    r.add_argument("endpoint")
    r.add_argument("--limit", type=int, default=20)
    add_json_flag(r)
    r.set_defaults(func=cmd_reports)
    s = d.add_parser("show", help="print one report (JSON), or with --html its self-contained page")
    s.add_argument("key", help="a report key from `mlops drift reports` (or 'latest:ENDPOINT')")
    s.add_argument("--html", action="store_true")
    s.set_defaults(func=cmd_show)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _reports(store, endpoint: str) -> list[str]:
    validate_endpoint_name(endpoint)
    from mlops.driftjob import REPORT_PREFIX

    return sorted(
        (k for k in store.list(f"{REPORT_PREFIX}{endpoint}/") if k.endswith(".json")),
        key=lambda k: k.rsplit("/", 1)[-1],
    )


def _short(names: list[str], n: int = 4) -> str:
    return ",".join(names[:n]) + (f" (+{len(names) - n})" if len(names) > n else "")


def cmd_reports(args) -> int:
    store = store_for(stack_settings(args))
    rows = []
    for key in _reports(store, args.endpoint)[-args.limit :][::-1]:
        doc = json.loads(store.get(key).data)
        ds, win = doc.get("dataset", {}), doc.get("window", {})
        rows.append(
            {
                "report": key,
                "model": win.get("model"),
                "version": win.get("version"),
                "rows": win.get("n_rows"),
                "window_drifted": ds.get("drifted"),
                "alarm": (doc.get("persistence") or {}).get("drifted"),
                "share": ds.get("share"),
                "features": _short(ds.get("drifted_features") or []),
            }
        )
    if args.json:
        print_json(rows)
    elif rows:
        print(table(rows, ["report", "version", "rows", "window_drifted", "alarm", "share", "features"]))
    else:
        print(f"no drift reports for endpoint {args.endpoint} yet")
    return 0


def cmd_show(args) -> int:
    from mlops.driftjob import REPORT_PREFIX

    store = store_for(stack_settings(args))
    key = args.key
    if key.startswith("latest:"):
        keys = _reports(store, key.split(":", 1)[1])
        if not keys:
            raise NotFoundError(f"no drift reports for endpoint {key.split(':', 1)[1]}", code="no_reports")
        key = keys[-1]
    if not key.startswith(REPORT_PREFIX):
        raise NotFoundError(f"{key!r} is not a drift report key", code="not_a_report")
    if args.html:
        key = key[:-5] + ".html" if key.endswith(".json") else key
    sys.stdout.write(store.get(key).data.decode())
    return 0
