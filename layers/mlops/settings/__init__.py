"""Typed stack settings: one model, validated in one place, from a Pulumi stack file.

The settings of a stack live in ``Pulumi.<stack>.yaml`` under ``config:`` as keys of the
``mlops`` project namespace (``mlops:endpoints: [...]``). Every error names the bad key,
e.g. ``Pulumi.dev.yaml: mlops:endpoints[1].canary_weight: expected an integer``.
The model is msgspec Structs (``mlops.settings.sections``); its JSON Schema is
``stack_schema()`` (committed as ``mlops/settings/stack_schema.json``).

Functions never load settings: the blueprint (``mlops.blueprint.functions``) writes what each
function needs into its config as env vars, and the function reads those itself (e.g.
``StoreConfig.from_env``, ``mlops.driftjob.DriftJobConfig``), so no cold start imports this package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from mlops.errors import ConfigError
from mlops.settings.base import PROJECT
from mlops.settings.convert import load
from mlops.settings.schema import stack_schema
from mlops.settings.sections import (
    MAX_SYNC_TIMEOUT_S,
    MEMORY_CHOICES,
    Audit,
    Auth,
    Cors,
    DevOps,
    Drift,
    Endpoint,
    FunctionDefaults,
    FunctionOverride,
    Gateway,
    Guardian,
    Local,
    LogShipping,
    Monitoring,
    Network,
    Notifications,
    Oci,
    RateLimit,
    StackSettings,
)

T = TypeVar("T")

__all__ = [
    "MAX_SYNC_TIMEOUT_S",
    "MEMORY_CHOICES",
    "PROJECT",
    "Audit",
    "Auth",
    "Cors",
    "DevOps",
    "Drift",
    "Endpoint",
    "FunctionDefaults",
    "FunctionOverride",
    "Gateway",
    "Guardian",
    "Local",
    "LogShipping",
    "Monitoring",
    "Network",
    "Notifications",
    "Oci",
    "RateLimit",
    "StackSettings",
    "find_project_dir",
    "load_dataclass",
    "load_stack",
    "settings_from_config",
    "stack_schema",
]


def load_dataclass(cls: type[T], data: Mapping[str, Any], where: str, sep: str = ".") -> T:
    """One section (or the whole) from a mapping, errors naming the key (the name predates msgspec)."""
    return load(cls, data, where, sep)


def settings_from_config(
    config: Mapping[str, Any], *, stack: str, source: str = "config", project_dir: str | os.PathLike = "."
) -> StackSettings:
    """From the ``config:`` mapping of a stack file (keys ``mlops:<section>``)."""
    if not isinstance(config or {}, Mapping):
        raise ConfigError(f"{source}: config: expected a mapping, got {type(config).__name__}")
    data: dict[str, Any] = {}
    for key, value in (config or {}).items():
        ns, _, name = str(key).partition(":")
        if not name:
            raise ConfigError(f"{source}: {key}: config keys must be namespaced, e.g. mlops:{key}")
        if ns != PROJECT:
            continue  # other providers' config (oci:region, ...) is Pulumi's business
        data[name] = value
    data.setdefault("stack", stack)
    data["project_dir"] = str(project_dir)
    return load(StackSettings, data, f"{source}: {PROJECT}", sep=":")


def load_stack(stack: str = "local", project_dir: str | os.PathLike = ".") -> StackSettings:
    """Read and validate ``Pulumi.<stack>.yaml`` from ``project_dir``."""
    import yaml

    if not stack.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"stack name {stack!r} is not allowed")
    pdir = Path(project_dir).resolve()
    path = pdir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"no stack file {path.name} in {pdir} (stacks: "
            f"{', '.join(sorted(p.name[7:-5] for p in pdir.glob('Pulumi.*.yaml'))) or 'none'})"
        )
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {str(exc)[:300]}") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path.name}: expected a mapping at the top level")
    config = doc.get("config") or {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{path.name}: config: expected a mapping, got {type(config).__name__}")
    # Pulumi secrets appear as {"secure": "..."}: they never belong in settings.
    for key, value in config.items():
        if isinstance(value, Mapping) and "secure" in value and str(key).startswith(f"{PROJECT}:"):
            raise ConfigError(
                f"{path.name}: {key}: secrets go to Vault; settings carry only secret names/OCIDs"
            )
    return settings_from_config(config, stack=stack, source=path.name, project_dir=pdir)


def find_project_dir(start: str | os.PathLike = ".") -> Path:
    """The nearest directory at or above ``start`` that holds ``Pulumi.yaml``."""
    p = Path(start).resolve()
    for d in (p, *p.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    return p
