"""The registry's HTTP API (served by ``functions/registry`` behind the gateway), as a ``mlops.http.Router``.

Routes (JSON in and out; errors are ``{"error": {"code", "message", "request_id"}}``)::

    GET    /v1/models                                         list models
    POST   /v1/models                                         create a model                       write
    GET    /v1/models/{model}                                 model record (settings, aliases)
    PUT    /v1/models/{model}                                 change description/tags/governance   write (+approve)
    GET    /v1/models/{model}/versions                        list versions
    POST   /v1/models/{model}/versions                        register (artifact uploaded by sha256) write
    GET    /v1/models/{model}/versions/{ref}                  a version (number, alias or "latest")
    GET    /v1/models/{model}/versions/{ref}/profile          its drift reference profile
    GET    /v1/models/{model}/versions/{ref}/approval         its approval record
    POST   /v1/models/{model}/versions/{ref}/approval         {"action": "request"}               write
                                                              {"action": "approve"|"reject"}      approve
    GET    /v1/models/{model}/aliases                         all aliases
    GET    /v1/models/{model}/aliases/{alias}[?at=T]          where it points (now, or at time T)
    PUT    /v1/models/{model}/aliases/{alias}                 {"version", "expected_version"?}    write
    DELETE /v1/models/{model}/aliases/{alias}                                                     write
    GET    /v1/audit/entries?model=|endpoint=|subject=&action=&since=&until=&limit=&before_seq=
    GET    /v1/audit/verify
    GET    /v1/audit/alias-at?model=&alias=&at=
    GET    /v1/audit/deployment-at?endpoint=&at=
    GET    /v1/endpoints/{endpoint}/deployment[?at=T]
    POST   /v1/endpoints/{endpoint}/deployment                {"action": "set_stable" | "start_canary" |
                                                               "set_weight" | "set_shadow" | "promote" |
                                                               "rollback", ...}                  deploy

The caller is ``request.principal`` (set by the gateway from the authorizer's answer). Changes
need a principal (401 otherwise) and the scope named on the right in ``request.scopes`` (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from mlops.errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError
from mlops.http import Request, Response, Router
from mlops.names import (  # the scopes the routes allow
    APPROVE_SCOPE,
    DEPLOY_SCOPE,
    WRITE_SCOPE,
    validate_endpoint_name,
    validate_name,
)
from mlops.registry import governance
from mlops.registry.keys import endpoint_subject, model_subject
from mlops.registry.service import Registry

__all__ = ["APPROVE_SCOPE", "DEPLOY_SCOPE", "WRITE_SCOPE", "build_router"]

_REGISTER_FIELDS = {
    "artifact_sha256",
    "signature",
    "reference_profile",
    "reference_profile_sha256",
    "params",
    "metrics",
    "training_data_digest",
    "code_commit",
    "description",
    "tags",
    "flavor",
    "source",
    "datasets",
}
_MODEL_FIELDS = {
    "name",
    "description",
    "tags",
    "required_metadata",
    "governed_aliases",
    governance.DEPLOY_POLICY,
}
_DEPLOY_ACTIONS = {
    "set_stable": ({"model", "version"}, {"reason", "expected_generation", "alias"}),
    "start_canary": ({"version", "weight_bp"}, {"reason", "expected_generation"}),
    "set_weight": ({"weight_bp"}, {"reason", "expected_generation"}),
    "set_shadow": (set(), {"version", "rate", "reason", "expected_generation"}),
    "promote": (set(), {"reason", "expected_generation", "alias"}),
    "rollback": ({"reason"}, {"expected_generation"}),
}


def _body(
    request: Request, allowed: AbstractSet[str], required: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    doc = request.json()
    if not isinstance(doc, Mapping):
        raise BadRequestError("the body must be a JSON object", code="invalid_body")
    unknown = sorted(set(doc) - allowed - required)
    if unknown:
        raise BadRequestError(
            f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed | required))})",
            code="unknown_field",
        )
    missing = sorted(k for k in required if doc.get(k) is None)
    if missing:
        raise BadRequestError(f"field {missing[0]!r} is required", code="missing_field")
    return dict(doc)


def _int_param(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequestError(f"query parameter {name} must be an integer", code="invalid_query") from None
    if not lo <= v <= hi:
        raise BadRequestError(f"query parameter {name} must be {lo}..{hi}", code="invalid_query")
    return v


class _Access:
    """Who a request acts as: ``actor`` for a change (401 without a principal, 403 without ``scope``),
    ``reader`` for a read (attributed to the principal when there is one)."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def actor(self, request: Request, scope: str) -> Registry:
        principal = request.principal
        if not principal:
            raise UnauthorizedError("this change needs an authenticated caller", code="no_principal")
        if scope not in request.scopes:
            raise ForbiddenError(
                f"this change needs the scope {scope!r}", code="missing_scope", details={"scope": scope}
            )
        return self.registry.with_actor(principal)

    def reader(self, request: Request) -> Registry:
        return self.registry.with_actor(request.principal) if request.principal else self.registry


