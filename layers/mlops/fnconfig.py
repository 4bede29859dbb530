"""Each function's typed config: one frozen dataclass per function, written to and read from its env vars.

A function's config map (OCI Functions ``config``, env vars in the container) is built by
``mlops.blueprint.functions`` as ``XConfig(...).to_env()`` from the stack settings, and read back at
import by ``functions/<name>/func.py`` as ``XConfig.from_env(os.environ)``. The defaults of a value that
is absent live here, once, on the dataclass field; the env var names (``mlops.envvars``) are a contract
with deployed stacks. A field names its variable and codec in its metadata (``_var``); a list travels as
one comma-separated variable; the store's location is a nested ``StoreConfig`` (``MLOPS_STORE_*``).

``from_env(environ, **explicit)`` resolves each field as AWS Lambda Powertools does: an explicit argument
that is not None, else the environment's value (empty counts as unset), else the field's default. A bad
value is a ``ConfigError`` naming the variable and the value (``function config MLOPS_AUTH_TTL_S: 'abc'
is not a number``), never a bare ``ValueError``.

This module must stay cheap to import and free of ``mlops.settings`` and ``mlops.blueprint``: the
authorizer's cold start imports it.
"""

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

STR, OPT, INT, FLOAT, BOOL, LIST, STORE = "str", "opt", "int", "float", "bool", "list", "store"


def _var(name: str, kind: str, default: Any = None, *, required: bool = False) -> Any:
    """A field read from env var ``name`` with codec ``kind``; ``required``: unset is an error."""
    if required:
        return field(metadata={"env": name, "kind": kind, "required": True})
    return field(default=default, metadata={"env": name, "kind": kind})


def _bad(name: str, raw: str, what: str) -> ConfigError:
    return ConfigError(f"function config {name}: {raw!r} is not {what}")


def decode(name: str, kind: str, raw: str) -> Any:
    """One variable's text as its field's type; a ``ConfigError`` naming ``name`` and ``raw`` if it is not."""
    if kind in (STR, OPT):
        return raw
    if kind == INT:
        try:
            return int(raw.strip())
        except ValueError:
            raise _bad(name, raw, "a whole number") from None
    if kind == FLOAT:
        try:
            value = float(raw.strip())
        except ValueError:
            raise _bad(name, raw, "a number") from None
        if not math.isfinite(value):
            raise _bad(name, raw, "a finite number")
        return value
    if kind == BOOL:
        text = raw.strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
        raise _bad(name, raw, "1 or 0")
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
            raise ConfigError(f"function config {name}: list item {bad[0]!r} may not be empty or hold a comma")
        return ",".join(items)
    return str(value)   # str(int) and str(float) are their repr: "60", "0.05"


class EnvConfig:
    """Mixin of a frozen dataclass whose fields carry ``_var`` metadata: ``from_env`` / ``to_env``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]    # every subclass is a dataclass

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
                    raise ConfigError(f"function config {meta['env']} is not set; set it in the stack settings")
            elif isinstance(f.default_factory, type) and issubclass(f.default_factory, EnvConfig):
                kwargs[f.name] = f.default_factory.from_env(environ)     # a nested config
        return cls(**kwargs)

    def to_env(self) -> dict[str, str]:
        """Every set field as its variable (None left out), nested configs included; ``from_env`` reads it back."""
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
    stack: str = _var(ev.STACK, STR, "local")
    function: str = _var(ev.FUNCTION, STR, "function")
    environment: str = _var(ev.ENVIRONMENT, STR, "local")          # local | cloud
    metrics_namespace: str = _var(ev.METRICS_NAMESPACE, STR, "mlops")
    region: str | None = _var(ev.REGION, OPT)
    compartment_id: str | None = _var(ev.COMPARTMENT_ID, OPT)
    metrics_db: str | None = _var(ev.METRICS_DB, OPT)             # local: the SQLite metrics store
    secrets_backend: str = _var(ev.SECRETS_BACKEND, STR, "file")   # file | vault
    secrets_file: str | None = _var(ev.SECRETS_FILE, OPT)         # local only
    project_dir: str | None = _var(ev.PROJECT_DIR, OPT)           # local only
    vault_id: str | None = _var(ev.VAULT_ID, OPT)                 # cloud: added at deploy time


@dataclass(frozen=True, kw_only=True)
class AuditedFunctionConfig(FunctionConfig):
    """A function that may append to the audit log: its anchor secret and (cloud) the audit bucket."""

    audit_anchor_secret: str | None = _var(ev.AUDIT_ANCHOR_SECRET, OPT)
    audit_bucket: str | None = _var(ev.AUDIT_BUCKET, OPT)


@dataclass(frozen=True, kw_only=True)
class AuthorizerConfig(FunctionConfig):
    """The authorizer: its key ring's secret, how long answers and deployment weights are cached."""

    function: str = _var(ev.FUNCTION, STR, "authorizer")
    api_keys_secret: str = _var(ev.API_KEYS_SECRET, STR, required=True)   # name (local) or OCID (cloud)
    auth_ttl_s: float = _var(ev.AUTH_TTL_S, FLOAT, 60.0)
    weight_cache_ttl_s: float = _var(ev.WEIGHT_CACHE_TTL_S, FLOAT, 2.0)
    endpoints: tuple[str, ...] = _var(ev.ENDPOINTS, LIST, ())


@dataclass(frozen=True, kw_only=True)
class RegistryConfig(AuditedFunctionConfig):
    """The registry function: nothing of its own beyond the common config."""

    function: str = _var(ev.FUNCTION, STR, "registry")


