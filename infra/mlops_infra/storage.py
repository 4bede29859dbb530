"""Object Storage of a stack: the registry bucket (versioned, CMK), prediction logs (events, lifecycle), reports,
and the audit bucket: the audit log's entries alone, under a retention rule (WORM), so that nobody - the
functions included - can delete or overwrite an entry while it is retained (issue 13 E).

Retention rules apply to a whole bucket, never to a prefix, and cannot be added to a bucket with versioning
enabled (doc "Object Storage Data Retention Rules", docs.oracle.com/iaas/Content/Object/Tasks/
usingretentionrules.htm); hence a bucket of its own, versioning disabled. The rule's shape is pulumi-oci
5.5.0's ``BucketRetentionRuleArgs(display_name, duration=BucketRetentionRuleDurationArgs(time_amount: str,
time_unit: "DAYS"|"YEARS"), time_rule_locked: RFC 3339)`` (``pulumi_oci/objectstorage/_inputs.py``); a lock
is irreversible and takes effect after 14 days."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_oci as oci

from .naming import child, type_token

PREDICTION_LOG_RETENTION_DAYS = 30  # drift reads a window when it lands; older logs are only audit noise


AUDIT_RULE_NAME = "mlops-audit-worm"


def audit_retention_rules(
    days: int, locked_at: str | None = None
) -> list[oci.objectstorage.BucketRetentionRuleArgsDict]:
    """The audit bucket's ``retention_rules``: entries cannot be deleted or overwritten for ``days`` after
    they were written (none when ``days`` is 0); ``locked_at`` (RFC 3339) locks the rule for good."""
    if not days:
        return []
    rule: oci.objectstorage.BucketRetentionRuleArgsDict = {
        "display_name": AUDIT_RULE_NAME,
        "duration": {"time_amount": str(days), "time_unit": "DAYS"},
    }
    if locked_at:
        rule["time_rule_locked"] = locked_at
    return [rule]


class _BucketCommon(TypedDict):
    """The arguments every bucket of the stack shares."""

    compartment_id: pulumi.Input[str]
    namespace: pulumi.Input[str]
    kms_key_id: pulumi.Input[str]
    access_type: str
    storage_tier: str


@dataclass
class StorageArgs:
    compartment_id: str
    namespace: pulumi.Input[str]
    kms_key_id: pulumi.Input[str]
    names: dict[str, str]  # role -> bucket name (naming.bucket_names)
    retention_days: int = PREDICTION_LOG_RETENTION_DAYS
    audit_retention_days: int = 365  # settings.audit.retention_days
    audit_retention_locked_at: str | None = None


class Storage(pulumi.ComponentResource):
    """Four private buckets encrypted with the stack's key; ``names`` and ``ids`` by role."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("storage", "Storage"), name, None, opts)
        common: _BucketCommon = {
            "compartment_id": args.compartment_id,
            "namespace": args.namespace,
            "kms_key_id": args.kms_key_id,
            "access_type": "NoPublicAccess",
            "storage_tier": "Standard",
        }
        self.registry = oci.objectstorage.Bucket(
            f"{name}-registry", name=args.names["registry"], versioning="Enabled", **common, opts=child(self)
        )
        self.prediction_logs = oci.objectstorage.Bucket(
            f"{name}-prediction-logs",
            name=args.names["prediction_logs"],
            versioning="Disabled",
            object_events_enabled=True,
            **common,
            opts=child(self),
        )
        self.reports = oci.objectstorage.Bucket(
            f"{name}-reports", name=args.names["reports"], versioning="Disabled", **common, opts=child(self)
        )
        self.prediction_logs_lifecycle = oci.objectstorage.ObjectLifecyclePolicy(
            f"{name}-prediction-logs-lifecycle",
            namespace=args.namespace,
            bucket=self.prediction_logs.name,
            rules=[
                {
                    "name": "expire-prediction-logs",
                    "action": "DELETE",
                    "is_enabled": True,
                    "time_amount": str(args.retention_days),
                    "time_unit": "DAYS",
                }
            ],
            opts=child(self),
        )
        self.audit = oci.objectstorage.Bucket(
            f"{name}-audit",
            name=args.names["audit"],
            versioning="Disabled",
            retention_rules=audit_retention_rules(args.audit_retention_days, args.audit_retention_locked_at),
            **common,
            opts=child(self),
        )
        self.names = dict(args.names)
        self.ids = {
            "registry": self.registry.id,
            "prediction_logs": self.prediction_logs.id,
            "reports": self.reports.id,
            "audit": self.audit.id,
        }
        self.register_outputs(
            {"bucket_names": {k: b.name for k, b in self._buckets().items()}, "bucket_ids": self.ids}
        )

    def _buckets(self) -> dict[str, oci.objectstorage.Bucket]:
        return {
            "registry": self.registry,
            "prediction_logs": self.prediction_logs,
            "reports": self.reports,
            "audit": self.audit,
        }
