"""The sections of a stack's settings and ``StackSettings``, the whole: names, types, defaults and ranges.

Each class is one ``mlops:<section>`` of ``Pulumi.<stack>.yaml``; a field's range or choices sit in its
type (``Annotated[int, Meta(ge=1, le=64)]``, ``one_of``), a rule spanning fields in ``check``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from msgspec import Meta, field

from mlops.errors import NotFoundError
from mlops.names import validate_endpoint_name, validate_name
from mlops.settings.base import Section, SettingError, one_of
from mlops.storage.config import StoreConfig

MEMORY_CHOICES = (128, 256, 512, 1024, 2048, 3072)  # OCI Functions memoryInMBs
MAX_SYNC_TIMEOUT_S = 300


class FunctionDefaults(Section):
    memory_mb: Annotated[int, one_of(*MEMORY_CHOICES)] = 256
    timeout_s: Annotated[int, Meta(ge=1, le=MAX_SYNC_TIMEOUT_S)] = 30
    pool_size: Annotated[int, Meta(ge=1, le=64)] = 2  # local: processes per function (Fn hot containers)
    provisioned_concurrency: Annotated[int, Meta(ge=0)] = 0  # cloud: PCUs, 0 = none


class FunctionOverride(Section):
    memory_mb: int | None = None
    timeout_s: int | None = None
    pool_size: int | None = None
    provisioned_concurrency: int | None = None
    image: str | None = None  # cloud: image reference, normally set by the pipeline
    image_digest: str | None = None


class Endpoint(Section):
    name: str
    model: str
    stable_alias: str = "production"
    canary_alias: str = "canary"
    max_batch: Annotated[int, Meta(ge=1, le=100_000)] = 1000
    feature_sample_rate: Annotated[float, Meta(ge=0.0, le=1.0)] = (
        0.1  # share of prediction records with features
    )
    # features on every prediction record (a labelled production dataset needs them), not only on the sample
    retain_features: bool = False
    model_refresh_s: float = 10.0  # how often an inference function re-resolves its alias
    shadow: bool = False  # also score a share of stable traffic with the candidate
    # > 0: each prediction record carries the row's k largest contributions (exact Tree SHAP models only)
    explain_top_k: Annotated[int, Meta(ge=0, le=100)] = 0
    memory_mb: int | None = None
    timeout_s: int | None = None

    def check(self) -> None:
        try:
            validate_endpoint_name(self.name)
            validate_name(self.model, "model")
            validate_name(self.stable_alias, "alias")
            validate_name(self.canary_alias, "alias")
        except Exception as exc:
            raise SettingError("", str(exc)) from None


class RateLimit(Section):
    requests_per_second: Annotated[int, Meta(ge=1)] = 1000
    key: Annotated[str, one_of("CLIENT_IP", "TOTAL")] = "CLIENT_IP"  # OCI rate_key


class Cors(Section):
    allowed_origins: list[str] = field(default_factory=lambda: ["*"])
    allowed_methods: list[str] = field(default_factory=lambda: ["GET", "POST", "PUT", "DELETE"])
    allowed_headers: list[str] = field(default_factory=lambda: ["Authorization", "Content-Type"])
    max_age_s: int = 600


class Gateway(Section):
    path_prefix: str = "/"
    auth_header: str = "Authorization"
    auth_cache_ttl_s: Annotated[int, Meta(ge=0, le=3600)] = 60  # authorizer answers: expiresAt = now + this
    rate_limit: RateLimit | None = field(default_factory=RateLimit)
    cors: Cors | None = field(default_factory=Cors)
    endpoint_type: Annotated[str, one_of("PUBLIC", "PRIVATE")] = "PUBLIC"  # cloud

    def check(self) -> None:
        if not self.path_prefix.startswith("/"):
            raise SettingError("path_prefix", f"must start with '/', got {self.path_prefix!r}")


class Auth(Section):
    api_keys_secret: str = "mlops-api-keys"  # a secret name (local) or OCID (cloud); never the keys
    pin_scope: str = "mlops:pin"  # may call /v1/endpoints/E/variants/{stable|canary}/predict
    weight_cache_ttl_s: float = 2.0  # how long the authorizer caches deployment weights


class Audit(Section):
    """The audit log's protection outside the store (issue 13 E; ``mlops.registry.anchor``)."""

    anchor_secret: str | None = "mlops-audit-anchor"  # secret holding the HMAC key: name (local, or one this
    #                                                    stack creates in Vault) or OCID; null: not anchored
    bucket: str | None = None  # cloud: the audit entries' own bucket (default mlops-<stack>-audit)
    retention_days: Annotated[int, Meta(ge=0, le=36500)] = 365  # cloud: the bucket's retention rule; 0: none
    retention_locked_at: str | None = (
        None  # cloud: RFC 3339 time to lock the rule (irreversible); null: unlocked
    )

    def check(self) -> None:
        if self.anchor_secret is not None and not self.anchor_secret.strip():
            raise SettingError("anchor_secret", "a secret name or OCID, or null for an unanchored log")
        if self.retention_locked_at is not None and not self.retention_days:
            raise SettingError("retention_locked_at", "a rule without a duration cannot be locked")


