"""Authorizer function: API key -> principal, scopes and a canary cohort per endpoint (OCI format)."""

import io
import json
import os

from fdk import response
from mlops import envvars as ev
from mlops import fdkclock
from mlops.secrets import secrets_from_env
from mlops.serving.apikeys import KeyRingSource
from mlops.serving.authorizer import Authorizer, WeightCache
from mlops.serving.deployment_state import canary_state_reader
from mlops.storage import StoreConfig, open_store

fdkclock.install()   # fdk 0.1.128 spins a core per idle kept-alive connection without it
_env = os.environ
_secrets = secrets_from_env(_env, ttl_s=float(ev.get(_env, ev.AUTH_TTL_S, "60")))
_keys_name = ev.require(_env, ev.API_KEYS_SECRET)
_reader = _secrets.reader                  # the ring is read through its own source, not the TTL cache
# a file ring (local stacks) is re-read when its stat changes; a Vault ring on an unknown key id, at
# most once a second, and every AUTH_TTL_S
_keys = KeyRingSource(lambda: _reader.get(_keys_name), signature=getattr(_reader, "signature", None),
                      max_age_s=float(ev.get(_env, ev.AUTH_TTL_S, "60")), min_reload_interval_s=1.0)


_store = open_store(StoreConfig.from_env(_env), _secrets)
_authorizer = Authorizer(
    _keys,
    WeightCache(canary_state_reader(_store), ttl_s=float(ev.get(_env, ev.WEIGHT_CACHE_TTL_S, "2"))),
    [e for e in (ev.get(_env, ev.ENDPOINTS, "") or "").split(",") if e],
    ttl_s=float(ev.get(_env, ev.AUTH_TTL_S, "60")),
)


def handler(ctx, data: io.BytesIO = None):
    try:
        doc = json.loads(data.getvalue()) if data is not None else {}
    except ValueError:
        doc = {}
    answer = _authorizer.authorize(doc)
    return response.Response(ctx, response_data=json.dumps(answer),
                             headers={"Content-Type": "application/json"})
