"""Authorizer function: API key -> principal, scopes and a canary cohort per endpoint (OCI format)."""

import io
import json
import os

from fdk import response
from mlops import fdkclock, logs
from mlops.fnconfig.authorizer import AuthorizerConfig
from mlops.secrets import secrets_from_env
from mlops.serving.apikeys import KeyRingSource
from mlops.serving.authorizer import Authorizer, WeightCache
from mlops.serving.deployment_state import canary_state_reader
from mlops.storage import open_store

fdkclock.install()  # fdk 0.1.128 spins a core per idle kept-alive connection without it
logs.configure()  # diagnostics as JSON lines on stderr, with the call's request id
_env = os.environ
_cfg = AuthorizerConfig.from_env(_env)
_secrets = secrets_from_env(_env, ttl_s=_cfg.auth_ttl_s)
_keys_name = _cfg.api_keys_secret
_reader = _secrets.reader  # the ring is read through its own source, not the TTL cache
# a file ring (local stacks) is re-read when its stat changes; a Vault ring on an unknown key id, at
# most once a second, and every AUTH_TTL_S
_keys = KeyRingSource(
    lambda: _reader.get(_keys_name),
    signature=getattr(_reader, "signature", None),
    max_age_s=_cfg.auth_ttl_s,
    min_reload_interval_s=1.0,
)


_store = open_store(_cfg.store, _secrets)
_authorizer = Authorizer(
    _keys,
    WeightCache(canary_state_reader(_store), ttl_s=_cfg.weight_cache_ttl_s),
    list(_cfg.endpoints),
    ttl_s=_cfg.auth_ttl_s,
)


def handler(ctx, data: io.BytesIO | None = None):
    token = logs.request_id_var.set(ctx.CallID() or None)
    try:
        try:
            doc = json.loads(data.getvalue()) if data is not None else {}
        except ValueError:
            doc = {}
        answer = _authorizer.authorize(doc)
    finally:
        logs.request_id_var.reset(token)
    return response.Response(
        ctx, response_data=json.dumps(answer), headers={"Content-Type": "application/json"}
    )