@dataclass(frozen=True, kw_only=True)
class InferenceConfig(AuditedFunctionConfig):
    """One endpoint variant: which model and alias it serves, batch limit, sampling, refresh, shadow."""

    function: str = _var(ev.FUNCTION, STR, "inference")
    endpoint: str = _var(ev.ENDPOINT, STR, required=True)
    model: str = _var(ev.MODEL, STR, required=True)
    variant: str = _var(ev.VARIANT, STR, "stable")          # stable | canary
    alias: str = _var(ev.ALIAS, STR, "production")
    max_batch: int = _var(ev.MAX_BATCH, INT, 1000)
    feature_sample_rate: float = _var(ev.FEATURE_SAMPLE_RATE, FLOAT, 0.1)
    model_refresh_s: float = _var(ev.MODEL_REFRESH_S, FLOAT, 10.0)
    shadow: bool = _var(ev.SHADOW, BOOL, False)


@dataclass(frozen=True)
class DriftJobConfig(EnvConfig):
    """How the drift job decides (see ``mlops.drift.detector`` and the settings' ``Drift``).

    ``persistence_k`` / ``persistence_n`` travel as one variable, ``MLOPS_DRIFT_PERSISTENCE=k/n``;
    ``namespace`` is the metrics namespace, which the function config carries (``DriftConfig.job``)."""

    alpha: float = _var(ev.DRIFT_ALPHA, FLOAT, 0.05)
    effect_threshold: float = _var(ev.DRIFT_EFFECT_THRESHOLD, FLOAT, 0.1)
    share_threshold: float = _var(ev.DRIFT_SHARE_THRESHOLD, FLOAT, 0.3)
    dataset_rule: str = _var(ev.DRIFT_DATASET_RULE, STR, "strong_or_count")  # strong_or_count|any|count|share
    count_threshold: int = _var(ev.DRIFT_COUNT_THRESHOLD, INT, 2)
    strong_threshold: float = _var(ev.DRIFT_STRONG_THRESHOLD, FLOAT, 0.25)
    persistence_k: int = 2
    persistence_n: int = 3
    min_rows: int = _var(ev.DRIFT_MIN_ROWS, INT, 100)
    namespace: str = "mlops"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **explicit: Any) -> DriftJobConfig:
        cfg = super().from_env(environ, **explicit)
        raw = environ.get(ev.DRIFT_PERSISTENCE)
        if raw in (None, "") or "persistence_k" in explicit or "persistence_n" in explicit:
            return cfg
        k, n = parse_persistence(str(raw))
        return dataclasses.replace(cfg, persistence_k=k, persistence_n=n)

    def to_env(self) -> dict[str, str]:
        out = super().to_env()
        out[ev.DRIFT_PERSISTENCE] = f"{self.persistence_k}/{self.persistence_n}"
        return out


def parse_persistence(raw: str) -> tuple[int, int]:
    """``"k/n"`` (or ``"k"``, meaning k of k) as two whole numbers; a ``ConfigError`` otherwise."""
    k, _, n = raw.partition("/")
    try:
        return int(k), int(n or k)
    except ValueError:
        raise _bad(ev.DRIFT_PERSISTENCE, raw, "k/n (two whole numbers)") from None


def _job() -> Any:
    return field(default_factory=DriftJobConfig)


@dataclass(frozen=True, kw_only=True)
class DriftConfig(AuditedFunctionConfig):
    """The drift function: the job's thresholds, the endpoints, whether it acts on A/B verdicts."""

    function: str = _var(ev.FUNCTION, STR, "drift")
    drift: DriftJobConfig = _job()
    endpoints: tuple[str, ...] = _var(ev.ENDPOINTS, LIST, ())
    ab_auto_promote: bool = _var(ev.AB_AUTO_PROMOTE, BOOL, False)
    notify_file: str | None = _var(ev.NOTIFY_FILE, OPT)          # local: A/B verdicts are announced there
    notify_topic_id: str | None = _var(ev.NOTIFY_TOPIC_ID, OPT)  # cloud: added at deploy time

    @property
    def job(self) -> DriftJobConfig:
        """The drift job's config, posting its metrics under this function's namespace."""
        return dataclasses.replace(self.drift, namespace=self.metrics_namespace)


@dataclass(frozen=True, kw_only=True)
class GuardianConfig(AuditedFunctionConfig):
    """The guardian: which automatic actions it takes and how a retraining request is started."""

    function: str = _var(ev.FUNCTION, STR, "guardian")
    auto_rollback: bool = _var(ev.AUTO_ROLLBACK, BOOL, True)
    auto_retrain: bool = _var(ev.AUTO_RETRAIN, BOOL, True)
    ab_auto_promote: bool = _var(ev.AB_AUTO_PROMOTE, BOOL, False)
    rollback_on_drift: bool = _var(ev.ROLLBACK_ON_DRIFT, BOOL, True)
    endpoints: tuple[str, ...] = _var(ev.ENDPOINTS, LIST, ())
    notify_file: str | None = _var(ev.NOTIFY_FILE, OPT)          # local
    notify_topic_id: str | None = _var(ev.NOTIFY_TOPIC_ID, OPT)  # cloud: added at deploy time
    retrain_entrypoint: str | None = _var(ev.RETRAIN_ENTRYPOINT, OPT)   # local: the training script
    build_pipeline_id: str | None = _var(ev.BUILD_PIPELINE_ID, OPT)     # cloud: added at deploy time
