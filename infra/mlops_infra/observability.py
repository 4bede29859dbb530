"""Logs, log shipping, the drift trigger, the alarm rule set and the guardian's subscription.

Data path: function invoke logs -> Service Connector -> prediction-logs bucket; an Events rule on
object creation in that bucket invokes the drift function. The alarms are
``mlops.monitoring.defaults.rules_for_settings`` rendered by ``AlarmRule.to_alarm_args``: a rule
exists once and is evaluated locally with the same query. A rule on a function's ``oci_faas``
metrics filters on ``resourceId``: the function's OCID here, its local stand-in id locally
(``mlops.monitoring.metrics.faas_alarm_dimensions``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_oci as oci
from mlops.errors import ConfigError
from mlops.settings import StackSettings

from .naming import child, type_token

LOG_RETENTION_DAYS = 30  # OCI Logging: 30-day steps up to 180
# Connector Hub's Object Storage target batches: 1-100 MB and 1-7 minutes (Console limits, as
# recalled; outside values are clamped rather than rejected by the service at apply time).
ROLLOVER_MB = (1, 100)
ROLLOVER_MS = (60_000, 420_000)
OBJECT_CREATED = "com.oraclecloud.objectstorage.createobject"


def rollover(max_bytes: int, max_age_s: float) -> tuple[int, int]:
    """``log_shipping`` settings as the connector's (MB, ms) batch rollover, within OCI's bounds."""
    mb = min(max(math.ceil(max_bytes / 1_000_000), ROLLOVER_MB[0]), ROLLOVER_MB[1])
    ms = min(max(int(max_age_s * 1000), ROLLOVER_MS[0]), ROLLOVER_MS[1])
    return mb, ms


def object_created_condition(bucket: str) -> str:
    """The Events rule filter: an object was created in ``bucket``."""
    return json.dumps(
        {"eventType": [OBJECT_CREATED], "data": {"additionalDetails": {"bucketName": [bucket]}}},
        separators=(",", ":"),
    )


@dataclass
class ObservabilityArgs:
    compartment_id: str
    display_prefix: str
    settings: StackSettings
    application_id: pulumi.Input[str]
    namespace: pulumi.Input[str]
    prediction_logs_bucket: str
    drift_function_id: pulumi.Input[str]
    guardian_function_id: pulumi.Input[str] | None
    topic_id: pulumi.Input[str]
    function_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # name -> OCID


class Observability(pulumi.ComponentResource):
    """Log group, invoke log, connector, events rule, guardian subscription and one Alarm per rule."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("observability", "Observability"), name, None, opts)
        from mlops.monitoring.defaults import rules_for_settings

        cmp, p = args.compartment_id, args.display_prefix
        self.log_group = oci.logging.LogGroup(
            f"{name}-logs",
            compartment_id=cmp,
            display_name=f"{p}-logs",
            description="function invoke logs (prediction records)",
            opts=child(self),
        )
        self.invoke_log = oci.logging.Log(
            f"{name}-invoke-log",
            display_name=f"{p}-invoke",
            log_group_id=self.log_group.id,
            log_type="SERVICE",
            configuration={
                "compartment_id": cmp,
                "source": {
                    "source_type": "OCISERVICE",
                    "service": "functions",
                    "category": "invoke",
                    "resource": args.application_id,
                },
            },
            is_enabled=True,
            retention_duration=LOG_RETENTION_DAYS,
            opts=child(self),
        )
        size_mb, time_ms = rollover(
            args.settings.log_shipping.max_bytes, args.settings.log_shipping.max_age_s
        )
        self.connector = oci.sch.Connector(
            f"{name}-log-shipping",
            compartment_id=cmp,
            display_name=f"{p}-prediction-logs",
            description="function invoke logs to the prediction-logs bucket, in batches",
            source={
                "kind": "logging",
                "log_sources": [
                    {"compartment_id": cmp, "log_group_id": self.log_group.id, "log_id": self.invoke_log.id}
                ],
            },
            target={
                "kind": "objectStorage",
                "bucket": args.prediction_logs_bucket,
                "namespace": args.namespace,
                "batch_rollover_size_in_mbs": size_mb,
                "batch_rollover_time_in_ms": time_ms,
            },
            state="ACTIVE",
            opts=child(self),
        )
        self.drift_rule = oci.events.Rule(
            f"{name}-drift-trigger",
            compartment_id=cmp,
            display_name=f"{p}-drift-on-new-logs",
            description="a new prediction-log object invokes the drift function",
            condition=object_created_condition(args.prediction_logs_bucket),
            is_enabled=True,
            actions={
                "actions": [
                    {
                        "action_type": "FAAS",
                        "function_id": args.drift_function_id,
                        "is_enabled": True,
                        "description": "drift window",
                    }
                ]
            },
            opts=child(self),
        )
        self.guardian_subscription = None
        if args.guardian_function_id is not None:
            self.guardian_subscription = oci.ons.Subscription(
                f"{name}-guardian",
                compartment_id=cmp,
                topic_id=args.topic_id,
                protocol="ORACLE_FUNCTIONS",
                endpoint=args.guardian_function_id,
                opts=child(self),
            )
        self.rules = rules_for_settings(args.settings)
        self.alarms: dict[str, oci.monitoring.Alarm] = {}
        for rule in self.rules:
            # an oci_faas rule watches one function: its query filters on that function's OCID
            fn_id = args.function_ids.get(rule.function) if rule.function else None
            if rule.function and fn_id is None:
                raise ConfigError(
                    f"alarm rule {rule.name!r} watches function {rule.function!r}, "
                    "which this stack does not deploy"
                )
            self.alarms[rule.name] = oci.monitoring.Alarm(
                f"{name}-alarm-{rule.name}",
                **rule.to_alarm_args(cmp, args.topic_id, display_name_prefix=f"{p}-", function_id=fn_id),
                opts=child(self),
            )
        self.register_outputs(
            {
                "log_group_id": self.log_group.id,
                "invoke_log_id": self.invoke_log.id,
                "alarm_ids": {n: a.id for n, a in self.alarms.items()},
            }
        )
