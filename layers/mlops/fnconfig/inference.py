"""An inference function's config: one endpoint variant."""

from __future__ import annotations

from dataclasses import dataclass

from mlops import envvars as ev
from mlops.fnconfig.base import BOOL, FLOAT, INT, STR, AuditedFunctionConfig, env_field


@dataclass(frozen=True, kw_only=True)
class InferenceConfig(AuditedFunctionConfig):
    """One endpoint variant: which model and alias it serves, batch limit, sampling, refresh, shadow,
    top contributions in prediction records."""

    function: str = env_field(ev.FUNCTION, STR, "inference")
    endpoint: str = env_field(ev.ENDPOINT, STR, required=True)
    model: str = env_field(ev.MODEL, STR, required=True)
    variant: str = env_field(ev.VARIANT, STR, "stable")  # stable | canary
    alias: str = env_field(ev.ALIAS, STR, "production")
    max_batch: int = env_field(ev.MAX_BATCH, INT, 1000)
    feature_sample_rate: float = env_field(ev.FEATURE_SAMPLE_RATE, FLOAT, 0.1)
    retain_features: bool = env_field(ev.RETAIN_FEATURES, BOOL, False)
    model_refresh_s: float = env_field(ev.MODEL_REFRESH_S, FLOAT, 10.0)
    shadow: bool = env_field(ev.SHADOW, BOOL, False)
    explain_top_k: int = env_field(ev.EXPLAIN_TOP_K, INT, 0)
