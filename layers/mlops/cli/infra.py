"""``mlops infra plan``: what ``pulumi up`` would create for a stack, computed offline under Pulumi mocks.

No tenancy, no credentials and no pulumi CLI are needed: the real Pulumi program (``infra/``; its package
``mlops_infra`` is installed with ``mlops``) runs in-process against a mock engine. Secret values are never
read; placeholders stand in.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import ConfigError


def _require_pulumi() -> None:
    try:
        import pulumi  # noqa: F401
        import pulumi_oci  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{exc.name} is not installed; install the infra extra: pip install 'oci-mlops[infra]'"
        ) from None


def plan(stack: str, project_dir: str | Path = ".") -> dict[str, Any]:
    """The plan of ``stack`` as a dict: counts by type, every resource with its key properties, outputs."""
    from mlops.settings import find_project_dir, load_stack

    pdir = find_project_dir(project_dir)
    settings = load_stack(stack, pdir)
    _require_pulumi()
    from mlops_infra.preview import plan_stack

    return plan_stack(settings, pdir).to_dict()


def _props(props: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in props.items() if k != "display_name")


def cmd_plan(args: argparse.Namespace) -> int:
    data = plan(args.stack, args.project_dir)
    if args.json:
        print_json(data)
        return 0
    rows = [
        {
            "component": r["component"].split(":")[-1],
            "type": r["type"],
            "name": r["name"],
            "display_name": r["properties"].get("display_name"),
            "properties": _props(r["properties"]),
        }
        for r in data["resources"]
    ]
    print(f"pulumi up --stack {data['stack']} would create {data['total']} resources:\n")
    print(table(rows, ["component", "type", "name", "display_name", "properties"]))
    print("\ncounts by type:\n")
    print(table([{"type": t, "count": n} for t, n in data["counts"].items()], ["type", "count"]))
    print("\noutputs (mock OCIDs):\n")
    print(table([{"output": k, "value": v} for k, v in data["outputs"].items()], ["output", "value"]))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("infra", help="the Pulumi program: preview what a stack deploys")
    sub = parser.add_subparsers(dest="infra_command", metavar="COMMAND")
    p = sub.add_parser("plan", help="print what `pulumi up` would create, offline (Pulumi mocks, no cloud)")
    # SUPPRESS: `mlops --stack dev infra plan` and `mlops infra plan --stack dev` both work
    p.add_argument("--stack", default=argparse.SUPPRESS, help="stack whose Pulumi.<stack>.yaml to plan")
    add_json_flag(p)
    p.set_defaults(func=cmd_plan)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
