"""The ``mlops`` command line: one sub-command module per area, errors as one line + exit code.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)`` and sets
``func`` on its parsers; ``func(args)`` returns an exit code (or None for 0).
Modules are imported lazily so ``mlops --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mlops.errors import MlopsError

COMMAND_MODULES = (
    "mlops.cli.local",
    "mlops.cli.keys",
    "mlops.cli.models",
    "mlops.cli.audit",
    "mlops.cli.deploy",
    "mlops.cli.drift",
    "mlops.cli.alarms",
    "mlops.cli.pipeline",
    "mlops.cli.runs",
    "mlops.cli.ab",
    "mlops.cli.infra",
    "mlops.cli.quickstart",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="The model lifecycle on OCI, and on this laptop.")
    parser.add_argument("--stack", default=os.environ.get("MLOPS_STACK", "local"),
                        help="stack whose Pulumi.<stack>.yaml settings to use (default: local)")
    parser.add_argument("--project-dir", default=os.environ.get("MLOPS_PROJECT_DIR", "."),
                        help="directory holding Pulumi.yaml and the stack files")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that area has not landed yet
                continue
            raise
        module.register(sub)
    return parser


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
    parser = build_parser()
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
    except OSError as exc:          # a missing file, a refused connection: say which, in one line
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"mlops: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback unless asked to
        if os.environ.get("MLOPS_DEBUG"):
            raise
        print(f"mlops: internal error: {type(exc).__name__}: {str(exc)[:300]} "
              "(set MLOPS_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 3
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
