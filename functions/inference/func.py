"""Inference function: one endpoint variant (stable or canary), predict, explain and feedback."""

import os

from mlops.fnconfig.inference import InferenceConfig
from mlops.function import fdk_handler
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.serving.inference import InferenceService
from mlops.serving.source import RegistrySource
from mlops.storage import open_store

_env = os.environ
_cfg = InferenceConfig.from_env(_env)  # first: a missing or bad variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_cfg.store, _secrets)
_service = InferenceService(
    RegistrySource(
        Registry(
            _store,
            actor=f"fn:{_cfg.function}",
            anchor=anchor_from_env(_env, _secrets),
            audit_store=audit_store_from_env(_env, _cfg.store, _secrets),
        ),
        _store,
        endpoint=_cfg.endpoint,
        model=_cfg.model,
        variant=_cfg.variant,
        alias=_cfg.alias,
        shadow_enabled=_cfg.shadow,
    ),
    endpoint=_cfg.endpoint,
    model_name=_cfg.model,
    variant=_cfg.variant,
    max_batch=_cfg.max_batch,
    sample_rate=_cfg.feature_sample_rate,
    retain_features=_cfg.retain_features,
    refresh_s=_cfg.model_refresh_s,
    explain_top_k=_cfg.explain_top_k,
)
handler = fdk_handler(_service.router())
