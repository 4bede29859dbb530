"""Drift function: an object-created event of a prediction log in, drift report and metrics out."""

import os

from mlops.driftjob import DriftJob
from mlops.fnconfig.drift import DriftConfig
from mlops.function import fdk_handler
from mlops.http import Request, Response
from mlops.monitoring.fromenv import metrics_sink_from_env
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.storage import open_store

_env = os.environ
_cfg = DriftConfig.from_env(_env)  # first: a missing or bad variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_cfg.store, _secrets)
_registry = Registry(
    _store,
    actor="guardian",  # A/B promotions are the guardian's policy acting
    anchor=anchor_from_env(_env, _secrets),
    audit_store=audit_store_from_env(_env, _cfg.store, _secrets),
)


def _read_connector_object(obj):
    """Cloud: the Service Connector's object in the prediction-logs bucket (resource principal)."""
    from mlops.storage.oci import OciObjectStore, make_oci_client

    client = make_oci_client(auth="resource_principal", region=_cfg.region)
    return OciObjectStore(obj.namespace, obj.bucket, client).get(obj.key).data


def _ab_check(endpoint: str):
    if not _cfg.ab_auto_promote:
        return None
    from mlops.guardian import ab_verdict
    from mlops.monitoring.fromenv import notifier_from_env

    return ab_verdict(_registry, _store, endpoint, notifier=notifier_from_env(_env))


_job = DriftJob(
    _store,
    _registry,
    metrics_sink_from_env(_env),
    log_reader=_read_connector_object,
    after_window=_ab_check,
    config=_cfg.job,
)


def _run(request: Request) -> Response:
    return Response(body=_job.run(request.json()))


handler = fdk_handler(_run)
