"""Registry function: the registry's HTTP API (models, versions, aliases, approvals, audit, deployments),
the console's JSON routes and static shell, and the OpenAPI document of the gateway's routes."""

import os

from mlops.console.app import build_app, gateway_spec, sources_from_config, stack_settings
from mlops.fnconfig.registry import RegistryConfig
from mlops.function import fdk_handler
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
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
_settings = stack_settings(_cfg)
handler = fdk_handler(
    build_app(
        _registry,
        sources_from_config(_cfg, _registry, _settings),
        lambda: gateway_spec(_settings),
        auth_header=_cfg.auth_header,
    )
)
