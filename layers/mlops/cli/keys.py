"""``mlops keys new|list|revoke``: API keys as salted hashes; the token is shown once, never stored.

Local stacks keep the key ring in the secrets file (outside git). For a cloud stack the
ring is a file you keep outside git and hand to Pulumi as a secret
(``pulumi config set --secret mlops-secrets:api_keys "$(cat FILE)"``), which becomes a
Vault secret the authorizer reads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from mlops.cli.common import stack_settings
from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import BadRequestError, NotFoundError
from mlops.localfiles import locked, write_atomic
from mlops.names import ALL_SCOPES
from mlops.secrets import FileSecrets
from mlops.serving.apikeys import PRINCIPAL_RULE, KeyRecord, KeyRing, new_api_key, validate_principal

T = TypeVar("T")


def register(sub) -> None:
    p = sub.add_parser("keys", help="API keys for the gateway (salted hashes; tokens shown once)")
    k = p.add_subparsers(dest="keys_command", metavar="ACTION")
    n = k.add_parser("new", help="issue a key for a principal")
    n.add_argument(
        "principal", help=f"who the key is for (the functions see it as the caller): {PRINCIPAL_RULE}"
    )
    n.add_argument(
        "--scope",
        action="append",
        default=None,
        help=f"repeatable; default mlops:predict (known: {', '.join(ALL_SCOPES)}, mlops:pin)",
    )
    n.add_argument(
        "--ring", default=None, help="cloud stacks: the key-ring JSON file to update (outside git)"
    )
    n.set_defaults(func=cmd_new)
    ls = k.add_parser("list", help="key ids, principals and scopes (never hashes)")
    ls.add_argument("--ring", default=None)
    add_json_flag(ls)
    ls.set_defaults(func=cmd_list)
    rv = k.add_parser("revoke", help="disable a key by its id")
    rv.add_argument("key_id")
    rv.add_argument("--ring", default=None)
    rv.set_defaults(func=cmd_revoke)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _ring_file(args) -> Path | None:
    settings = stack_settings(args)
    if args.ring:
        return Path(args.ring)
    if settings.environment != "local":
        raise BadRequestError(
            "a cloud stack's key ring lives in Vault: pass --ring FILE, then "
            'pulumi config set --secret mlops-secrets:api_keys "$(cat FILE)"',
            code="ring_required",
        )
    return None


def _load(args) -> KeyRing:
    """The ring, read without a lock (every write replaces the file atomically)."""
    path = _ring_file(args)
    if path is not None:
        return KeyRing.from_json(path.read_text()) if path.exists() else KeyRing([])
    from mlops.local.setup import ensure_local_secrets

    settings = stack_settings(args)
    ensure_local_secrets(settings)
    return KeyRing.from_json(
        FileSecrets(settings.path(settings.local.secrets_file)).get(settings.auth.api_keys_secret)
    )


def _update(args, change: Callable[[KeyRing], T]) -> T:
    """Read-modify-write of the ring under its file's lock: concurrent ``keys new``/``revoke`` lose nothing."""
    path = _ring_file(args)
    if path is None:
        from mlops.local.setup import update_local_ring

        return update_local_ring(stack_settings(args), change)
    with locked(path):
        ring = KeyRing.from_json(path.read_text()) if path.exists() else KeyRing([])
        result = change(ring)
        write_atomic(path, ring.to_json())
        return result


def cmd_new(args) -> int:
    scopes = args.scope or ["mlops:predict"]
    unknown = [s for s in scopes if s not in (*ALL_SCOPES, "mlops:pin")]
    if unknown:
        raise BadRequestError(f"unknown scope {unknown[0]!r}", code="unknown_scope")
    validate_principal(args.principal)
    token, rec = new_api_key(args.principal, scopes)
    _update(args, lambda ring: ring.by_id.__setitem__(rec.id, rec))
    print(token)
    print(
        f"key {rec.id} for {args.principal} ({', '.join(scopes)}); this token is shown only now",
        file=sys.stderr,
    )
    if args.ring:
        print(
            f'next: pulumi config set --secret mlops-secrets:api_keys "$(cat {args.ring})" && pulumi up',
            file=sys.stderr,
        )
    return 0


def cmd_list(args) -> int:
    ring = _load(args)
    rows = [
        {"id": r.id, "principal": r.principal, "scopes": list(r.scopes), "disabled": r.disabled}
        for r in ring.by_id.values()
    ]
    if args.json:
        print_json(rows)
    else:
        print(table(rows, ["id", "principal", "scopes", "disabled"]))
    return 0


def cmd_revoke(args) -> int:
    def revoke(ring: KeyRing) -> KeyRecord:
        rec = ring.by_id.get(args.key_id)
        if rec is None:
            raise NotFoundError(f"no key {args.key_id!r}", code="key_not_found")
        ring.by_id[rec.id] = replace(rec, disabled=True)
        return rec

    rec = _update(args, revoke)
    print(f"key {rec.id} of {rec.principal} revoked (takes effect within the authorizer's cache TTL)")
    return 0
