"""Governance rules: required metadata at registration, the approval workflow, governed aliases.

Pure functions over records, so the rules are testable without a store:

- ``required_metadata`` of a model lists what every new version must carry: any of
  ``description``, ``code_commit``, ``training_data``, ``params``, ``metrics``, ``signature``,
  ``reference_profile``, or one named entry ``params.<name>``, ``metrics.<name>``, ``tags.<name>``.
- An approval record moves ``none -> pending`` (request), ``pending -> approved | rejected``
  (decision), and ``rejected -> pending`` (a new request). Nobody approves a version they
  registered. Every step is kept in ``history`` with who, when and why.
- A governed alias (``production`` by default) may only point at an approved version.
- Every version that serves traffic from an endpoint - stable, canary or shadow - must be approved
  (``check_deployable``). The only way around it is the model's policy ``allow_unapproved_deploys``,
  which an approver sets explicitly and which is audited like every model change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlops.errors import BadRequestError, ConflictError, ForbiddenError, UnprocessableError

DEFAULT_GOVERNED_ALIASES = ("production",)
DEPLOY_POLICY = "allow_unapproved_deploys"  # model field; absent or false: deployments need approval
WHOLE_FIELDS = (
    "description",
    "code_commit",
    "training_data",
    "params",
    "metrics",
    "signature",
    "reference_profile",
    "datasets",
)
NAMED_FIELDS = ("params", "metrics", "tags", "datasets")
DECISIONS = ("approve", "reject")
STATES = ("none", "pending", "approved", "rejected")


def validate_required_metadata(spec: Any) -> list[str]:
    """Check a ``required_metadata`` list; returns it de-duplicated in order."""
    if spec is None:
        return []
    if not isinstance(spec, (list, tuple)):
        raise BadRequestError(
            "required_metadata must be a list of field names", code="invalid_required_metadata"
        )
    out: list[str] = []
    for item in spec:
        if not isinstance(item, str):
            raise BadRequestError(
                "required_metadata entries must be strings", code="invalid_required_metadata"
            )
        head, _, name = item.partition(".")
        ok = (item in WHOLE_FIELDS) or (head in NAMED_FIELDS and name and len(name) <= 128)
        if not ok:
            raise BadRequestError(
                f"required_metadata entry {item[:80]!r} is not one of {', '.join(WHOLE_FIELDS)} "
                f"or params.<name> / metrics.<name> / tags.<name> / datasets.<role>",
                code="invalid_required_metadata",
            )
        if item not in out:
            out.append(item)
    return out


def validate_governed_aliases(value: Any) -> list[str]:
    """Check a ``governed_aliases`` list (alias names); returns it de-duplicated in order."""
    from mlops.names import validate_name

    if not isinstance(value, (list, tuple)):
        raise BadRequestError(
            "governed_aliases must be a list of alias names", code="invalid_governed_aliases"
        )
    if len(value) > 100:
        raise BadRequestError("governed_aliases has more than 100 entries", code="invalid_governed_aliases")
    out: list[str] = []
    for i, alias in enumerate(value):
        if not isinstance(alias, str):
            raise BadRequestError(
                f"governed_aliases[{i}] must be an alias name (a string), got {type(alias).__name__}",
                code="invalid_governed_aliases",
            )
        if validate_name(alias, "alias") not in out:
            out.append(alias)
    return out


def _present(value: Any) -> bool:
    return value not in (None, "", {}, [])


def missing_metadata(required: Iterable[str], version: Mapping[str, Any]) -> list[str]:
    """Which required fields a version record lacks."""
    missing = []
    for item in required:
        head, _, name = item.partition(".")
        if name:
            if not _present((version.get(head) or {}).get(name)):
                missing.append(item)
        elif not _present(version.get(item)):
            missing.append(item)
    return missing


def check_required_metadata(model: Mapping[str, Any], version: Mapping[str, Any]) -> None:
    missing = missing_metadata(model.get("required_metadata") or [], version)
    if missing:
        raise UnprocessableError(
            f"model {model.get('name')!r} requires {', '.join(missing)} for every new version; "
            f"add {'it' if len(missing) == 1 else 'them'} to the registration",
            code="missing_required_metadata",
            details={"missing": missing},
        )


def new_approval(model: str, version: int) -> dict[str, Any]:
    return {"model": model, "version": version, "state": "none", "history": [], "generation": 0}


def apply_request(doc: dict[str, Any], *, actor: str, at: str, comment: str) -> dict[str, Any]:
    state = doc.get("state", "none")
    if state == "pending":
        raise ConflictError(
            f"{doc['model']} v{doc['version']} already has a pending approval request",
            code="approval_pending",
        )
    if state == "approved":
        raise ConflictError(f"{doc['model']} v{doc['version']} is already approved", code="already_approved")
    doc["state"] = "pending"
    doc["history"].append({"event": "request", "by": actor, "at": at, "comment": comment})
    doc["generation"] = int(doc.get("generation", 0)) + 1
    return doc


def apply_decision(
    doc: dict[str, Any],
    version_record: Mapping[str, Any],
    *,
    decision: str,
    actor: str,
    at: str,
    comment: str,
) -> dict[str, Any]:
    if decision not in DECISIONS:
        raise BadRequestError(
            f"decision must be approve or reject, got {str(decision)[:20]!r}", code="invalid_decision"
        )
    state = doc.get("state", "none")
    if state != "pending":
        hint = "request approval first" if state in ("none", "rejected") else "it is already approved"
        raise ConflictError(
            f"{doc['model']} v{doc['version']} has no pending approval request ({hint})",
            code="no_pending_request",
        )
    if decision == "approve" and actor == version_record.get("created_by"):
        raise ForbiddenError(
            f"{actor} registered {doc['model']} v{doc['version']} and cannot approve it; another person must",
            code="self_approval",
        )
    doc["state"] = "approved" if decision == "approve" else "rejected"
    doc["history"].append({"event": decision, "by": actor, "at": at, "comment": comment})
    doc["generation"] = int(doc.get("generation", 0)) + 1
    return doc


def check_governed_alias(model: Mapping[str, Any], alias: str, version: int, approval_state: str) -> None:
    """A governed alias moves only to an approved version (``ForbiddenError`` otherwise)."""
    if alias in (model.get("governed_aliases") or []) and approval_state != "approved":
        raise ForbiddenError(
            f"alias {alias!r} of model {model.get('name')!r} is governed: v{version} is not approved "
            f"(approval state: {approval_state}); request approval and have another person approve it",
            code="approval_required",
            details={"alias": alias, "version": version, "state": approval_state},
        )


def validate_deploy_policy(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequestError(
            f"{DEPLOY_POLICY} must be true or false, got {str(value)[:40]!r}", code="invalid_policy"
        )
    return value


def check_deployable(
    model: Mapping[str, Any], version: int, approval_state: str, *, role: str, endpoint: str
) -> None:
    """A version serves traffic (as ``role``: stable, canary or shadow) only when approved, unless the
    model's audited policy allows unapproved deploys (``ForbiddenError`` ``approval_required`` otherwise).

    A canary or a shadow runs the version's code in the production function on real requests, so an
    unapproved one would let anyone with the register and deploy scopes run code of their choosing there.
    """
    if approval_state == "approved" or model.get(DEPLOY_POLICY) is True:
        return
    raise ForbiddenError(
        f"{model.get('name')} v{version} is not approved (approval state: {approval_state}) and cannot serve "
        f"as the {role} of endpoint {endpoint!r}: every version that serves traffic (stable, canary or shadow) "
        "must be approved; request approval and have another person approve it",
        code="approval_required",
        details={
            "model": model.get("name"),
            "version": version,
            "state": approval_state,
            "role": role,
            "endpoint": endpoint,
        },
    )
