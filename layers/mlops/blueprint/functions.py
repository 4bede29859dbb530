"""Which functions a stack has and the config map of each: pure, shared by Pulumi and the local runtime.

Each function's config map is its typed config (``mlops.fnconfig``) built from the stack settings and
encoded by ``to_env``; OCI's limits on a config map (``validate_config``) are checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import ConfigError
from mlops.fnconfig.authorizer import AuthorizerConfig
from mlops.fnconfig.base import FunctionConfig
from mlops.fnconfig.drift import DriftConfig, DriftJobConfig
from mlops.fnconfig.guardian import GuardianConfig
from mlops.fnconfig.inference import InferenceConfig
from mlops.fnconfig.registry import RegistryConfig
from mlops.names import inference_function_name
from mlops.settings import Endpoint, StackSettings
from mlops.storage.stack import audit_store_config, stack_store_config

MAX_CONFIG_BYTES = 4096  # OCI Functions: total config size per function
# Config keys: "ASCII strings consisting solely of letters, digits, and the '_' (underscore) character, and
# must not begin with a digit" (oci SDK, oci/functions/models/create_function_details.py, ``config``).
_KEY_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

CORE_FUNCTIONS = ("authorizer", "registry", "drift", "guardian")


@dataclass(frozen=True)
class FunctionSpec:
    """One deployable function: its name, the code directory under ``functions/`` and its config."""

    name: str
    source: str  # directory name under functions/
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
            raise ConfigError(
                f"function {name}: config key {key!r} may not start with a digit "
                "(OCI Functions refuses it; it also cannot be an environment variable)"
            )
        if not isinstance(value, str):
            raise ConfigError(f"function {name}: config {key} must be a string, got {type(value).__name__}")
        total += len(key.encode()) + len(value.encode())
    if total > MAX_CONFIG_BYTES:
        biggest = sorted(config, key=lambda k: -len(config[k]))[:3]
        raise ConfigError(
            f"function {name}: config is {total} bytes, over OCI's {MAX_CONFIG_BYTES}-byte limit "
            f"(largest keys: {', '.join(biggest)}); move bulky values to the object store"
        )
    return dict(config)


def store_env(settings: StackSettings) -> dict[str, str]:
    """The store's location as ``MLOPS_STORE_*`` (read back by ``StoreConfig.from_env``)."""
    return stack_store_config(settings).to_env()


def _common(settings: StackSettings, name: str) -> dict[str, Any]:
    """The ``FunctionConfig`` fields every function has, from the settings."""
    local = settings.environment == "local"
    return {
        "store": stack_store_config(settings),
        "stack": settings.stack,
        "function": name,
        "environment": settings.environment,
        "metrics_namespace": settings.monitoring.namespace,
        "region": settings.oci.region or None,
        "compartment_id": settings.oci.compartment_id or None,
        "metrics_db": str(settings.state_dir / "metrics.sqlite") if local else None,
        "secrets_backend": "file" if local else "vault",
        "secrets_file": str(settings.path(settings.local.secrets_file)) if local else None,
        "project_dir": str(settings.path(".")) if local else None,
    }


def _audited(settings: StackSettings, name: str) -> dict[str, Any]:
    """``_common`` and the audit log's anchor and bucket: every function that may append to the log."""
    audit_store = audit_store_config(settings)
    return {
        **_common(settings, name),
        "audit_anchor_secret": settings.audit.anchor_secret or None,
        "audit_bucket": str(audit_store.bucket) if audit_store is not None else None,
    }


def _notify_file(settings: StackSettings) -> str | None:
    """Local: the file notifications (alarm actions, A/B verdicts) are appended to."""
    if settings.environment != "local":
        return None
    return str(settings.state_dir / settings.notifications.local_file)


def inference_config(settings: StackSettings, ep: Endpoint, variant: str) -> InferenceConfig:
    """The config of endpoint ``ep``'s ``variant`` (stable | canary) function."""
    name = inference_function_name(ep.name, variant)
    return InferenceConfig(
        **_audited(settings, name),
        endpoint=ep.name,
        model=ep.model,
        variant=variant,
        alias=ep.stable_alias if variant == "stable" else ep.canary_alias,
        max_batch=ep.max_batch,
        feature_sample_rate=ep.feature_sample_rate,
        retain_features=ep.retain_features,
        model_refresh_s=ep.model_refresh_s,
        shadow=ep.shadow,
        explain_top_k=ep.explain_top_k,
    )


