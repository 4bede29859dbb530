"""The registry function's config: the common fields and the audit log's, and what the console reads
(the stack's endpoints, the gateway's auth header and pin scope for the OpenAPI document, the local
notification file)."""

from __future__ import annotations

from dataclasses import dataclass

from mlops import envvars as ev
from mlops.fnconfig.base import LIST, OPT, STR, AuditedFunctionConfig, env_field


@dataclass(frozen=True, kw_only=True)
class RegistryConfig(AuditedFunctionConfig):
    """The registry function (and the console it serves)."""

    function: str = env_field(ev.FUNCTION, STR, "registry")
    endpoints: tuple[str, ...] = env_field(ev.ENDPOINTS, LIST, ())
    pin_scope: str = env_field(ev.PIN_SCOPE, STR, "mlops:pin")
    auth_header: str = env_field(ev.AUTH_HEADER, STR, "Authorization")
    notify_file: str | None = env_field(ev.NOTIFY_FILE, OPT)  # local
