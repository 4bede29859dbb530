"""Entry point of the ``mlops local up`` background process: run one stack until SIGTERM.

Its stdout and stderr are the stack's ``runtime.log``. Diagnostics are JSON lines (``mlops.logs``);
a failure to start stays one plain ``mlops local: <message> [<code>]`` line, which ``mlops local up``
finds in the log's tail and shows to the person who ran it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mlops.errors import MlopsError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mlops-local-daemon")
    ap.add_argument("--stack", default="local")
    ap.add_argument("--project-dir", default=".")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--state-file", required=True)
    args = ap.parse_args(argv)
    os.umask(0o077)  # every file the runtime and its functions write is owner-only (issue 13 F)
    from mlops import logs

    logs.configure()
    from mlops.local.assemble import build_runtime
    from mlops.settings import load_stack

    try:
        settings = load_stack(args.stack, args.project_dir)
        runtime = build_runtime(settings, port=args.port)
        try:
            import uvloop
        except ImportError:  # pragma: no cover
            asyncio.run(runtime.run_forever(Path(args.state_file)))
        else:
            uvloop.run(runtime.run_forever(Path(args.state_file)))
    except MlopsError as exc:
        print(f"mlops local: {exc.message} [{exc.code}]", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:
        print(f"mlops local: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
