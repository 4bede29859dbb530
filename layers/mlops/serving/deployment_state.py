"""The deployment record as serving reads it: where it lives, how it is read, the canary weight and salt.

The registry writes the record (``mlops.registry.deployments``: CAS-written and audited) at
``deployments/<endpoint>.json``; serving only reads it, through ``read_deployment``, and needs
nothing else of the registry. The authorizer only needs the weight and a salt that names the
canary version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops.names import validate_endpoint_name
from mlops.serving.authorizer import CanaryState
from mlops.storage import cas
from mlops.storage.base import ObjectStore

DEPLOYMENTS_PREFIX = "deployments/"


def deployment_key(endpoint: str) -> str:
    """The store key of an endpoint's deployment record."""
    return f"{DEPLOYMENTS_PREFIX}{validate_endpoint_name(endpoint)}.json"


def read_deployment(store: ObjectStore, endpoint: str) -> dict[str, Any] | None:
    """The deployment record of an endpoint, or None if it was never deployed (no Registry needed)."""
    doc = cas.read(store, deployment_key(endpoint))
    return None if doc is None else {k: v for k, v in doc.data.items() if k != "write_id"}


def canary_state(doc: dict[str, Any] | None, endpoint: str) -> CanaryState:
    if not doc or not doc.get("canary_version"):
        return CanaryState(0, "")
    weight = int(doc.get("canary_weight_bp") or 0)
    return CanaryState(max(0, min(10_000, weight)), f"{endpoint}:v{doc['canary_version']}")


def canary_state_reader(store: ObjectStore) -> Callable[[str], CanaryState]:
    return lambda endpoint: canary_state(read_deployment(store, endpoint), endpoint)
