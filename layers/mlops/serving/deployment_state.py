"""What serving reads of an endpoint's deployment state: the canary weight and its cohort salt.

The registry owns the record (``mlops.registry.deployments``: CAS-written and audited);
the authorizer only needs the weight and a salt that names the canary version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops.registry.deployments import read_deployment
from mlops.serving.authorizer import CanaryState


def canary_state(doc: dict[str, Any] | None, endpoint: str) -> CanaryState:
    if not doc or not doc.get("canary_version"):
        return CanaryState(0, "")
    weight = int(doc.get("canary_weight_bp") or 0)
    return CanaryState(max(0, min(10_000, weight)), f"{endpoint}:v{doc['canary_version']}")


def canary_state_reader(store) -> Callable[[str], CanaryState]:
    return lambda endpoint: canary_state(read_deployment(store, endpoint), endpoint)
