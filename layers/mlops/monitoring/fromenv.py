"""The metrics sink and notifier a function uses, chosen from its config (local files or OCI services)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from mlops import envvars as ev
from mlops.errors import ConfigError


def metrics_sink_from_env(environ: Mapping[str, str] | None = None):
    """Local: the stack's SQLite store. Cloud: PostMetricData with resource-principal auth."""
    environ = os.environ if environ is None else environ
    db = ev.get(environ, ev.METRICS_DB)
    if db:
        from mlops.monitoring.sqlite import SqliteMetrics

        return SqliteMetrics(db)
    region, compartment = ev.get(environ, ev.REGION), ev.get(environ, ev.COMPARTMENT_ID)
    if not region or not compartment:
        raise ConfigError(f"set {ev.METRICS_DB} (local) or {ev.REGION} and {ev.COMPARTMENT_ID} (cloud)")
    from mlops.monitoring.oci import OciMonitoringSink, monitoring_client, resource_principal_signer

    return OciMonitoringSink(monitoring_client(region, signer=resource_principal_signer()), compartment)


def notifier_from_env(environ: Mapping[str, str] | None = None):
    """Local: the stack's NDJSON notification file. Cloud: the ONS topic."""
    environ = os.environ if environ is None else environ
    path = ev.get(environ, ev.NOTIFY_FILE)
    if path:
        from mlops.monitoring.notify import NdjsonNotifier

        return NdjsonNotifier(path)
    topic = ev.get(environ, ev.NOTIFY_TOPIC_ID)
    if not topic:
        raise ConfigError(f"set {ev.NOTIFY_FILE} (local) or {ev.NOTIFY_TOPIC_ID} (cloud)")
    from mlops.monitoring.notify import OnsNotifier
    from mlops.monitoring.oci import notification_client, resource_principal_signer

    return OnsNotifier(notification_client(signer=resource_principal_signer()), topic)
