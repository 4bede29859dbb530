"""Every env var name the functions read, written down once (config keys are ``[A-Za-z0-9_]``)."""

from __future__ import annotations

from collections.abc import Mapping

STACK = "MLOPS_STACK"
FUNCTION = "MLOPS_FUNCTION"
ENVIRONMENT = "MLOPS_ENVIRONMENT"  # local | cloud
REGION = "MLOPS_REGION"
COMPARTMENT_ID = "MLOPS_COMPARTMENT_ID"
METRICS_NAMESPACE = "MLOPS_METRICS_NAMESPACE"
METRICS_DB = "MLOPS_METRICS_DB"  # local: SQLite metrics store path
STORE_PREFIX = "MLOPS_STORE_"  # + BACKEND, PATH, BUCKET, ... (mlops.storage.config)

# audit log anchor: the secret (name locally, OCID in the cloud) holding the HMAC key that signs it
AUDIT_ANCHOR_SECRET = "MLOPS_AUDIT_ANCHOR_SECRET"
AUDIT_BUCKET = "MLOPS_AUDIT_BUCKET"  # cloud: the bucket of the audit entries (retention rule, WORM)

# inference
ENDPOINT = "MLOPS_ENDPOINT"
MODEL = "MLOPS_MODEL"
VARIANT = "MLOPS_VARIANT"  # stable | canary
ALIAS = "MLOPS_ALIAS"
MAX_BATCH = "MLOPS_MAX_BATCH"
FEATURE_SAMPLE_RATE = "MLOPS_FEATURE_SAMPLE_RATE"
RETAIN_FEATURES = "MLOPS_RETAIN_FEATURES"
MODEL_REFRESH_S = "MLOPS_MODEL_REFRESH_S"
SHADOW = "MLOPS_SHADOW"
EXPLAIN_TOP_K = "MLOPS_EXPLAIN_TOP_K"  # > 0: prediction records carry their top contributions

# authorizer
SECRETS_BACKEND = "MLOPS_SECRETS_BACKEND"  # file | vault
SECRETS_FILE = "MLOPS_SECRETS_FILE"  # local only: a JSON file outside git
VAULT_ID = "MLOPS_VAULT_ID"
API_KEYS_SECRET = "MLOPS_API_KEYS_SECRET"  # secret name (local) or OCID (cloud)
AUTH_TTL_S = "MLOPS_AUTH_TTL_S"
WEIGHT_CACHE_TTL_S = "MLOPS_WEIGHT_CACHE_TTL_S"
ENDPOINTS = "MLOPS_ENDPOINTS"  # endpoint names, comma-separated (one variable)

# registry (the console's OpenAPI document describes the gateway's routes)
PIN_SCOPE = "MLOPS_PIN_SCOPE"
AUTH_HEADER = "MLOPS_AUTH_HEADER"

# drift
DRIFT_ALPHA = "MLOPS_DRIFT_ALPHA"
DRIFT_EFFECT_THRESHOLD = "MLOPS_DRIFT_EFFECT_THRESHOLD"
DRIFT_SHARE_THRESHOLD = "MLOPS_DRIFT_SHARE_THRESHOLD"
DRIFT_DATASET_RULE = "MLOPS_DRIFT_DATASET_RULE"  # strong_or_count | any | count | share
DRIFT_COUNT_THRESHOLD = "MLOPS_DRIFT_COUNT_THRESHOLD"
DRIFT_STRONG_THRESHOLD = "MLOPS_DRIFT_STRONG_THRESHOLD"
DRIFT_PERSISTENCE = "MLOPS_DRIFT_PERSISTENCE"  # "k/n"
DRIFT_MIN_ROWS = "MLOPS_DRIFT_MIN_ROWS"

# guardian
NOTIFY_TOPIC_ID = "MLOPS_NOTIFY_TOPIC_ID"
NOTIFY_FILE = "MLOPS_NOTIFY_FILE"
AUTO_ROLLBACK = "MLOPS_AUTO_ROLLBACK"
AUTO_RETRAIN = "MLOPS_AUTO_RETRAIN"
AB_AUTO_PROMOTE = "MLOPS_AB_AUTO_PROMOTE"
ROLLBACK_ON_DRIFT = "MLOPS_ROLLBACK_ON_DRIFT"
RETRAIN_ENTRYPOINT = "MLOPS_RETRAIN_ENTRYPOINT"  # local only: training script a retraining request runs
BUILD_PIPELINE_ID = "MLOPS_BUILD_PIPELINE_ID"
PROJECT_DIR = "MLOPS_PROJECT_DIR"  # local only: where the pipeline runner finds the repo


def get(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``environ[name]``, an empty value counting as unset. A function reads its own variables through
    its typed config (``mlops.fnconfig``); this is for the shared readers (secrets, metrics, audit)."""
    v = environ.get(name)
    return v if v else default


def require(environ: Mapping[str, str], name: str) -> str:
    from mlops.errors import ConfigError

    v = environ.get(name)
    if not v:
        raise ConfigError(f"function config {name} is not set; set it in the stack settings")
    return v
