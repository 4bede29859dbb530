"""The ``mlops`` command line: one sub-command module per area, errors as one line + exit code.

Each module in ``COMMANDS`` exposes ``register(subparsers)`` and sets ``func`` on its parsers;
``func(args)`` returns an exit code (or None for 0). A command's module is imported only when that
command is asked for: ``mlops --help`` lists the commands from ``COMMANDS`` alone, and ``mlops X ...``
imports X's module only (each keeps its top-level imports to argparse-level code, so ``mlops X --help``
stays fast too; the work's imports live in the command functions).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection

from mlops.errors import MlopsError

# (module, ((command, one-line help), ...)) in the order `mlops --help` lists them. The help lines are the
# ones each module's register() gives its parsers (tests/unit/cli/test_lazy_cli.py checks they agree).
COMMANDS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "mlops.cli.local",
        (
            ("local", "run the stack on this machine (127.0.0.1 only)"),
            ("invoke", "invoke a function of the running local stack directly"),
        ),
    ),
    ("mlops.cli.keys", (("keys", "API keys for the gateway (salted hashes; tokens shown once)"),)),
    ("mlops.cli.models", (("models", "register, inspect, alias and approve model versions"),)),
    (
        "mlops.cli.datasets",
        (
            (
                "datasets",
                "versioned, immutable datasets (Parquet in the object store): create, list, show, diff, gc",
            ),
        ),
    ),
    (
        "mlops.cli.audit",
        (("audit", "the tamper-evident audit log: verify, history, point-in-time questions"),),
    ),
    ("mlops.cli.deploy", (("deploy", "move versions between an endpoint's stable and canary"),)),
    ("mlops.cli.drift", (("drift", "drift reports of an endpoint (written by the drift function)"),)),
    ("mlops.cli.alarms", (("alarms", "alarm rules: their MQL, and a local evaluation"),)),
    (
        "mlops.cli.expectations",
        (
            (
                "expectations",
                "data-quality expectations of a table: infer a suite, check a file against it, diff two suites",
            ),
        ),
    ),
    (
        "mlops.cli.features",
        (
            (
                "features",
                "feature groups: register, ingest, list, show, point-in-time training sets, materialize, "
                "online get",
            ),
        ),
    ),
    ("mlops.cli.pipeline", (("pipeline", "run the OCI DevOps build spec locally; validate pipeline files"),)),
    (
        "mlops.cli.runs",
        (
            ("train", "run a training project, record the run, register the version"),
            ("runs", "recorded training runs: list, show, compare"),
            ("validate", "validation gate: candidate vs an alias on the candidate's holdout"),
        ),
    ),
    (
        "mlops.cli.production",
        (
            (
                "production",
                "production logs -> Parquet partitions -> labelled datasets (feedback joined to logged features)",
            ),
        ),
    ),
    ("mlops.cli.ab", (("ab", "A/B analysis of an endpoint's canary or shadow against stable"),)),
    ("mlops.cli.infra", (("infra", "the Pulumi program: preview what a stack deploys"),)),
    ("mlops.cli.settings", (("settings", "stack settings: the stack file's JSON Schema, and a check"),)),
    (
        "mlops.cli.quickstart",
        (("quickstart", "run the whole lifecycle locally: train, deploy, canary, drift, rollback"),),
    ),
)


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``mlops`` parser. By default every command in full (imports every command module); given command
    names, only their modules are imported and registered, the others are placeholders that carry their
    name and help line (enough for ``mlops --help`` and for finding the command)."""
    parser = argparse.ArgumentParser(
        prog="mlops", description="The model lifecycle on OCI, and on this laptop."
    )
    parser.add_argument(
        "--stack",
        default=os.environ.get("MLOPS_STACK", "local"),
        help="stack whose Pulumi.<stack>.yaml settings to use (default: local)",
    )
    parser.add_argument(
        "--project-dir",
        default=os.environ.get("MLOPS_PROJECT_DIR", "."),
        help="directory holding Pulumi.yaml and the stack files",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module, commands in COMMANDS:
        if load is None or any(name in load for name, _ in commands):
            importlib.import_module(module).register(sub)
        else:
            for name, help_ in commands:
                sub.add_parser(name, help=help_, add_help=False)
    return parser


def _command_of(argv: list[str] | None) -> str | None:
    """The command word of ``argv`` (parsed with placeholders only; ``--help`` and errors exit here)."""
    args, _ = build_parser(()).parse_known_args(argv)
    return args.command


def _undecodable(argv: list[str]) -> str | None:
    """The first argument that is not valid UTF-8 (Python keeps such bytes as lone surrogates)."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return arg.encode("utf-8", "backslashreplace").decode("utf-8")
    return None


def main(argv: list[str] | None = None) -> int:
    bad = _undecodable(sys.argv[1:] if argv is None else argv)
    if bad is not None:
        print(f"mlops: error: argument {bad[:60]!r} is not valid UTF-8 [invalid_argument]", file=sys.stderr)
        return 2
    command = _command_of(argv)
    parser = build_parser(() if command is None else (command,))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except MlopsError as exc:
        print(f"mlops: error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1 if exc.status < 500 or exc.code in ("config_error", "integrity_error") else 3
    except KeyboardInterrupt:
        print("mlops: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a missing file, a refused connection: say which, in one line
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"mlops: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback unless asked to
        if os.environ.get("MLOPS_DEBUG"):
            raise
        print(
            f"mlops: internal error: {type(exc).__name__}: {str(exc)[:300]} "
            "(set MLOPS_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 3
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
