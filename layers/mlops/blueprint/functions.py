"""Which functions a stack has and the config map of each: pure, shared by Pulumi and the local runtime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops import envvars as ev
from mlops.errors import ConfigError
from mlops.names import inference_function_name
from mlops.settings import StackSettings

MAX_CONFIG_BYTES = 4096          # OCI Functions: total config size per function
# Config keys: "ASCII strings consisting solely of letters, digits, and the '_' (underscore) character, and
# must not begin with a digit" (oci SDK, oci/functions/models/create_function_details.py, ``config``).
_KEY_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

CORE_FUNCTIONS = ("authorizer", "registry", "drift", "guardian")


@dataclass(frozen=True)
class FunctionSpec:
    """One deployable function: its name, the code directory under ``functions/`` and its config."""

    name: str
    source: str                  # directory name under functions/
    memory_mb: int
    timeout_s: int
    pool_size: int
    provisioned_concurrency: int
    config: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    endpoint: str | None = None
    variant: str | None = None




def application_name(settings: StackSettings) -> str:
    """The display name of the stack's Functions application (the cloud's and the local twin's)."""
    return f"mlops-{settings.stack}-app"






def validate_config(name: str, config: Mapping[str, str]) -> dict[str, str]:
    """Keys ``[A-Za-z_][A-Za-z0-9_]*``, string values, total <= 4 KB - else a clear error naming the function."""
    total = 0
    for key, value in config.items():
        if not isinstance(key, str) or not key or not set(key) <= _KEY_OK:
            raise ConfigError(f"function {name}: config key {key!r} may only use letters, digits and '_'")
        if key[0].isdigit():
            raise ConfigError(f"function {name}: config key {key!r} may not start with a digit "
                              "(OCI Functions refuses it; it also cannot be an environment variable)")
        if not isinstance(value, str):
            raise ConfigError(f"function {name}: config {key} must be a string, got {type(value).__name__}")
        total += len(key.encode()) + len(value.encode())
    if total > MAX_CONFIG_BYTES:
        biggest = sorted(config, key=lambda k: -len(config[k]))[:3]
        raise ConfigError(f"function {name}: config is {total} bytes, over OCI's {MAX_CONFIG_BYTES}-byte limit "
                          f"(largest keys: {', '.join(biggest)}); move bulky values to the object store")
    return dict(config)


def store_env(settings: StackSettings) -> dict[str, str]:
    """The store's location as ``MLOPS_STORE_*`` (read back by ``StoreConfig.from_env``)."""
    from mlops.storage.stack import stack_store_config

    return stack_store_config(settings).to_env()


def _common(settings: StackSettings, name: str) -> dict[str, str]:
    cfg = {ev.STACK: settings.stack, ev.FUNCTION: name, ev.ENVIRONMENT: settings.environment,
           ev.METRICS_NAMESPACE: settings.monitoring.namespace}
    if settings.oci.region:
        cfg[ev.REGION] = settings.oci.region
    if settings.oci.compartment_id:
        cfg[ev.COMPARTMENT_ID] = settings.oci.compartment_id
    if settings.environment == "local":
        cfg[ev.METRICS_DB] = str(settings.state_dir / "metrics.sqlite")
        cfg[ev.SECRETS_BACKEND] = "file"
        cfg[ev.SECRETS_FILE] = str(settings.path(settings.local.secrets_file))
        cfg[ev.PROJECT_DIR] = str(settings.path("."))
    else:
        cfg[ev.SECRETS_BACKEND] = "vault"
    cfg.update(store_env(settings))
    if name != "authorizer":                  # every function that may append to the audit log
        from mlops.storage.stack import audit_store_config

        if settings.audit.anchor_secret:
            cfg[ev.AUDIT_ANCHOR_SECRET] = settings.audit.anchor_secret
        audit_store = audit_store_config(settings)
        if audit_store is not None:
            cfg[ev.AUDIT_BUCKET] = str(audit_store.bucket)
    return cfg


def _sizes(settings: StackSettings, name: str, memory: int | None = None, timeout: int | None = None):
    d = settings.functions
    o = settings.function_overrides.get(name)
    mem = (o and o.memory_mb) or memory or d.memory_mb
    tmo = (o and o.timeout_s) or timeout or d.timeout_s
    pool = (o and o.pool_size) or d.pool_size
    pc = (o and o.provisioned_concurrency) if (o and o.provisioned_concurrency is not None) \
        else d.provisioned_concurrency
    return mem, tmo, pool, pc


