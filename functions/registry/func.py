"""Registry function: the registry's HTTP API (models, versions, aliases, approvals, audit, deployments)."""

import os

from mlops import envvars as ev
from mlops.function import fdk_handler
from mlops.registry import Registry
from mlops.registry.api import build_router
from mlops.secrets import secrets_from_env
from mlops.storage import StoreConfig, open_store

_env = os.environ
_store = open_store(StoreConfig.from_env(_env), secrets_from_env(_env))
_registry = Registry(_store, actor=f"fn:{ev.get(_env, ev.FUNCTION, 'registry')}")  # each request acts as its caller
handler = fdk_handler(build_router(_registry))
