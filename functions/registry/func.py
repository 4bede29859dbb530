"""Registry function: the registry's HTTP API (models, versions, aliases, approvals, audit, deployments)."""

import os

from mlops.fnconfig.registry import RegistryConfig
from mlops.function import fdk_handler
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.api import build_router
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.storage import open_store

_env = os.environ
_cfg = RegistryConfig.from_env(_env)  # first: a missing or bad variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_cfg.store, _secrets)
_registry = Registry(
    _store,
    actor=f"fn:{_cfg.function}",  # each request acts as its caller
    anchor=anchor_from_env(_env, _secrets),
    audit_store=audit_store_from_env(_env, _cfg.store, _secrets),
)
handler = fdk_handler(build_router(_registry))
