"""Names, type tokens and child options shared by every component: one scheme, written down once."""

from __future__ import annotations

import pulumi
from mlops.settings import StackSettings

PACKAGE = "mlops"


def type_token(area: str, cls: str) -> str:
    """The Pulumi type token of a component: ``mlops:<area>:<Class>``."""
    return f"{PACKAGE}:{area}:{cls}"


def child(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    """Options for a child resource of ``parent`` (extra options such as ``depends_on`` pass through)."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def prefix(settings: StackSettings) -> str:
    """The display-name prefix of a stack's cloud resources, e.g. ``mlops-dev``."""
    return f"{PACKAGE}-{settings.stack}"


def bucket_names(settings: StackSettings) -> dict[str, str]:
    """Bucket name by role: the registry store's bucket (from the settings), prediction logs, reports, and the
    audit entries' own bucket (under a retention rule; ``mlops.storage.stack.audit_bucket_name``)."""
    from mlops.storage.stack import audit_bucket_name

    p = prefix(settings)
    return {
        "registry": settings.store.bucket or f"{p}-registry",
        "prediction_logs": f"{p}-prediction-logs",
        "reports": f"{p}-reports",
        "audit": audit_bucket_name(settings),
    }
