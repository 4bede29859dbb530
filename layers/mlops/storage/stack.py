"""The object store of a stack, as every command and the local runtime open it.

Storage sits below settings: this module reads a stack through ``StackSettings``, the protocol of
the few attributes it needs, which ``mlops.settings.StackSettings`` satisfies; it never imports settings.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

from mlops.storage.base import ObjectStore
from mlops.storage.config import StoreConfig, open_store


class _LocalFiles(Protocol):
    @property
    def secrets_file(self) -> str: ...


class _AuditPlace(Protocol):
    @property
    def bucket(self) -> str | None: ...


class StackSettings(Protocol):
    """What this module reads of a stack's settings (``mlops.settings.StackSettings`` has it all)."""

    @property
    def stack(self) -> str: ...
    @property
    def environment(self) -> str: ...
    @property
    def store(self) -> StoreConfig: ...
    @property
    def local(self) -> _LocalFiles: ...
    @property
    def audit(self) -> _AuditPlace: ...
    def path(self, rel: str) -> Path: ...


def stack_store_config(settings: StackSettings) -> StoreConfig:
    """The stack's store with a file path resolved against the project directory."""
    cfg = settings.store
    if cfg.backend == "file" and cfg.path:
        cfg = replace(cfg, path=str(settings.path(cfg.path)))
    return cfg


def open_stack_store(settings: StackSettings, *, create: bool = False) -> ObjectStore:
    """Open the stack's store; S3 keys (if any) come from the local secrets file or Vault by name.

    ``create=True`` only from explicit set-up (``mlops.local.setup.ensure_local_store``); otherwise a
    missing store directory is an outage, not a new empty store (issue 13 F)."""
    from mlops.secrets import FileSecrets

    secrets = (
        FileSecrets(settings.path(settings.local.secrets_file)) if settings.environment == "local" else None
    )
    return open_store(stack_store_config(settings), secrets, create=create)


def audit_bucket_name(settings: StackSettings) -> str:
    """The cloud audit bucket: the audit entries alone, under a retention rule (issue 13 E)."""
    return settings.audit.bucket or f"mlops-{settings.stack}-audit"


def audit_store_config(settings: StackSettings) -> StoreConfig | None:
    """Where a cloud stack keeps its audit entries (its audit bucket), or None: with the registry's records."""
    cfg = stack_store_config(settings)
    if settings.environment != "cloud" or cfg.backend not in ("oci", "s3"):
        return None
    return replace(cfg, bucket=audit_bucket_name(settings))


def open_stack_audit_store(settings: StackSettings) -> ObjectStore | None:
    cfg = audit_store_config(settings)
    return None if cfg is None else open_store(cfg, None)
