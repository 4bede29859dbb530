"""Typed stack settings: one class, validated in one place, from a Pulumi stack file or env vars.

The settings of a stack live in ``Pulumi.<stack>.yaml`` under ``config:`` as keys of the
``mlops`` project namespace (``mlops:endpoints: [...]``). Every error names the bad key,
e.g. ``Pulumi.dev.yaml: mlops:endpoints[1].canary_weight: expected an integer``.
Inside a function the same facts arrive as env vars (``FunctionEnv.from_env``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import ConfigError
from mlops.names import validate_endpoint_name, validate_name
from mlops.storage.config import StoreConfig

PROJECT = "mlops"
MEMORY_CHOICES = (128, 256, 512, 1024, 2048, 3072)  # OCI Functions memoryInMBs
MAX_SYNC_TIMEOUT_S = 300


# --------------------------------------------------------------------------- loader

def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin in (dict, Mapping):
        return "a mapping"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return load_dataclass(tp, value, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        _k, v_tp = typing.get_args(tp) or (str, Any)
        return {str(k): _coerce(v, v_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def load_dataclass(cls: type, data: Mapping[str, Any], where: str, sep: str = ".") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown or ill-typed keys fail naming the key.

    ``sep`` joins ``where`` and a field name: ``:`` at the top of a stack file (``mlops:store``).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        known = sorted(n for n in names if n not in ("stack", "project_dir"))
        raise ConfigError(f"{where}{sep}{unknown[0]}: unknown setting (known: {', '.join(known)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], f"{where}{sep}{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}{sep}{f.name}: required setting is missing")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check:
        check(where)
    return obj


# --------------------------------------------------------------------------- sections

@dataclass
class FunctionDefaults:
    memory_mb: int = 256
    timeout_s: int = 30
    pool_size: int = 2                 # local: processes per function (Fn hot containers)
    provisioned_concurrency: int = 0   # cloud: PCUs, 0 = none

    def validate(self, where: str) -> None:
        if self.memory_mb not in MEMORY_CHOICES:
            raise ConfigError(f"{where}.memory_mb: must be one of {MEMORY_CHOICES}, got {self.memory_mb}")
        if not 1 <= self.timeout_s <= MAX_SYNC_TIMEOUT_S:
            raise ConfigError(f"{where}.timeout_s: must be 1..{MAX_SYNC_TIMEOUT_S}, got {self.timeout_s}")
        if not 1 <= self.pool_size <= 64:
            raise ConfigError(f"{where}.pool_size: must be 1..64, got {self.pool_size}")
        if self.provisioned_concurrency < 0:
            raise ConfigError(f"{where}.provisioned_concurrency: must be >= 0")


@dataclass
class FunctionOverride:
    memory_mb: int | None = None
    timeout_s: int | None = None
    pool_size: int | None = None
    provisioned_concurrency: int | None = None
    image: str | None = None           # cloud: image reference, normally set by the pipeline
    image_digest: str | None = None


@dataclass
class Endpoint:
    name: str
    model: str
    stable_alias: str = "production"
    canary_alias: str = "canary"
    max_batch: int = 1000
    feature_sample_rate: float = 0.1     # share of prediction records that carry the features
    model_refresh_s: float = 10.0        # how often an inference function re-resolves its alias
    shadow: bool = False                 # also score a share of stable traffic with the candidate
    memory_mb: int | None = None
    timeout_s: int | None = None

    def validate(self, where: str) -> None:
        try:
            validate_endpoint_name(self.name)
            validate_name(self.model, "model")
            validate_name(self.stable_alias, "alias")
            validate_name(self.canary_alias, "alias")
        except Exception as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if not 1 <= self.max_batch <= 100_000:
            raise ConfigError(f"{where}.max_batch: must be 1..100000")
        if not 0.0 <= self.feature_sample_rate <= 1.0:
            raise ConfigError(f"{where}.feature_sample_rate: must be between 0 and 1")


@dataclass
class RateLimit:
    requests_per_second: int = 1000
    key: str = "CLIENT_IP"               # CLIENT_IP | TOTAL (OCI rate_key)

    def validate(self, where: str) -> None:
        if self.key not in ("CLIENT_IP", "TOTAL"):
            raise ConfigError(f"{where}.key: must be CLIENT_IP or TOTAL, got {self.key!r}")
        if self.requests_per_second < 1:
            raise ConfigError(f"{where}.requests_per_second: must be >= 1")


@dataclass
class Cors:
    allowed_origins: list[str] = field(default_factory=lambda: ["*"])
    allowed_methods: list[str] = field(default_factory=lambda: ["GET", "POST", "PUT", "DELETE"])
    allowed_headers: list[str] = field(default_factory=lambda: ["Authorization", "Content-Type"])
    max_age_s: int = 600


@dataclass
class Gateway:
    path_prefix: str = "/"
    auth_header: str = "Authorization"
    auth_cache_ttl_s: int = 60           # authorizer answers carry expiresAt = now + this
    rate_limit: RateLimit | None = field(default_factory=RateLimit)
    cors: Cors | None = field(default_factory=Cors)
    endpoint_type: str = "PUBLIC"        # cloud: PUBLIC | PRIVATE

    def validate(self, where: str) -> None:
        if not self.path_prefix.startswith("/"):
            raise ConfigError(f"{where}.path_prefix: must start with '/'")
        if not 0 <= self.auth_cache_ttl_s <= 3600:
            raise ConfigError(f"{where}.auth_cache_ttl_s: must be 0..3600")
        if self.endpoint_type not in ("PUBLIC", "PRIVATE"):
            raise ConfigError(f"{where}.endpoint_type: must be PUBLIC or PRIVATE")


@dataclass
class Auth:
    api_keys_secret: str = "mlops-api-keys"   # a secret name (local) or OCID (cloud); never the keys
    pin_scope: str = "mlops:pin"              # may call /v1/endpoints/E/variants/{stable|canary}/predict
    weight_cache_ttl_s: float = 2.0           # how long the authorizer caches deployment weights


@dataclass
class Audit:
    """The audit log's protection outside the store (issue 13 E; ``mlops.registry.anchor``)."""

    anchor_secret: str | None = "mlops-audit-anchor"   # secret holding the HMAC key: name (local, or one this
    #                                                    stack creates in Vault) or OCID; null: not anchored
    bucket: str | None = None            # cloud: the audit entries' own bucket (default mlops-<stack>-audit)
    retention_days: int = 365            # cloud: the audit bucket's retention rule (WORM); 0: no rule
    retention_locked_at: str | None = None   # cloud: RFC 3339 time to lock the rule (irreversible); null: unlocked

    def validate(self, where: str) -> None:
        if self.anchor_secret is not None and not self.anchor_secret.strip():
            raise ConfigError(f"{where}.anchor_secret: a secret name or OCID, or null for an unanchored log")
        if not 0 <= self.retention_days <= 36500:
            raise ConfigError(f"{where}.retention_days: must be 0..36500 (0: no retention rule)")
        if self.retention_locked_at is not None and not self.retention_days:
            raise ConfigError(f"{where}.retention_locked_at: a rule without a duration cannot be locked")


