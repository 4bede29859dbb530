"""``mlops pipeline``: run an OCI DevOps build spec locally, validate build and deploy pipeline files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops.cli.output import print_json
from mlops.errors import BadRequestError

DEFAULT_SPEC = "pipelines/build_spec.yaml"


def _parse_vars(items: list[str] | None) -> dict[str, str]:
    from mlops.pipeline.deployspec import PARAM_NAME

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not PARAM_NAME.match(name):
            raise BadRequestError(
                f"--var {item!r}: expected NAME=VALUE with NAME matching ^[a-zA-Z][a-zA-Z_0-9]*$"
            )
        out[name] = value
    return out


def _source_dir(spec_path: Path, workdir: str | None) -> Path:
    if workdir:
        return Path(workdir)
    from mlops.pipeline.variables import git_output

    top = git_output(spec_path.resolve().parent, "rev-parse", "--show-toplevel")
    return Path(top) if top else Path.cwd()


def cmd_run(args: argparse.Namespace) -> int:
    from mlops.pipeline.buildspec import load_build_spec
    from mlops.pipeline.results import format_report
    from mlops.pipeline.runner import BuildRunner
    from mlops.pipeline.variables import secrets_file_path
    from mlops.secrets import FileSecrets

    spec_path = Path(args.spec)
    spec = load_build_spec(spec_path)
    secrets_path = secrets_file_path(args.secrets)
    if args.secrets and not secrets_path.exists():
        raise BadRequestError(f"--secrets {secrets_path}: no such file")
    secrets = FileSecrets(secrets_path)
    live = sys.stderr if args.json else sys.stdout
    runner = BuildRunner(
        spec,
        source_dir=_source_dir(spec_path, args.workdir),
        params=_parse_vars(args.var),
        secrets=secrets,
        secrets_source=str(secrets_path),
        out=live,
    )
    result = runner.run(only=args.only)
    if args.json:
        print_json(result.to_dict(runner.masker))
    else:
        print(format_report(result, runner.masker))
    if not result.ok:
        print(f"mlops: error: build failed: {runner.masker.mask(result.reason)}", file=sys.stderr)
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from mlops.pipeline.buildspec import load_build_spec
    from mlops.pipeline.deployspec import load_deploy_pipeline
    from mlops.pipeline.specfile import read_yaml

    for name in args.files:
        data = read_yaml(name)
        if isinstance(data, dict) and data.get("kind") == "DeployPipeline":
            pipeline = load_deploy_pipeline(name)
            stages = " -> ".join(f"{s['name']}({s['type']})" for s in pipeline["stages"])
            print(f"{name}: valid deploy pipeline: {stages}")
        else:
            spec = load_build_spec(name, component=None)
            print(
                f"{name}: valid {spec.component} spec: {len(spec.steps)} steps ("
                + ", ".join(spec.step_names())
                + ")"
                + (f"; exports {', '.join(spec.exported_variables)}" if spec.exported_variables else "")
            )
    return 0


def register(subparsers) -> None:
    """Add ``mlops pipeline run|validate``."""
    p = subparsers.add_parser(
        "pipeline", help="run the OCI DevOps build spec locally; validate pipeline files"
    )
    sub = p.add_subparsers(dest="pipeline_command", metavar="ACTION")
    sub.required = True

    r = sub.add_parser("run", help="run a build spec locally, as the OCI DevOps build runner would")
    r.add_argument("spec", nargs="?", default=DEFAULT_SPEC, help=f"build spec file (default {DEFAULT_SPEC})")
    r.add_argument(
        "--var",
        action="append",
        metavar="NAME=VALUE",
        help="a build parameter, visible to the steps as an env var (repeatable)",
    )
    r.add_argument(
        "--secrets",
        metavar="FILE",
        help="JSON file of secret-OCID -> value for env.vaultVariables "
        "(default $MLOPS_SECRETS_FILE or ~/.config/mlops/secrets.json); keep it out of git",
    )
    r.add_argument(
        "--workdir",
        metavar="DIR",
        help="primary source directory (OCI_PRIMARY_SOURCE_DIR); default: the git checkout of the spec",
    )
    r.add_argument(
        "--only",
        action="append",
        metavar="STEP",
        help="run only this step (name or 1-based number; repeatable)",
    )
    r.add_argument(
        "--json", action="store_true", help="print the result as JSON (step output goes to stderr)"
    )
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check build specs, command specs and deploy pipeline files")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.set_defaults(func=cmd_validate)