def function_specs(settings: StackSettings) -> list[FunctionSpec]:
    """Every function of the stack with its validated config map, in a stable order."""
    specs: list[FunctionSpec] = []
    endpoints = ",".join(ep.name for ep in settings.endpoints)
    for ep in settings.endpoints:
        for variant, alias in (("stable", ep.stable_alias), ("canary", ep.canary_alias)):
            name = inference_function_name(ep.name, variant)
            cfg = _common(settings, name)
            cfg.update({ev.ENDPOINT: ep.name, ev.MODEL: ep.model, ev.VARIANT: variant, ev.ALIAS: alias,
                        ev.MAX_BATCH: str(ep.max_batch), ev.FEATURE_SAMPLE_RATE: repr(ep.feature_sample_rate),
                        ev.MODEL_REFRESH_S: repr(ep.model_refresh_s), ev.SHADOW: "1" if ep.shadow else "0"})
            mem, tmo, pool, pc = _sizes(settings, name, ep.memory_mb, ep.timeout_s)
            specs.append(FunctionSpec(name, "inference", mem, tmo, pool, pc, validate_config(name, cfg),
                                      endpoint=ep.name, variant=variant))
    extra: dict[str, dict[str, str]] = {
        "authorizer": {ev.API_KEYS_SECRET: settings.auth.api_keys_secret,
                       ev.AUTH_TTL_S: str(settings.gateway.auth_cache_ttl_s),
                       ev.WEIGHT_CACHE_TTL_S: repr(settings.auth.weight_cache_ttl_s),
                       ev.ENDPOINTS: endpoints},
        "registry": {},
        "drift": {ev.DRIFT_ALPHA: repr(settings.drift.alpha),
                  ev.DRIFT_EFFECT_THRESHOLD: repr(settings.drift.effect_threshold),
                  ev.DRIFT_SHARE_THRESHOLD: repr(settings.drift.share_threshold),
                  ev.DRIFT_DATASET_RULE: settings.drift.dataset_rule,
                  ev.DRIFT_COUNT_THRESHOLD: str(settings.drift.count_threshold),
                  ev.DRIFT_STRONG_THRESHOLD: repr(settings.drift.strong_threshold),
                  ev.DRIFT_PERSISTENCE: f"{settings.drift.persistence_k}/{settings.drift.persistence_n}",
                  ev.DRIFT_MIN_ROWS: str(settings.drift.min_rows), ev.ENDPOINTS: endpoints,
                  ev.AB_AUTO_PROMOTE: "1" if settings.guardian.ab_auto_promote else "0"},
        "guardian": {ev.AUTO_ROLLBACK: "1" if settings.guardian.auto_rollback else "0",
                     ev.AUTO_RETRAIN: "1" if settings.guardian.auto_retrain else "0",
                     ev.AB_AUTO_PROMOTE: "1" if settings.guardian.ab_auto_promote else "0",
                     ev.ROLLBACK_ON_DRIFT: "1" if settings.guardian.rollback_canary_on_drift else "0",
                     ev.ENDPOINTS: endpoints},
    }
    if settings.environment == "local":
        extra["guardian"][ev.NOTIFY_FILE] = str(settings.state_dir / settings.notifications.local_file)
        extra["drift"][ev.NOTIFY_FILE] = extra["guardian"][ev.NOTIFY_FILE]   # A/B verdicts are announced too
        extra["guardian"][ev.RETRAIN_ENTRYPOINT] = settings.guardian.retrain_entrypoint
    for name in CORE_FUNCTIONS:
        cfg = _common(settings, name)
        cfg.update(extra[name])
        timeout = 120 if name == "drift" else None
        memory = 1024 if name == "drift" else None
        mem, tmo, pool, pc = _sizes(settings, name, memory, timeout)
        if name != "authorizer":
            pc = 0 if name in ("drift", "guardian") else pc
        specs.append(FunctionSpec(name, name, mem, tmo, pool, pc, validate_config(name, cfg)))
    return specs


def function_spec(settings: StackSettings, name: str) -> FunctionSpec:
    for spec in function_specs(settings):
        if spec.name == name:
            return spec
    from mlops.errors import NotFoundError
    raise NotFoundError(f"function {name!r} is not part of stack {settings.stack!r}")
