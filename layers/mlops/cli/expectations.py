"""``mlops expectations infer|check|diff``: data-quality suites for Parquet or CSV files (``mlops.quality``).

``check`` prints the report (one line per failed expectation) on stdout and exits 1 when any failed;
``diff`` prints one line per changed setting and exits 0 (1 with ``--exit-code`` when they differ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops.cli.output import add_json_flag, print_json

HELP = "data-quality expectations of a table: infer a suite, check a file against it, diff two suites"


def _read_suite(path: str):
    from mlops.quality import loads

    return loads(Path(path).read_bytes())


def cmd_infer(args: argparse.Namespace) -> int:
    from mlops.quality import dumps, infer, read_file

    suite = infer(read_file(args.file), entity_keys=args.entity_key or None, event_time=args.event_time)
    text = dumps(suite)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: {len(suite.columns)} columns, {suite.digest()}", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from mlops.quality import check, read_file

    report = check(_read_suite(args.suite), read_file(args.file))
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.to_text())
    return 0 if report.ok else 1


def cmd_diff(args: argparse.Namespace) -> int:
    from mlops.quality import diff, render_diff

    changes = diff(_read_suite(args.a), _read_suite(args.b))
    if args.json:
        print_json(changes)
    else:
        print(render_diff(changes) if changes else "no differences")
    return 1 if changes and args.exit_code else 0


def register(subparsers) -> None:
    p = subparsers.add_parser("expectations", help=HELP)
    sub = p.add_subparsers(dest="expectations_command", metavar="ACTION", required=True)
    i = sub.add_parser("infer", help="infer a suite from a Parquet or CSV file")
    i.add_argument("file", help="training data (.parquet or .csv)")
    i.add_argument("-o", "--output", metavar="SUITE.yaml", help="where to write the suite (default: stdout)")
    i.add_argument("--entity-key", action="append", metavar="K", help="entity key column (repeatable)")
    i.add_argument("--event-time", metavar="C", help="event-time column (adds a freshness expectation)")
    i.set_defaults(func=cmd_infer)
    c = sub.add_parser("check", help="check a Parquet or CSV file against a suite (exit 1 on failure)")
    c.add_argument("suite", help="the suite (YAML)")
    c.add_argument("file", help="the data (.parquet or .csv)")
    add_json_flag(c)
    c.set_defaults(func=cmd_check)
    d = sub.add_parser("diff", help="what changed between two suites")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--exit-code", action="store_true", help="exit 1 when the suites differ")
    add_json_flag(d)
    d.set_defaults(func=cmd_diff)
