"""What every command needs from the stack: its settings, its store, its registry and who is acting."""

from __future__ import annotations

import getpass
import os
from dataclasses import asdict

from mlops.settings import StackSettings, find_project_dir, load_stack


def stack_settings(args) -> StackSettings:
    cached = getattr(args, "_settings", None)
    if cached is None:
        cached = load_stack(args.stack, find_project_dir(args.project_dir))
        args._settings = cached
    return cached


def store_for(settings: StackSettings):
    """The stack's object store (file path resolved against the project directory)."""
    from mlops.secrets import FileSecrets
    from mlops.storage import StoreConfig, open_store

    d = asdict(settings.store)
    if d.get("path"):
        d["path"] = str(settings.path(d["path"]))
    secrets = FileSecrets(settings.path(settings.local.secrets_file)) if settings.environment == "local" else None
    return open_store(StoreConfig.from_dict(d), secrets)


def actor(args) -> str:
    return getattr(args, "as_actor", None) or os.environ.get("MLOPS_ACTOR") or getpass.getuser() or "unknown"


def registry_for(args):
    from mlops.registry import Registry

    return Registry(store_for(stack_settings(args)), actor=actor(args))


def add_actor_flag(parser) -> None:
    parser.add_argument("--as", dest="as_actor", default=None,
                        help="who is acting, for the audit log (default: $MLOPS_ACTOR or your user name)")
