"""Where the registry keeps things in the object store (every key the registry writes is built here).

::

    models/<model>/model.json                    model record: settings, governance, aliases (CAS)
    models/<model>/versions/<n:010d>.json        version record, immutable (create-exclusive)
    models/<model>/approvals/<n:010d>.json       approval requests and decisions of a version (CAS)
    artifacts/sha256/<hex>                       model artifacts and reference profiles, by content
    audit/<seq:012d>.json                        hash-chained audit entries (create-exclusive; signed with
                                                 the anchor key; a cloud stack keeps them in its WORM audit bucket)
    audit-tip.json                               the newest audit entry's seq and hash, signed (CAS)
    deployments/<endpoint>.json                  endpoint deployment state (CAS; the key is serving's,
                                                 ``mlops.serving.deployment_state``)

Version numbers are zero-padded so that a listing is in version order.
"""

from __future__ import annotations

import re

from mlops.names import validate_name
from mlops.serving.deployment_state import DEPLOYMENTS_PREFIX, deployment_key  # noqa: F401 - serving's record

MODELS_PREFIX = "models/"
AUDIT_PREFIX = "audit/"
AUDIT_TIP = "audit-tip.json"
ARTIFACTS_PREFIX = "artifacts/sha256/"

_VERSION_FILE = re.compile(r"^(\d{10})\.json\Z")
_AUDIT_FILE = re.compile(r"^audit/(\d{12})\.json\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def model_key(model: str) -> str:
    return f"{MODELS_PREFIX}{validate_name(model, 'model')}/model.json"


def versions_prefix(model: str) -> str:
    return f"{MODELS_PREFIX}{validate_name(model, 'model')}/versions/"


def version_key(model: str, version: int) -> str:
    return f"{versions_prefix(model)}{int(version):010d}.json"


def version_of_key(model: str, key: str) -> int | None:
    """The version number a key under ``versions_prefix(model)`` names, or None."""
    m = _VERSION_FILE.match(key[len(versions_prefix(model)) :])
    return int(m.group(1)) if m else None


def approval_key(model: str, version: int) -> str:
    return f"{MODELS_PREFIX}{validate_name(model, 'model')}/approvals/{int(version):010d}.json"


def artifact_key(sha256: str) -> str:
    from mlops.errors import BadRequestError

    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise BadRequestError(
            f"artifact sha256 {str(sha256)[:80]!r} is not 64 lower-case hex digits", code="invalid_sha256"
        )
    return ARTIFACTS_PREFIX + sha256


def audit_key(seq: int) -> str:
    return f"{AUDIT_PREFIX}{int(seq):012d}.json"


def seq_of_audit_key(key: str) -> int | None:
    m = _AUDIT_FILE.match(key)
    return int(m.group(1)) if m else None


def model_subject(model: str) -> str:
    return f"model:{model}"


def endpoint_subject(endpoint: str) -> str:
    return f"endpoint:{endpoint}"
