"""The registry function's config: the common fields and the audit log's."""

from __future__ import annotations

from dataclasses import dataclass

from mlops import envvars as ev
from mlops.fnconfig.base import STR, AuditedFunctionConfig, env_field


@dataclass(frozen=True, kw_only=True)
class RegistryConfig(AuditedFunctionConfig):
    """The registry function: nothing of its own beyond the common config."""

    function: str = env_field(ev.FUNCTION, STR, "registry")
