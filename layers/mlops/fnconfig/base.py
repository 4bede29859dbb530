"""The codec every function config shares (``EnvConfig``: fields named by ``env_field``, ``from_env``,
``to_env``) and the fields every function's config map holds (``FunctionConfig``,
``AuditedFunctionConfig``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from mlops import envvars as ev
from mlops.errors import ConfigError
from mlops.storage.config import StoreConfig

C = TypeVar("C", bound="EnvConfig")

# codecs: text, optional text, whole number, finite number, flag ("1"/"0"), list (one comma-separated
# variable), the nested StoreConfig (its own MLOPS_STORE_* variables)
STR, OPT, INT, FLOAT, BOOL, LIST, STORE = "str", "opt", "int", "float", "bool", "list", "store"


def env_field(name: str, kind: str, default: Any = None, *, required: bool = False) -> Any:
    """A field read from env var ``name`` with codec ``kind``; ``required``: unset is an error."""
    if required:
        return field(metadata={"env": name, "kind": kind, "required": True})
    return field(default=default, metadata={"env": name, "kind": kind})


def bad_value(name: str, raw: str, what: str) -> ConfigError:
    """``function config NAME: 'raw' is not WHAT``: the error of every undecodable variable."""
    return ConfigError(f"function config {name}: {raw!r} is not {what}")


def decode(name: str, kind: str, raw: str) -> Any:
    """One variable's text as its field's type; a ``ConfigError`` naming ``name`` and ``raw`` if it is not."""
    if kind in (STR, OPT):
        return raw
    if kind == INT:
        try:
            return int(raw.strip())
        except ValueError:
            raise bad_value(name, raw, "a whole number") from None
    if kind == FLOAT:
        try:
            value = float(raw.strip())
        except ValueError:
            raise bad_value(name, raw, "a number") from None
        if not math.isfinite(value):
            raise bad_value(name, raw, "a finite number")
        return value
    if kind == BOOL:
        text = raw.strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
        raise bad_value(name, raw, "1 or 0")
    if kind == LIST:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    raise AssertionError(f"unknown config codec {kind!r}")


def encode(name: str, kind: str, value: Any) -> str | None:
    """A field's value as its variable's text (None: leave the variable out)."""
    if value is None:
        return None
    if kind == BOOL:
        return "1" if value else "0"
    if kind == LIST:
        items = [str(v) for v in value]
        bad = [v for v in items if "," in v or not v.strip()]
        if bad:
            raise ConfigError(f"function config {name}: item {bad[0]!r} may not be empty or hold a comma")
        return ",".join(items)
    return str(value)  # str(int) and str(float) are their repr: "60", "0.05"


class EnvConfig:
    """Mixin of a frozen dataclass whose fields carry ``env_field`` metadata: ``from_env`` / ``to_env``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # every subclass is a dataclass

    @classmethod
    def from_env(cls: type[C], environ: Mapping[str, str], **explicit: Any) -> C:
        """Explicit argument (not None) > environment (not empty) > the field's default."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(explicit) - names
        if unknown:
            raise TypeError(f"{cls.__name__}.from_env: unknown fields {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if explicit.get(f.name) is not None:
                kwargs[f.name] = explicit[f.name]
            elif meta.get("kind") == STORE:
                kwargs[f.name] = StoreConfig.from_env(environ)
            elif "env" in meta:
                raw = environ.get(meta["env"])
                if raw not in (None, ""):
                    kwargs[f.name] = decode(meta["env"], meta["kind"], raw)
                elif meta.get("required"):
                    raise ConfigError(
                        f"function config {meta['env']} is not set; set it in the stack settings"
                    )
            elif isinstance(f.default_factory, type) and issubclass(f.default_factory, EnvConfig):
                kwargs[f.name] = f.default_factory.from_env(environ)  # a nested config
        return cls(**kwargs)

    def to_env(self) -> dict[str, str]:
        """Every set field as its variable (None left out), nested configs included; ``from_env`` reads it."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("kind") == STORE:
                out.update(value.to_env())
            elif "env" in f.metadata:
                text = encode(f.metadata["env"], f.metadata["kind"], value)
                if text is not None:
                    out[f.metadata["env"]] = text
            elif isinstance(value, EnvConfig):
                out.update(value.to_env())
        return out


def _store() -> Any:
    return field(default_factory=StoreConfig, metadata={"kind": STORE})


@dataclass(frozen=True, kw_only=True)
class FunctionConfig(EnvConfig):
    """What every function's config map holds: which stack and function, where the store, secrets and
    metrics are. The store comes first: a missing store variable is the error a function reports."""

    store: StoreConfig = _store()
    stack: str = env_field(ev.STACK, STR, "local")
    function: str = env_field(ev.FUNCTION, STR, "function")
    environment: str = env_field(ev.ENVIRONMENT, STR, "local")  # local | cloud
    metrics_namespace: str = env_field(ev.METRICS_NAMESPACE, STR, "mlops")
    region: str | None = env_field(ev.REGION, OPT)
    compartment_id: str | None = env_field(ev.COMPARTMENT_ID, OPT)
    metrics_db: str | None = env_field(ev.METRICS_DB, OPT)  # local: the SQLite metrics store
    secrets_backend: str = env_field(ev.SECRETS_BACKEND, STR, "file")  # file | vault
    secrets_file: str | None = env_field(ev.SECRETS_FILE, OPT)  # local only
    project_dir: str | None = env_field(ev.PROJECT_DIR, OPT)  # local only
    vault_id: str | None = env_field(ev.VAULT_ID, OPT)  # cloud: added at deploy time


@dataclass(frozen=True, kw_only=True)
class AuditedFunctionConfig(FunctionConfig):
    """A function that may append to the audit log: its anchor secret and (cloud) the audit bucket."""

    audit_anchor_secret: str | None = env_field(ev.AUDIT_ANCHOR_SECRET, OPT)
    audit_bucket: str | None = env_field(ev.AUDIT_BUCKET, OPT)
