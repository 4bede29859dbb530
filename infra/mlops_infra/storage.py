"""Object Storage of a stack: the registry bucket (versioned, CMK), prediction logs (events, lifecycle) and reports."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_oci as oci

from .naming import child, type_token

PREDICTION_LOG_RETENTION_DAYS = 30     # drift reads a window when it lands; older logs are only audit noise


@dataclass
class StorageArgs:
    compartment_id: str
    namespace: pulumi.Input[str]
    kms_key_id: pulumi.Input[str]
    names: dict[str, str]                     # role -> bucket name (naming.bucket_names)
    retention_days: int = PREDICTION_LOG_RETENTION_DAYS


class Storage(pulumi.ComponentResource):
    """Three private buckets encrypted with the stack's key; ``names`` and ``ids`` by role."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("storage", "Storage"), name, None, opts)
        common = {"compartment_id": args.compartment_id, "namespace": args.namespace,
                  "kms_key_id": args.kms_key_id, "access_type": "NoPublicAccess", "storage_tier": "Standard"}
        self.registry = oci.objectstorage.Bucket(
            f"{name}-registry", name=args.names["registry"], versioning="Enabled", **common, opts=child(self))
        self.prediction_logs = oci.objectstorage.Bucket(
            f"{name}-prediction-logs", name=args.names["prediction_logs"], versioning="Disabled",
            object_events_enabled=True, **common, opts=child(self))
        self.reports = oci.objectstorage.Bucket(
            f"{name}-reports", name=args.names["reports"], versioning="Disabled", **common, opts=child(self))
        self.prediction_logs_lifecycle = oci.objectstorage.ObjectLifecyclePolicy(
            f"{name}-prediction-logs-lifecycle", namespace=args.namespace, bucket=self.prediction_logs.name,
            rules=[{"name": "expire-prediction-logs", "action": "DELETE", "is_enabled": True,
                    "time_amount": str(args.retention_days), "time_unit": "DAYS"}],
            opts=child(self))
        self.names = dict(args.names)
        self.ids = {"registry": self.registry.id, "prediction_logs": self.prediction_logs.id,
                    "reports": self.reports.id}
        self.register_outputs({"bucket_names": {k: b.name for k, b in self._buckets().items()},
                               "bucket_ids": self.ids})

    def _buckets(self) -> dict[str, oci.objectstorage.Bucket]:
        return {"registry": self.registry, "prediction_logs": self.prediction_logs, "reports": self.reports}
