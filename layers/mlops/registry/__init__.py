"""The model registry: versions, aliases, lineage, approvals, deployments and a tamper-evident audit log.

All state lives in one object store (``mlops.storage``), written with compare-and-swap::

    from mlops.registry import Registry
    reg = Registry(open_store(StoreConfig.from_env()), actor="alice")
    rec = reg.register_version("churn", fitted_model, X_train, y_train, params={...}, metrics={...})
    reg.request_approval("churn", rec["version"])
    reg.with_actor("bob").decide_approval("churn", rec["version"], "approve")
    reg.set_alias("churn", "production", rec["version"])
    reg.audit.verify()
"""

from __future__ import annotations

from mlops.registry.anchor import AuditAnchor
from mlops.registry.audit import AuditLog, entry_hash
from mlops.registry.service import Registry, validate_actor
from mlops.serving.deployment_state import read_deployment

__all__ = ["AuditAnchor", "AuditLog", "Registry", "entry_hash", "read_deployment", "validate_actor"]