class Drift(Section):
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
    effect_threshold: Annotated[float, Meta(ge=0)] = 0.1
    dataset_rule: Annotated[str, one_of("strong_or_count", "any", "count", "share")] = "strong_or_count"
    count_threshold: Annotated[int, Meta(ge=1)] = 2  # strong_or_count / count: this many drifted features
    strong_threshold: Annotated[float, Meta(ge=0)] = 0.25  # strong_or_count: one feature with this effect
    share_threshold: Annotated[float, Meta(gt=0, le=1)] = 0.3  # share: this share of features drift
    persistence_k: int = 2  # alarm when k of the last n windows drifted
    persistence_n: int = 3
    min_rows: int = 100


class Monitoring(Section):
    namespace: str = "mlops"
    evaluation_interval_s: float = 5.0  # local: how often the alarm evaluator runs
    alarms: dict[str, Any] = field(default_factory=dict)  # per-rule overrides


class Notifications(Section):
    topic_name: str = "mlops-alarms"
    email: list[str] = field(default_factory=list)
    slack_webhook_secret: str | None = None
    pagerduty_secret: str | None = None
    https_endpoints: list[str] = field(default_factory=list)
    local_file: str = "notifications.ndjson"  # local: relative to the state dir
    guardian: bool = True


class Guardian(Section):
    auto_rollback: bool = True  # a canary alarm sets the canary's weight to 0
    auto_retrain: bool = True  # a drift alarm on production asks for retraining
    rollback_canary_on_drift: bool = True  # inputs drifted mid-experiment: the canary's evidence is void
    ab_auto_promote: bool = False  # act on A/B verdicts (promote a winner, roll back a loser)
    retrain_entrypoint: str = "pipelines/train/train.py"  # local: what a retraining request runs


class LogShipping(Section):
    max_bytes: int = 1_000_000  # roll a prediction-log object at this size ...
    max_age_s: float = 60.0  # ... or this age (Service Connector batch window)
    spool_max_bytes: int = 256 * 1024 * 1024  # local: logs kept on disk while the store is down (issue 13 F)


class Local(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    state_dir: str = ".mlops/local"
    secrets_file: str = ".mlops/secrets.json"

    def check(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise SettingError("host", f"the local runtime listens on loopback only, not {self.host!r}")


class Network(Section):
    vcn_cidr: str = "10.0.0.0/16"
    public_subnet_cidr: str = "10.0.0.0/24"
    private_subnet_cidr: str = "10.0.1.0/24"
    existing_public_subnet_id: str | None = None
    existing_private_subnet_id: str | None = None


class DevOps(Section):
    repository: str = "oci-mlops"
    external_repository_url: str | None = None
    github_token_secret: str | None = None
    branch: str = "main"
    ocir_repository_prefix: str = "mlops"
    require_manual_approval: bool = True
    canary_weight_bp: int = 1000
    canary_wait: str = "PT15M"


class Oci(Section):
    region: str | None = None
    tenancy_id: str | None = None
    compartment_id: str | None = None
    kms_key_id: str | None = None


def _default_store() -> StoreConfig:
    return StoreConfig(backend="file", path=".mlops/local/store")


class StackSettings(Section):
    """Everything one stack needs; ``Pulumi.<stack>.yaml`` is its only source."""

    stack: str = "local"
    environment: Annotated[str, one_of("local", "cloud")] = "local"
    endpoints: list[Endpoint] = field(default_factory=list)
    store: StoreConfig = field(default_factory=_default_store)
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

    def check(self) -> None:
        seen: set[str] = set()
        for i, ep in enumerate(self.endpoints):
            if ep.name in seen:
                raise SettingError(f"endpoints[{i}].name", f"duplicate endpoint {ep.name!r}")
            seen.add(ep.name)
        bad = self.store.problem()
        if bad:
            raise SettingError(f"store.{bad[0]}", bad[1])
        if self.environment == "cloud":
            for key in ("region", "compartment_id"):
                if not getattr(self.oci, key):
                    raise SettingError(f"oci.{key}", "required for a cloud stack")

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        known = ", ".join(e.name for e in self.endpoints) or "none"
        raise NotFoundError(f"endpoint {name!r} is not in stack {self.stack!r} (known: {known})")

    def path(self, rel: str) -> Path:
        """A project-relative path of this stack (state, store) as an absolute path."""
        p = Path(os.path.expanduser(rel))
        return p if p.is_absolute() else (Path(self.project_dir) / p).resolve()

    @property
    def state_dir(self) -> Path:
        return (
            self.path(self.local.state_dir) / self.stack
            if self.stack != "local"
            else self.path(self.local.state_dir)
        )
