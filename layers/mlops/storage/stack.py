"""The object store of a stack, as every command and the local runtime open it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from mlops.storage.base import ObjectStore
from mlops.storage.config import StoreConfig, open_store

if TYPE_CHECKING:
    from mlops.settings import StackSettings


def stack_store_config(settings: StackSettings) -> StoreConfig:
    """The stack's store with a file path resolved against the project directory."""
    cfg = settings.store
    if cfg.backend == "file" and cfg.path:
        cfg = replace(cfg, path=str(settings.path(cfg.path)))
    return cfg


def open_stack_store(settings: StackSettings) -> ObjectStore:
    """Open the stack's store; S3 keys (if any) come from the local secrets file or Vault by name."""
    from mlops.secrets import FileSecrets

    secrets = FileSecrets(settings.path(settings.local.secrets_file)) if settings.environment == "local" else None
    return open_store(stack_store_config(settings), secrets)