def _model_of(request: Request) -> str:
    return validate_name(request.path_params["model"], "model")


def _model_routes(router: Router, access: _Access) -> None:
    """Models: list, create, read and change settings (governance changes need the approve scope)."""
    registry, actor = access.registry, access.actor

    @router.route("GET", "/v1/models")
    def list_models(request: Request) -> dict[str, Any]:
        return {"models": registry.list_models()}

    @router.route("POST", "/v1/models")
    def create_model(request: Request) -> Response:
        body = _body(request, _MODEL_FIELDS, {"name"})
        governed = body.get("governed_aliases")
        if governed is not None:
            governed = governance.validate_governed_aliases(governed)
        reg = actor(request, WRITE_SCOPE)
        if governed is not None and not set(governance.DEFAULT_GOVERNED_ALIASES) <= set(governed):
            actor(request, APPROVE_SCOPE)  # weakening governance is an approver's call
        if body.get(governance.DEPLOY_POLICY) not in (None, False):
            actor(request, APPROVE_SCOPE)  # so is letting unapproved versions serve traffic
        doc = reg.create_model(
            body["name"],
            description=body.get("description") or "",
            tags=body.get("tags"),
            required_metadata=body.get("required_metadata"),
            governed_aliases=governed,
            allow_unapproved_deploys=False
            if body.get(governance.DEPLOY_POLICY) is None
            else body[governance.DEPLOY_POLICY],
        )
        return Response(doc, status=201)

    @router.route("GET", "/v1/models/{model}")
    def get_model(request: Request) -> dict[str, Any]:
        return registry.get_model(_model_of(request))

    @router.route("PUT", "/v1/models/{model}")
    def update_model(request: Request) -> dict[str, Any]:
        body = _body(request, _MODEL_FIELDS - {"name"})
        reg = actor(request, WRITE_SCOPE)
        if "required_metadata" in body or "governed_aliases" in body or governance.DEPLOY_POLICY in body:
            reg = actor(request, APPROVE_SCOPE)
        return reg.update_model(
            _model_of(request),
            description=body.get("description"),
            tags=body.get("tags"),
            required_metadata=body.get("required_metadata"),
            governed_aliases=body.get("governed_aliases"),
            allow_unapproved_deploys=body.get(governance.DEPLOY_POLICY),
        )


