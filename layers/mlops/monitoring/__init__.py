"""Metrics, alarm rules and notifications: one interface each, a local backend and an OCI backend.

- ``metrics``: ``MetricPoint``, ``MetricsSink``/``MetricsStore``, ``MemoryMetrics`` and
  the producers' helpers (``invocation_points``, ``drift_points``, ``window_points``, ``canary_points``);
- ``buffered``: ``BufferedSink``, batching writes from a background thread;
- ``sqlite``: ``SqliteMetrics``, the local store (WAL, many writer processes);
- ``oci``: ``OciMonitoringSink`` (PostMetricData) and client builders - imports the oci SDK lazily;
- ``alarms``: ``AlarmRule`` (MQL + ``pulumi_oci.monitoring.Alarm`` args), ``default_rules`` and the
  metric contract; ``mql``: the MQL parser/renderer; ``evaluator``: ``AlarmEvaluator``;
- ``notify``: ``Notifier`` and its backends, ``format_alarm_message``, ``parse_alarm_message``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "MetricPoint": "metrics",
    "MetricsSink": "metrics",
    "MetricsStore": "metrics",
    "MemoryMetrics": "metrics",
    "BufferedSink": "buffered",
    "Stream": "metrics",
    "VariantWindow": "metrics",
    "invocation_points": "metrics",
    "drift_points": "metrics",
    "window_points": "metrics",
    "canary_points": "metrics",
    "SqliteMetrics": "sqlite",
    "OciMonitoringSink": "oci",
    "monitoring_client": "oci",
    "notification_client": "oci",
    "AlarmRule": "alarms",
    "default_rules": "defaults",
    "rules_for_settings": "defaults",
    "apply_overrides": "defaults",
    "AlarmEvaluator": "evaluator",
    "AlarmEvent": "evaluator",
    "Notifier": "notify",
    "OnsNotifier": "notify",
    "NdjsonNotifier": "notify",
    "WebhookNotifier": "notify",
    "FunctionNotifier": "notify",
    "FanOut": "notify",
    "format_alarm_message": "notify",
    "format_action_message": "notify",
    "parse_alarm_message": "notify",
    "publish_events": "notify",
    "read_ndjson_messages": "notify",
    "parse_query": "mql",
    "parse_alarm": "mql",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'mlops.monitoring' has no attribute {name!r}")
    value = getattr(import_module(f"mlops.monitoring.{mod}"), name)
    globals()[name] = value
    return value
