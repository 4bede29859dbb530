"""Read an endpoint's deployment state (stable / canary version and weight) from the registry store.

The registry owns the record (``deployments/<endpoint>.json``, written with CAS and
audited); serving only reads it: the authorizer for the weight, inference for versions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlops.errors import IntegrityError, NotFoundError
from mlops.names import validate_endpoint_name
from mlops.serving.authorizer import CanaryState


def deployment_key(endpoint: str) -> str:
    return f"deployments/{validate_endpoint_name(endpoint)}.json"


def read_deployment(store, endpoint: str) -> dict[str, Any] | None:
    """The deployment record, or None when the endpoint was never deployed."""
    key = deployment_key(endpoint)
    try:
        obj = store.get(key)
    except NotFoundError:
        return None
    try:
        doc = json.loads(obj.data)
    except ValueError:
        raise IntegrityError(f"deployment record {key} is not valid JSON", code="corrupt_metadata") from None
    return doc if isinstance(doc, dict) else None


def canary_state(doc: dict[str, Any] | None, endpoint: str) -> CanaryState:
    if not doc or not doc.get("canary_version"):
        return CanaryState(0, "")
    weight = int(doc.get("canary_weight_bp") or 0)
    return CanaryState(max(0, min(10_000, weight)), f"{endpoint}:v{doc['canary_version']}")


def canary_state_reader(store) -> Callable[[str], CanaryState]:
    return lambda endpoint: canary_state(read_deployment(store, endpoint), endpoint)
