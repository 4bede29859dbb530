"""Inference function: one endpoint variant (stable or canary), predict and feedback."""

import os

from mlops import envvars as ev
from mlops.function import fdk_handler
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.serving.inference import InferenceService
from mlops.serving.source import RegistrySource
from mlops.storage import StoreConfig, open_store

_env = os.environ
_store_config = StoreConfig.from_env(_env)      # first: a missing store variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_store_config, _secrets)
_endpoint = ev.require(_env, ev.ENDPOINT)
_model = ev.require(_env, ev.MODEL)
_variant = ev.get(_env, ev.VARIANT, "stable")
_service = InferenceService(
    RegistrySource(Registry(_store, actor=f"fn:{ev.get(_env, ev.FUNCTION, 'inference')}",
                            anchor=anchor_from_env(_env, _secrets),
                            audit_store=audit_store_from_env(_env, _store_config, _secrets)), _store,
                   endpoint=_endpoint, model=_model, variant=_variant,
                   alias=ev.get(_env, ev.ALIAS, "production"),
                   shadow_enabled=ev.get(_env, ev.SHADOW, "0") == "1"),
    endpoint=_endpoint, model_name=_model, variant=_variant,
    max_batch=int(ev.get(_env, ev.MAX_BATCH, "1000")),
    sample_rate=float(ev.get(_env, ev.FEATURE_SAMPLE_RATE, "0.1")),
    refresh_s=float(ev.get(_env, ev.MODEL_REFRESH_S, "10")),
)
handler = fdk_handler(_service.router())
