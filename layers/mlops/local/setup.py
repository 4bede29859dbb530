"""First-run set-up of a local stack: the secrets file (outside git) with a key ring, a dev key and the audit
log's anchor key."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TypeVar

from mlops.names import ALL_SCOPES
from mlops.secrets import FileSecrets
from mlops.serving.apikeys import KeyRing, new_api_key
from mlops.settings import StackSettings

T = TypeVar("T")
LOCAL_KEY = "local_api_key"  # the plaintext dev key, for the CLI and the quickstart


def ensure_audit_anchor(settings: StackSettings) -> None:
    """Create the audit log's anchor key (``settings.audit.anchor_secret``) in the secrets file once."""
    name = settings.audit.anchor_secret
    if not name:
        return
    path = settings.path(settings.local.secrets_file)
    store = FileSecrets(path)
    if path.exists() and name in store._load():
        return
    from mlops.registry.anchor import new_anchor_key

    def create(doc: dict) -> None:  # under the file's lock: two first writers make one key
        if name not in doc:
            doc[name] = new_anchor_key()

    store.update(create)


def local_audit_anchor(settings: StackSettings):
    """The local stack's audit anchor (its key created on first use), or None when the stack has none."""
    if not settings.audit.anchor_secret:
        return None
    from mlops.registry.anchor import anchor_from_secret

    ensure_audit_anchor(settings)
    return anchor_from_secret(
        FileSecrets(settings.path(settings.local.secrets_file)), settings.audit.anchor_secret
    )


def ensure_local_store(settings: StackSettings) -> None:
    """Set up the stack's local store directory (0700) if it is missing: explicit set-up only.

    Called by ``mlops local up`` (the daemon's ``build_runtime``), the quickstart and a stack's first-run
    set-up; never by a writer, so a store directory that vanished under a running stack stays an outage
    until it is restored (issue 13 F). Buckets (S3, OCI) are created by Pulumi, never here."""
    from mlops.storage.stack import open_stack_store, stack_store_config

    if stack_store_config(settings).backend == "file":
        open_stack_store(settings, create=True)


def ensure_local_secrets(settings: StackSettings) -> str:
    """Create the secrets file, the audit anchor key and an all-scopes dev key once; returns the dev key.

    The first run is the stack's set-up, which also makes its store directory."""
    ensure_audit_anchor(settings)
    path = settings.path(settings.local.secrets_file)
    store = FileSecrets(path)
    doc = store._load() if path.exists() else {}
    scopes = [*ALL_SCOPES, settings.auth.pin_scope]
    if (
        LOCAL_KEY in doc
        and settings.auth.api_keys_secret in doc
        and not _missing_scopes(doc, settings, scopes)
    ):
        return doc[LOCAL_KEY]
    ensure_local_store(settings)

    def create(doc: dict) -> str:  # under the file's lock: concurrent first runs agree on one key
        if LOCAL_KEY in doc and settings.auth.api_keys_secret in doc:
            lacking = _missing_scopes(doc, settings, scopes)
            if lacking:  # a dev key made before a scope existed (mlops:explain, issue 18) gets it
                kid, missing = lacking
                ring = _ring_of(doc, settings)
                rec = ring.by_id[kid]
                ring.by_id[kid] = dataclasses.replace(rec, scopes=(*rec.scopes, *missing))
                doc[settings.auth.api_keys_secret] = ring.to_json()
            return doc[LOCAL_KEY]
        token, rec = new_api_key("local-dev", scopes)
        ring = _ring_of(doc, settings)
        ring.by_id[rec.id] = rec
        doc[settings.auth.api_keys_secret] = ring.to_json()
        doc[LOCAL_KEY] = token
        return token

    return store.update(create)


def _missing_scopes(doc: dict, settings: StackSettings, scopes: list[str]) -> tuple[str, list[str]] | None:
    """(the dev key's id, the scopes it lacks) when it lacks some of ``scopes``; else None."""
    kid = KeyRing.key_id("Bearer " + str(doc.get(LOCAL_KEY)))
    rec = _ring_of(doc, settings).by_id.get(kid or "")
    if rec is None:
        return None
    missing = [s for s in scopes if s not in rec.scopes]
    return (rec.id, missing) if missing else None


def _ring_of(doc: dict, settings: StackSettings) -> KeyRing:
    raw = doc.get(settings.auth.api_keys_secret)
    if raw is None:
        return KeyRing([])
    return KeyRing.from_json(raw if isinstance(raw, str) else json.dumps(raw))


def update_local_ring(settings: StackSettings, change: Callable[[KeyRing], T]) -> T:
    """Read-modify-write of the local key ring under the secrets file's lock (no lost keys)."""
    ensure_local_secrets(settings)
    store = FileSecrets(settings.path(settings.local.secrets_file))

    def apply(doc: dict) -> T:
        ring = _ring_of(doc, settings)
        result = change(ring)
        doc[settings.auth.api_keys_secret] = ring.to_json()
        return result

    return store.update(apply)


def add_api_keys(settings: StackSettings, grants: list[tuple[str, list[str]]]) -> list[str]:
    """Add one key per (principal, scopes) to the local key ring in one write; the tokens, shown once."""

    def add(ring: KeyRing) -> list[str]:
        tokens = []
        for principal, scopes in grants:
            token, rec = new_api_key(principal, scopes)
            ring.by_id[rec.id] = rec
            tokens.append(token)
        return tokens

    return update_local_ring(settings, add)


def add_api_key(settings: StackSettings, principal: str, scopes: list[str]) -> str:
    """Add a key for ``principal`` to the local key ring; returns the token (shown once)."""
    return add_api_keys(settings, [(principal, scopes)])[0]


def local_api_key(settings: StackSettings) -> str:
    return ensure_local_secrets(settings)