@dataclass
class Drift:
    """Drift decisions (``mlops.drift.detector``). A feature drifts when its test is significant
    (Benjamini-Hochberg at ``alpha``) and its effect is at least ``effect_threshold``.

    The dataset (one window) drifts by ``dataset_rule``:
    ``"strong_or_count"`` (default) - some drifted feature is strong (effect, or change of its
    missing share, >= ``strong_threshold``: a quarter of a standard deviation / of the probability
    mass) or at least ``count_threshold`` features drifted; ``"any"`` - any drifted feature;
    ``"count"`` - at least ``count_threshold`` drifted features; ``"share"`` - the share of drifted
    features >= ``share_threshold`` (kept for compatibility: it stays quiet when 5 of 20 features
    clearly drifted). The alarm needs ``persistence_k`` drifted windows of the last ``persistence_n``.
    """

    alpha: float = 0.05
    effect_threshold: float = 0.1
    dataset_rule: str = "strong_or_count"  # strong_or_count | any | count | share
    count_threshold: int = 2             # strong_or_count / count: this many drifted features
    strong_threshold: float = 0.25       # strong_or_count: one feature with this effect is enough
    share_threshold: float = 0.3         # share: dataset drifts when this share of features drift
    persistence_k: int = 2               # alarm when k of the last n windows drifted
    persistence_n: int = 3
    min_rows: int = 100

    def validate(self, where: str) -> None:
        rules = ("strong_or_count", "any", "count", "share")
        if self.dataset_rule not in rules:
            raise ConfigError(f"{where}.dataset_rule: must be one of {', '.join(rules)}, not {self.dataset_rule!r}")
        if self.count_threshold < 1:
            raise ConfigError(f"{where}.count_threshold: must be >= 1")
        if self.strong_threshold < 0 or self.effect_threshold < 0:
            raise ConfigError(f"{where}: thresholds must be >= 0")
        if not 0 < self.share_threshold <= 1:
            raise ConfigError(f"{where}.share_threshold: must be in (0, 1]")


