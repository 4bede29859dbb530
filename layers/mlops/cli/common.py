"""What every command needs from the stack: its settings, its store, its registry and who is acting."""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING

from mlops.cli.output import add_json_flag

if TYPE_CHECKING:
    from mlops.settings import StackSettings


def stack_settings(args) -> StackSettings:
    cached = getattr(args, "_settings", None)
    if cached is None:
        from mlops.settings import find_project_dir, load_stack

        cached = load_stack(args.stack, find_project_dir(args.project_dir))
        args._settings = cached
    return cached


def store_for(settings: StackSettings):
    """The stack's object store (file path resolved against the project directory).

    A local stack's first command is its first-run set-up (secrets file, dev key, store directory);
    after that a missing store directory is an outage the command reports, never re-creates."""
    from mlops.storage.stack import open_stack_store

    if settings.environment == "local":
        from mlops.local.setup import ensure_local_secrets

        ensure_local_secrets(settings)
    return open_stack_store(settings)


def add_store_flag(parser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        metavar="PATH_OR_URL",
        help="object store to use instead of the stack's (a directory, s3://bucket?endpoint=..., "
        "oci://bucket?namespace=...)",
    )


def open_args_store(args):
    """``--store URL`` if given, else ``MLOPS_STORE_*`` if set, else the stack's store."""
    from mlops.storage import StoreConfig, open_store

    url = getattr(args, "store", None)
    if url:  # a directory named on the command line is the person's explicit choice: set it up
        return open_store(StoreConfig.from_url(url), create=True)
    if os.environ.get("MLOPS_STORE_BACKEND"):
        return open_store(StoreConfig.from_env(os.environ))
    return store_for(stack_settings(args))


def actor(args) -> str:
    return getattr(args, "as_actor", None) or os.environ.get("MLOPS_ACTOR") or getpass.getuser() or "unknown"


def audit_anchor_for(args):
    """The key that signs the audit log of the store the arguments name (``mlops.registry.anchor``).

    ``MLOPS_AUDIT_ANCHOR_SECRET`` (read through ``MLOPS_SECRETS_BACKEND`` / ``MLOPS_SECRETS_FILE``, e.g. a
    Vault secret OCID with the vault backend) when set; else, for a local stack's own store, the stack's
    anchor secret in its secrets file (created on first use); else none (``mlops audit verify`` says so).
    """
    from mlops import envvars as ev
    from mlops.registry.anchor import anchor_from_secret

    name = os.environ.get(ev.AUDIT_ANCHOR_SECRET)
    if name:
        from mlops.secrets import secrets_from_env

        return anchor_from_secret(secrets_from_env(os.environ), name)
    if getattr(args, "store", None) or os.environ.get("MLOPS_STORE_BACKEND"):
        return None
    settings = stack_settings(args)
    if settings.environment != "local":
        return None
    from mlops.local.setup import local_audit_anchor

    return local_audit_anchor(settings)


def registry_for(args):
    """The registry on the store the arguments name (see ``open_args_store``), acting as ``--as``."""
    from mlops.registry import Registry

    return Registry(
        open_args_store(args),
        actor=actor(args),
        anchor=audit_anchor_for(args),
        audit_store=audit_store_for(args),
    )


def audit_store_for(args):
    """A cloud stack's audit bucket (its entries live apart from the registry, under a retention rule)."""
    if getattr(args, "store", None) or os.environ.get("MLOPS_STORE_BACKEND"):
        from mlops import envvars as ev

        if not os.environ.get(ev.AUDIT_BUCKET):
            return None
        from mlops.registry.audit import audit_store_from_env
        from mlops.secrets import secrets_from_env
        from mlops.storage import StoreConfig

        base = (
            StoreConfig.from_url(args.store)
            if getattr(args, "store", None)
            else StoreConfig.from_env(os.environ)
        )
        return audit_store_from_env(os.environ, base, secrets_from_env(os.environ))
    from mlops.storage.stack import open_stack_audit_store

    return open_stack_audit_store(stack_settings(args))


def add_actor_flag(parser) -> None:
    parser.add_argument(
        "--as",
        dest="as_actor",
        default=None,
        help="who is acting, for the audit log (default: $MLOPS_ACTOR or your user name)",
    )


def add_action(actions, name: str, help_: str, fn, *, writes: bool = False):
    """One ``mlops NOUN ACTION`` parser over a store: every action takes --store and --json, a write also --as."""
    a = actions.add_parser(name, help=help_)
    add_store_flag(a)
    add_json_flag(a)
    if writes:
        add_actor_flag(a)
    a.set_defaults(func=fn)
    return a
