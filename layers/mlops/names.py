"""Naming facts: how functions, routes, scopes and cohort keys are named, and validation of every name
that becomes part of a path, key, URL or resource name.

Pure and cheap to import (no settings): the authorizer and the inference function read these at cold start.
"""

from __future__ import annotations

import re

from mlops.errors import InvalidNameError

# Model names, aliases, tags: letters, digits, '.', '_', '-'; no leading dot; no '..'.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")  # \Z: '$' would let a trailing newline in
# Endpoint and function names end up in OCI display names and env var values.
_ENDPOINT = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]\Z|^[a-z]\Z")


def validate_name(value: object, kind: str = "name") -> str:
    """Return ``value`` if it is a safe name, else raise a 400 naming what is wrong."""
    if not isinstance(value, str) or not value:
        raise InvalidNameError(f"{kind} must be a non-empty string")
    if not _NAME.match(value) or ".." in value:
        raise InvalidNameError(
            f"{kind} {value[:80]!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..')"
        )
    return value


def validate_endpoint_name(value: object, kind: str = "endpoint") -> str:
    if not isinstance(value, str) or not _ENDPOINT.match(value):
        raise InvalidNameError(
            f"{kind} {str(value)[:80]!r} is not allowed: use 1-32 lower-case letters, digits or '-', "
            "starting with a letter"
        )
    return value


def validate_version(value: object) -> int:
    """Versions are positive integers; accepts '3' from a URL."""
    try:
        v = int(str(value))
    except (TypeError, ValueError):
        raise InvalidNameError(f"version {str(value)[:40]!r} is not a positive integer") from None
    if v < 1 or str(value).strip() != str(v):
        raise InvalidNameError(f"version {str(value)[:40]!r} is not a positive integer")
    return v


# The OAuth-style scopes the gateway routes allow (``authorization.allowed_scopes``) and API keys carry.
PREDICT_SCOPE = "mlops:predict"
PIN_SCOPE = "mlops:pin"  # default of settings.auth.pin_scope: may call the pinned variant routes
READ_SCOPE = "mlops:read"
WRITE_SCOPE = "mlops:write"
APPROVE_SCOPE = "mlops:approve"
DEPLOY_SCOPE = "mlops:deploy"
EXPLAIN_SCOPE = "mlops:explain"  # may call /v1/endpoints/E/explain (feature contributions of a prediction)
ALL_SCOPES = (PREDICT_SCOPE, READ_SCOPE, WRITE_SCOPE, APPROVE_SCOPE, DEPLOY_SCOPE, EXPLAIN_SCOPE)
VARIANTS = ("stable", "canary")


def inference_function_name(endpoint: str, variant: str) -> str:
    return f"inference-{endpoint}-{variant}"


def local_function_id(name: str) -> str:
    """The id of function ``name`` in the local runtime: its routes' ``function_id`` and the
    ``resourceId`` of its oci_faas twin metrics, as a function's OCID is in the cloud."""
    return f"local:fn:{name}"


def cohort_key(endpoint: str) -> str:
    """The authorizer context key that carries an endpoint's cohort (``request.auth[...]``)."""
    return "cohort_" + endpoint.replace("-", "_")


def pinned_predict_path(endpoint: str, variant: str) -> str:
    """The path that reaches one variant of an endpoint directly (needs the pin scope): one gateway route,
    ``/v1/endpoints/E/variants/{variant}/predict``, serves both variants (``mlops.blueprint.gateway``)."""
    return f"/v1/endpoints/{endpoint}/variants/{variant}/predict"


def explain_path(endpoint: str) -> str:
    """The route that explains predictions of an endpoint (needs the explain scope)."""
    return f"/v1/endpoints/{endpoint}/explain"