def _version_routes(router: Router, access: _Access) -> None:
    """Versions: list, register by uploaded sha256, read, reference profile, approval requests/decisions."""
    registry, actor = access.registry, access.actor

    @router.route("GET", "/v1/models/{model}/versions")
    def list_versions(request: Request) -> dict[str, Any]:
        return {"model": _model_of(request), "versions": registry.list_versions(_model_of(request))}

    @router.route("POST", "/v1/models/{model}/versions")
    def register(request: Request) -> Response:
        body = _body(request, _REGISTER_FIELDS, {"artifact_sha256", "signature"})
        reg = actor(request, WRITE_SCOPE)
        rec = reg.register_version(_model_of(request), **body)
        return Response(
            rec, status=201, headers={"location": f"/v1/models/{rec['model']}/versions/{rec['version']}"}
        )

    @router.route("GET", "/v1/models/{model}/versions/{ref}")
    def get_version(request: Request) -> dict[str, Any]:
        model = _model_of(request)
        return registry.get_version(model, registry.resolve(model, request.path_params["ref"]))

    @router.route("GET", "/v1/models/{model}/versions/{ref}/profile")
    def get_profile(request: Request) -> dict[str, Any]:
        model = _model_of(request)
        v = registry.resolve(model, request.path_params["ref"])
        profile = access.reader(request).get_reference_profile(model, v)
        if profile is None:
            raise NotFoundError(f"{model} v{v} has no reference profile", code="profile_not_found")
        return profile

    @router.route("GET", "/v1/models/{model}/versions/{ref}/approval")
    def get_approval(request: Request) -> dict[str, Any]:
        model = _model_of(request)
        return registry.get_approval(model, registry.resolve(model, request.path_params["ref"]))

    @router.route("POST", "/v1/models/{model}/versions/{ref}/approval")
    def approval(request: Request) -> Response:
        body = _body(request, {"comment"}, {"action"})
        model = _model_of(request)
        action = body["action"]
        comment = body.get("comment") or ""
        if action == "request":
            reg = actor(request, WRITE_SCOPE)
            v = reg.resolve(model, request.path_params["ref"])
            return Response(reg.request_approval(model, v, comment=comment), status=201)
        if action in governance.DECISIONS:
            reg = actor(request, APPROVE_SCOPE)
            v = reg.resolve(model, request.path_params["ref"])
            return Response(reg.decide_approval(model, v, action, comment=comment), status=201)
        raise BadRequestError("action must be request, approve or reject", code="invalid_action")


def _alias_routes(router: Router, access: _Access) -> None:
    """Aliases: list, read (now or at a time), move and delete."""
    registry, actor = access.registry, access.actor

    @router.route("GET", "/v1/models/{model}/aliases")
    def list_aliases(request: Request) -> dict[str, Any]:
        doc = registry.get_model(_model_of(request))
        return {"model": doc["name"], "aliases": doc.get("aliases") or {}}

    @router.route("GET", "/v1/models/{model}/aliases/{alias}")
    def get_alias(request: Request) -> dict[str, Any]:
        model = _model_of(request)
        alias = validate_name(request.path_params["alias"], "alias")
        if request.query.get("at"):
            registry.get_model(model)
            return registry.audit.alias_at(model, alias, request.query["at"])
        return {"model": model, "alias": alias, "version": registry.alias_version(model, alias)}

    @router.route("PUT", "/v1/models/{model}/aliases/{alias}")
    def set_alias(request: Request) -> dict[str, Any]:
        body = _body(request, {"expected_version", "reason"}, {"version"})
        reg = actor(request, WRITE_SCOPE)
        kwargs: dict[str, Any] = {"reason": body.get("reason")}
        if "expected_version" in body:
            kwargs["expected_version"] = body["expected_version"]
        return reg.set_alias(_model_of(request), request.path_params["alias"], body["version"], **kwargs)

    @router.route("DELETE", "/v1/models/{model}/aliases/{alias}")
    def delete_alias(request: Request) -> dict[str, Any]:
        reg = actor(request, WRITE_SCOPE)
        kwargs: dict[str, Any] = {"reason": request.query.get("reason")}
        if request.query.get("expected_version"):
            kwargs["expected_version"] = request.query["expected_version"]
        return reg.delete_alias(_model_of(request), request.path_params["alias"], **kwargs)