@dataclass
class Monitoring:
    namespace: str = "mlops"
    evaluation_interval_s: float = 5.0   # local: how often the alarm evaluator runs
    alarms: dict[str, Any] = field(default_factory=dict)   # per-rule overrides


@dataclass
class Notifications:
    topic_name: str = "mlops-alarms"
    email: list[str] = field(default_factory=list)
    slack_webhook_secret: str | None = None
    pagerduty_secret: str | None = None
    https_endpoints: list[str] = field(default_factory=list)
    local_file: str = "notifications.ndjson"   # local: relative to the state dir
    guardian: bool = True


@dataclass
class Guardian:
    auto_rollback: bool = True            # a canary alarm sets the canary's weight to 0
    auto_retrain: bool = True             # a drift alarm on production asks for retraining
    rollback_canary_on_drift: bool = True  # inputs drifted mid-experiment: the canary's evidence is void
    ab_auto_promote: bool = False         # act on A/B verdicts (promote a winner, roll back a loser)
    retrain_entrypoint: str = "pipelines/train/train.py"   # local: what a retraining request runs


@dataclass
class LogShipping:
    max_bytes: int = 1_000_000           # roll a prediction-log object at this size ...
    max_age_s: float = 60.0              # ... or this age (Service Connector batch window)
    spool_max_bytes: int = 256 * 1024 * 1024   # local: logs kept on disk while the store is down (issue 13 F)


@dataclass
class Local:
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: str = ".mlops/local"
    secrets_file: str = ".mlops/secrets.json"

    def validate(self, where: str) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"{where}.host: the local runtime listens on loopback only")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{where}.port: must be 0..65535")


@dataclass
class Network:
    vcn_cidr: str = "10.0.0.0/16"
    public_subnet_cidr: str = "10.0.0.0/24"
    private_subnet_cidr: str = "10.0.1.0/24"
    existing_public_subnet_id: str | None = None
    existing_private_subnet_id: str | None = None


@dataclass
class DevOps:
    repository: str = "oci-mlops"
    external_repository_url: str | None = None
    github_token_secret: str | None = None
    branch: str = "main"
    ocir_repository_prefix: str = "mlops"
    require_manual_approval: bool = True
    canary_weight_bp: int = 1000
    canary_wait: str = "PT15M"


@dataclass
class Oci:
    region: str | None = None
    tenancy_id: str | None = None
    compartment_id: str | None = None
    kms_key_id: str | None = None