def authorizer_config(settings: StackSettings) -> AuthorizerConfig:
    """The authorizer's config: key ring secret, answer and weight cache lifetimes, endpoints."""
    return AuthorizerConfig(
        **_common(settings, "authorizer"),
        api_keys_secret=settings.auth.api_keys_secret,
        auth_ttl_s=settings.gateway.auth_cache_ttl_s,
        weight_cache_ttl_s=settings.auth.weight_cache_ttl_s,
        endpoints=tuple(ep.name for ep in settings.endpoints),
    )


def registry_config(settings: StackSettings) -> RegistryConfig:
    """The registry function's config: the common and audit fields, and what the console reads."""
    return RegistryConfig(
        **_audited(settings, "registry"),
        endpoints=tuple(ep.name for ep in settings.endpoints),
        pin_scope=settings.auth.pin_scope,
        auth_header=settings.gateway.auth_header,
        notify_file=_notify_file(settings),
    )


def drift_config(settings: StackSettings) -> DriftConfig:
    """The drift function's config: the settings' drift thresholds, endpoints, A/B auto-promotion."""
    d = settings.drift
    job = DriftJobConfig(
        alpha=d.alpha,
        effect_threshold=d.effect_threshold,
        share_threshold=d.share_threshold,
        dataset_rule=d.dataset_rule,
        count_threshold=d.count_threshold,
        strong_threshold=d.strong_threshold,
        persistence_k=d.persistence_k,
        persistence_n=d.persistence_n,
        min_rows=d.min_rows,
        namespace=settings.monitoring.namespace,
    )
    return DriftConfig(
        **_audited(settings, "drift"),
        drift=job,
        endpoints=tuple(ep.name for ep in settings.endpoints),
        ab_auto_promote=settings.guardian.ab_auto_promote,
        notify_file=_notify_file(settings),
    )  # A/B verdicts are announced too


def guardian_config(settings: StackSettings) -> GuardianConfig:
    """The guardian's config: its automatic actions; locally, the training script a request starts."""
    g, local = settings.guardian, settings.environment == "local"
    return GuardianConfig(
        **_audited(settings, "guardian"),
        auto_rollback=g.auto_rollback,
        auto_retrain=g.auto_retrain,
        ab_auto_promote=g.ab_auto_promote,
        rollback_on_drift=g.rollback_canary_on_drift,
        endpoints=tuple(ep.name for ep in settings.endpoints),
        notify_file=_notify_file(settings),
        retrain_entrypoint=g.retrain_entrypoint if local else None,
    )


CORE_CONFIGS: dict[str, Callable[[StackSettings], FunctionConfig]] = {
    "authorizer": authorizer_config,
    "registry": registry_config,
    "drift": drift_config,
    "guardian": guardian_config,
}


def _sizes(
    settings: StackSettings, name: str, memory: int | None = None, timeout: int | None = None
) -> tuple[int, int, int, int]:
    d = settings.functions
    o = settings.function_overrides.get(name)
    mem = (o and o.memory_mb) or memory or d.memory_mb
    tmo = (o and o.timeout_s) or timeout or d.timeout_s
    pool = (o and o.pool_size) or d.pool_size
    pc = (
        o.provisioned_concurrency
        if (o and o.provisioned_concurrency is not None)
        else d.provisioned_concurrency
    )
    return mem, tmo, pool, pc


def function_specs(settings: StackSettings) -> list[FunctionSpec]:
    """Every function of the stack with its validated config map, in a stable order."""
    specs: list[FunctionSpec] = []
    for ep in settings.endpoints:
        for variant in ("stable", "canary"):
            name = inference_function_name(ep.name, variant)
            cfg = inference_config(settings, ep, variant).to_env()
            mem, tmo, pool, pc = _sizes(settings, name, ep.memory_mb, ep.timeout_s)
            specs.append(
                FunctionSpec(
                    name,
                    "inference",
                    mem,
                    tmo,
                    pool,
                    pc,
                    validate_config(name, cfg),
                    endpoint=ep.name,
                    variant=variant,
                )
            )
    for name in CORE_FUNCTIONS:
        cfg = CORE_CONFIGS[name](settings).to_env()
        timeout = 120 if name == "drift" else None
        memory = 1024 if name == "drift" else None
        mem, tmo, pool, pc = _sizes(settings, name, memory, timeout)
        if name != "authorizer":
            pc = 0 if name in ("drift", "guardian") else pc
        specs.append(FunctionSpec(name, name, mem, tmo, pool, pc, validate_config(name, cfg)))
    return specs


def function_spec(settings: StackSettings, name: str) -> FunctionSpec:
    """The function ``name`` of the stack; ``NotFoundError`` if the stack has none."""
    for spec in function_specs(settings):
        if spec.name == name:
            return spec
    from mlops.errors import NotFoundError

    raise NotFoundError(f"function {name!r} is not part of stack {settings.stack!r}")
