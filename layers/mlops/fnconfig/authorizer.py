"""The authorizer's config: its key ring's secret, cache lifetimes, the stack's endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from mlops import envvars as ev
from mlops.fnconfig.base import FLOAT, LIST, STR, FunctionConfig, env_field


@dataclass(frozen=True, kw_only=True)
class AuthorizerConfig(FunctionConfig):
    """The authorizer: its key ring's secret, how long answers and deployment weights are cached."""

    function: str = env_field(ev.FUNCTION, STR, "authorizer")
    api_keys_secret: str = env_field(ev.API_KEYS_SECRET, STR, required=True)  # name (local) or OCID (cloud)
    auth_ttl_s: float = env_field(ev.AUTH_TTL_S, FLOAT, 60.0)
    weight_cache_ttl_s: float = env_field(ev.WEIGHT_CACHE_TTL_S, FLOAT, 2.0)
    endpoints: tuple[str, ...] = env_field(ev.ENDPOINTS, LIST, ())