@dataclass
class StackSettings:
    """Everything one stack needs; ``Pulumi.<stack>.yaml`` is its only source."""

    stack: str = "local"
    environment: str = "local"           # local | cloud
    endpoints: list[Endpoint] = field(default_factory=list)
    store: StoreConfig = field(default_factory=lambda: StoreConfig(backend="file", path=".mlops/local/store"))
    gateway: Gateway = field(default_factory=Gateway)
    functions: FunctionDefaults = field(default_factory=FunctionDefaults)
    function_overrides: dict[str, FunctionOverride] = field(default_factory=dict)
    auth: Auth = field(default_factory=Auth)
    audit: Audit = field(default_factory=Audit)
    drift: Drift = field(default_factory=Drift)
    monitoring: Monitoring = field(default_factory=Monitoring)
    notifications: Notifications = field(default_factory=Notifications)
    guardian: Guardian = field(default_factory=Guardian)
    log_shipping: LogShipping = field(default_factory=LogShipping)
    local: Local = field(default_factory=Local)
    network: Network = field(default_factory=Network)
    devops: DevOps = field(default_factory=DevOps)
    oci: Oci = field(default_factory=Oci)
    project_dir: str = "."

    def validate(self, where: str) -> None:
        if self.environment not in ("local", "cloud"):
            raise ConfigError(f"{where}:environment: must be local or cloud")
        seen: set[str] = set()
        for i, ep in enumerate(self.endpoints):
            if ep.name in seen:
                raise ConfigError(f"{where}:endpoints[{i}].name: duplicate endpoint {ep.name!r}")
            seen.add(ep.name)
        if self.environment == "cloud":
            for key in ("region", "compartment_id"):
                if not getattr(self.oci, key):
                    raise ConfigError(f"{where}:oci.{key}: required for a cloud stack")

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        from mlops.errors import NotFoundError
        known = ", ".join(e.name for e in self.endpoints) or "none"
        raise NotFoundError(f"endpoint {name!r} is not in stack {self.stack!r} (known: {known})")

    def path(self, rel: str) -> Path:
        """A project-relative path of this stack (state, store) as an absolute path."""
        p = Path(os.path.expanduser(rel))
        return p if p.is_absolute() else (Path(self.project_dir) / p).resolve()

    @property
    def state_dir(self) -> Path:
        return self.path(self.local.state_dir) / self.stack if self.stack != "local" else \
            self.path(self.local.state_dir)


def settings_from_config(config: Mapping[str, Any], *, stack: str, source: str = "config",
                         project_dir: str | os.PathLike = ".") -> StackSettings:
    """From the ``config:`` mapping of a stack file (keys ``mlops:<section>``)."""
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
    return load_dataclass(StackSettings, data, f"{source}: {PROJECT}", sep=":")


def load_stack(stack: str = "local", project_dir: str | os.PathLike = ".") -> StackSettings:
    """Read and validate ``Pulumi.<stack>.yaml`` from ``project_dir``."""
    import yaml

    if not stack.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"stack name {stack!r} is not allowed")
    pdir = Path(project_dir).resolve()
    path = pdir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError(f"no stack file {path.name} in {pdir} (stacks: "
                          f"{', '.join(sorted(p.name[7:-5] for p in pdir.glob('Pulumi.*.yaml'))) or 'none'})")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {str(exc)[:300]}") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path.name}: expected a mapping at the top level")
    config = doc.get("config") or {}
    # Pulumi secrets appear as {"secure": "..."}: they never belong in settings.
    for key, value in config.items():
        if isinstance(value, Mapping) and "secure" in value and str(key).startswith(f"{PROJECT}:"):
            raise ConfigError(f"{path.name}: {key}: secrets go to Vault; settings carry only secret names/OCIDs")
    return settings_from_config(config, stack=stack, source=path.name, project_dir=pdir)


def find_project_dir(start: str | os.PathLike = ".") -> Path:
    """The nearest directory at or above ``start`` that holds ``Pulumi.yaml``."""
    p = Path(start).resolve()
    for d in (p, *p.parents):
        if (d / "Pulumi.yaml").is_file():
            return d
    return p
