"""``mlops settings``: the JSON Schema of a stack file (for editors), and a check of one stack's settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_schema(args: argparse.Namespace) -> int:
    from mlops.settings.schema import render_stack_schema

    text = render_stack_schema()
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from mlops.settings import find_project_dir, load_stack

    settings = load_stack(args.stack, find_project_dir(args.project_dir))
    print(
        f"Pulumi.{settings.stack}.yaml: valid ({settings.environment}, {len(settings.endpoints)} endpoint(s))"
    )
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("settings", help="stack settings: the stack file's JSON Schema, and a check")
    sub = p.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    s = sub.add_parser(
        "schema", help="print the JSON Schema of Pulumi.<stack>.yaml (point your editor at it)"
    )
    s.add_argument("--output", "-o", help="write it to this file instead of stdout")
    s.set_defaults(func=cmd_schema)
    c = sub.add_parser("check", help="load and validate the --stack settings; errors name the key")
    c.set_defaults(func=cmd_check)
