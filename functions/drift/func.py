"""Drift function: an object-created event of a prediction log in, drift report and metrics out."""

import os

from mlops import envvars as ev
from mlops.driftjob import DriftJob, DriftJobConfig
from mlops.function import fdk_handler
from mlops.http import Request, Response
from mlops.monitoring.fromenv import metrics_sink_from_env
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.storage import StoreConfig, open_store

_env = os.environ
_store_config = StoreConfig.from_env(_env)      # first: a missing store variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_store_config, _secrets)
_k, _, _n = (ev.get(_env, ev.DRIFT_PERSISTENCE, "2/3") or "2/3").partition("/")
_registry = Registry(_store, actor="guardian",     # A/B promotions are the guardian's policy acting
                     anchor=anchor_from_env(_env, _secrets),
                     audit_store=audit_store_from_env(_env, _store_config, _secrets))


def _read_connector_object(obj):
    """Cloud: the Service Connector's object in the prediction-logs bucket (resource principal)."""
    from mlops.storage.oci import OciObjectStore, make_oci_client

    client = make_oci_client(auth="resource_principal", region=ev.get(_env, ev.REGION))
    return OciObjectStore(obj.namespace, obj.bucket, client).get(obj.key).data


def _ab_check(endpoint: str):
    if ev.get(_env, ev.AB_AUTO_PROMOTE, "0") != "1":
        return None
    from mlops.guardian import ab_verdict
    from mlops.monitoring.fromenv import notifier_from_env
    return ab_verdict(_registry, _store, endpoint, notifier=notifier_from_env(_env))


_job = DriftJob(_store, _registry, metrics_sink_from_env(_env), log_reader=_read_connector_object,
                after_window=_ab_check, config=DriftJobConfig(
    alpha=float(ev.get(_env, ev.DRIFT_ALPHA, "0.05")),
    effect_threshold=float(ev.get(_env, ev.DRIFT_EFFECT_THRESHOLD, "0.1")),
    share_threshold=float(ev.get(_env, ev.DRIFT_SHARE_THRESHOLD, "0.3")),
    dataset_rule=ev.get(_env, ev.DRIFT_DATASET_RULE, "strong_or_count"),
    count_threshold=int(ev.get(_env, ev.DRIFT_COUNT_THRESHOLD, "2")),
    strong_threshold=float(ev.get(_env, ev.DRIFT_STRONG_THRESHOLD, "0.25")),
    persistence_k=int(_k), persistence_n=int(_n or _k),
    min_rows=int(ev.get(_env, ev.DRIFT_MIN_ROWS, "100")),
    namespace=ev.get(_env, ev.METRICS_NAMESPACE, "mlops"),
))


def _run(request: Request) -> Response:
    return Response(body=_job.run(request.json()))


handler = fdk_handler(_run)