def _audit_routes(router: Router, access: _Access) -> None:
    """The audit log: entries by subject/action/time, verify, and where an alias/deployment was at a time."""
    registry = access.registry

    @router.route("GET", "/v1/audit/entries")
    def audit_entries(request: Request) -> dict[str, Any]:
        q = request.query
        subject = q.get("subject")
        if q.get("model"):
            subject = model_subject(validate_name(q["model"], "model"))
        elif q.get("endpoint"):
            subject = endpoint_subject(validate_endpoint_name(q["endpoint"]))
        limit = _int_param(request, "limit", 100, 1, 1000) or 100
        entries = registry.audit.history(
            subject=subject,
            action=q.get("action") or None,
            since=q.get("since"),
            until=q.get("until"),
            limit=limit,
            before_seq=_int_param(request, "before_seq", None, 1, 10**12),
        )
        return {"entries": entries}

    @router.route("GET", "/v1/audit/verify")
    def audit_verify(request: Request) -> dict[str, Any]:
        return registry.audit.verify()

    @router.route("GET", "/v1/audit/alias-at")
    def audit_alias_at(request: Request) -> dict[str, Any]:
        q = request.query
        for k in ("model", "alias", "at"):
            if not q.get(k):
                raise BadRequestError(f"query parameter {k} is required", code="missing_query")
        return registry.audit.alias_at(
            validate_name(q["model"], "model"), validate_name(q["alias"], "alias"), q["at"]
        )

    @router.route("GET", "/v1/audit/deployment-at")
    def audit_deployment_at(request: Request) -> dict[str, Any]:
        q = request.query
        for k in ("endpoint", "at"):
            if not q.get(k):
                raise BadRequestError(f"query parameter {k} is required", code="missing_query")
        return registry.audit.deployment_at(validate_endpoint_name(q["endpoint"]), q["at"])


def _deployment_routes(router: Router, access: _Access) -> None:
    """An endpoint's deployment: read (now or at a time) and change it (deploy scope)."""
    registry, actor = access.registry, access.actor

    @router.route("GET", "/v1/endpoints/{endpoint}/deployment")
    def get_deployment(request: Request) -> dict[str, Any]:
        endpoint = validate_endpoint_name(request.path_params["endpoint"])
        if request.query.get("at"):
            return registry.audit.deployment_at(endpoint, request.query["at"])
        return registry.deployments().get(endpoint)

    @router.route("POST", "/v1/endpoints/{endpoint}/deployment")
    def change_deployment(request: Request) -> dict[str, Any]:
        endpoint = validate_endpoint_name(request.path_params["endpoint"])
        raw = request.json()
        action = raw.get("action") if isinstance(raw, Mapping) else None
        if not isinstance(action, str) or action not in _DEPLOY_ACTIONS:
            raise BadRequestError(
                f"action must be one of {', '.join(_DEPLOY_ACTIONS)}", code="invalid_action"
            )
        required, optional = _DEPLOY_ACTIONS[action]
        body = _body(request, optional | {"action"}, required)
        deployments = actor(request, DEPLOY_SCOPE).deployments()
        common: dict[str, Any] = {
            "reason": body.get("reason"),
            "expected_generation": body.get("expected_generation"),
        }
        if action == "set_stable":
            return deployments.set_stable(
                endpoint, body["model"], body["version"], alias=body.get("alias") or "production", **common
            )
        if action == "start_canary":
            return deployments.start_canary(endpoint, body["version"], body["weight_bp"], **common)
        if action == "set_weight":
            return deployments.set_weight(endpoint, body["weight_bp"], **common)
        if action == "set_shadow":
            return deployments.set_shadow(endpoint, body.get("version"), body.get("rate", 0.0), **common)
        if action == "promote":
            return deployments.promote(endpoint, alias=body.get("alias") or "production", **common)
        return deployments.rollback(endpoint, **common)


_ROUTES = (_model_routes, _version_routes, _alias_routes, _audit_routes, _deployment_routes)


def build_router(registry: Registry) -> Router:
    """All registry routes over ``registry`` (each request acts as its principal)."""
    router = Router()
    access = _Access(registry)
    for add_routes in _ROUTES:
        add_routes(router, access)
    return router
