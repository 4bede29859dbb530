"""The console's JSON routes (``GET /v1/console/...``, docs/console-api.md) on a ``mlops.http.Router``.

Every route needs a caller (401 ``no_principal``; behind the gateway the authorizer already refused a
missing or bad key) whose scopes include ``mlops:read`` (403 ``missing_scope``). ``ROUTES`` lists the
patterns with their query parameters; the OpenAPI document is generated from it
(``mlops.console.openapi``), so the document and the router cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mlops.console import (
    alarmsview,
    auditview,
    datasetsview,
    driftview,
    endpoints,
    featuresview,
    metricsview,
    models,
    overview,
    params,
)
from mlops.console.sources import ConsoleSources
from mlops.errors import BadRequestError, ForbiddenError, UnauthorizedError
from mlops.http import Request, Router
from mlops.names import READ_SCOPE, validate_endpoint_name, validate_name, validate_version

_STAMP = re.compile(r"^\d{8}T\d{12}Z\Z")

# pattern -> (summary, [(query parameter, required, description)])
ROUTES: dict[str, tuple[str, list[tuple[str, bool, str]]]] = {
    "/v1/console/overview": ("every endpoint: versions, split, last-hour metrics, alarms, drift, A/B", []),
    "/v1/console/endpoints/{endpoint}": ("deployment, timeline from the audit log, A/B analysis", []),
    "/v1/console/endpoints/{endpoint}/metrics": (
        "per-variant metric series",
        [("window", False, "1h | 1d | 30d (default 1h)")],
    ),
    "/v1/console/models": ("every model with its version count and aliases", []),
    "/v1/console/models/{model}": ("the model's versions with lineage and approvals", []),
    "/v1/console/models/{model}/versions/{version}": (
        "one version: lineage, approval, card facts, importances",
        [],
    ),
    "/v1/console/models/{model}/compare": (
        "two versions side by side",
        [("a", True, "version number"), ("b", True, "version number")],
    ),
    "/v1/console/datasets": ("every dataset: newest version, versions, rows, time range, digest", []),
    "/v1/console/datasets/{dataset}": (
        "the dataset's versions, newest first: schema, keys, lineage, the model versions referencing each",
        [("limit", False, "versions, 1..500 (default 50)")],
    ),
    "/v1/console/datasets/{dataset}/diff": (
        "what changed between two versions (from their manifests)",
        [("a", True, "version number"), ("b", True, "version number")],
    ),
    "/v1/console/features": (
        "every feature group: latest version, owner, keys, TTL, features, ingested and quarantined rows",
        [],
    ),
    "/v1/console/features/{group}": (
        "the group's versions, newest first: definition, offline totals, ingestion batches with quarantine counts",
        [("limit", False, "batches per version, newest first, 1..1000 (default 100)")],
    ),
    "/v1/console/drift": (
        "drift per endpoint and model version: latest verdict, k-of-n history, reports",
        [
            ("endpoint", False, "only this endpoint"),
            ("limit", False, "reports per series, 1..200 (default 20)"),
        ],
    ),
    "/v1/console/drift/report": (
        "one drift report, drifted features first, with chart data",
        [
            ("endpoint", True, "endpoint"),
            ("model", True, "model"),
            ("version", True, "version number"),
            ("stamp", False, "report stamp (default: the newest)"),
        ],
    ),
    "/v1/console/alarms": (
        "alarm rules with MQL, states, state history, guardian actions, notifications",
        [("limit", False, "notifications and actions, 1..1000 (default 200)")],
    ),
    "/v1/console/audit": (
        "audit entries, newest first",
        [
            ("model", False, "model"),
            ("endpoint", False, "endpoint"),
            ("actor", False, "who acted"),
            ("action", False, "exact, or a prefix ending in '.'"),
            ("since", False, "ISO-8601 time or epoch seconds"),
            ("until", False, "ISO-8601 time or epoch seconds"),
            ("limit", False, "1..500 (default 100)"),
            ("before_seq", False, "paging cursor (next_before_seq of the previous page)"),
        ],
    ),
    "/v1/console/audit/verify": (
        "the audit chain's verification (at most a minute old unless fresh=1)",
        [("fresh", False, "1: verify now rather than answer the last verification of the last minute")],
    ),
    "/v1/console/audit/served": (
        "what served an endpoint at a time",
        [("endpoint", True, "endpoint"), ("at", True, "ISO-8601 time or epoch seconds")],
    ),
}


def require_reader(request: Request) -> None:
    if not request.principal:
        raise UnauthorizedError("the console needs an authenticated caller", code="no_principal")
    if READ_SCOPE not in request.scopes:
        raise ForbiddenError(
            f"the console needs the scope {READ_SCOPE!r}", code="missing_scope", details={"scope": READ_SCOPE}
        )


def _path_endpoint(request: Request) -> str:
    return validate_endpoint_name(request.path_params["endpoint"])


def _path_model(request: Request) -> str:
    return validate_name(request.path_params["model"], "model")


def _path_dataset(request: Request) -> str:
    return validate_name(request.path_params["dataset"], "dataset")


def _path_group(request: Request) -> str:
    return validate_name(request.path_params["group"], "feature group")


def _drift_report(src: ConsoleSources, r: Request) -> Any:
    stamp = r.query.get("stamp") or None
    if stamp is not None and not _STAMP.match(stamp):
        raise BadRequestError(
            "query parameter stamp must look like 20261202T145900000000Z", code="invalid_query"
        )
    return driftview.report(
        src,
        params.endpoint_param(r, need=True) or "",
        params.model_param(r, need=True) or "",
        params.version_param(r, "version"),
        stamp,
    )


def _drift(src: ConsoleSources, r: Request) -> Any:
    limit = params.integer(r, "limit", 20, 1, 200) or 20
    only = params.endpoint_param(r)
    deployed = {d["endpoint"] for d in src.registry.deployments().list_all()}
    names = [only] if only else sorted(deployed | set(src.endpoints))
    return {"series": [s for ep in names for s in driftview.series_of(src, ep, limit)]}


def _audit(src: ConsoleSources, r: Request) -> Any:
    return auditview.search(
        src,
        model=params.model_param(r),
        endpoint=params.endpoint_param(r),
        actor=r.query.get("actor") or None,
        action=r.query.get("action") or None,
        since=params.time_param(r, "since"),
        until=params.time_param(r, "until"),
        limit=params.integer(r, "limit", 100, 1, 500) or 100,
        before_seq=params.integer(r, "before_seq", None, 1, 10**12),
    )


def _endpoint_metrics(src: ConsoleSources, r: Request) -> Any:
    window = params.choice(r, "window", tuple(metricsview.WINDOWS), "1h")
    dep = src.registry.deployments().get(_path_endpoint(r))
    return metricsview.endpoint_series(src, dep, window, float(src.clock()))


def _handlers(src: ConsoleSources) -> dict[str, Callable[[Request], Any]]:
    return {
        "/v1/console/overview": lambda r: overview.overview(src),
        "/v1/console/endpoints/{endpoint}": lambda r: endpoints.endpoint_detail(src, _path_endpoint(r)),
        "/v1/console/endpoints/{endpoint}/metrics": lambda r: _endpoint_metrics(src, r),
        "/v1/console/models": lambda r: models.list_models(src),
        "/v1/console/models/{model}": lambda r: models.model_detail(src, _path_model(r)),
        "/v1/console/models/{model}/versions/{version}": lambda r: models.version_detail(
            src, _path_model(r), validate_version(r.path_params["version"])
        ),
        "/v1/console/models/{model}/compare": lambda r: models.compare(
            src, _path_model(r), params.version_param(r, "a"), params.version_param(r, "b")
        ),
        "/v1/console/datasets": lambda r: datasetsview.list_datasets(src),
        "/v1/console/datasets/{dataset}": lambda r: datasetsview.dataset_detail(
            src, _path_dataset(r), params.integer(r, "limit", 50, 1, 500) or 50
        ),
        "/v1/console/datasets/{dataset}/diff": lambda r: datasetsview.diff(
            src, _path_dataset(r), params.version_param(r, "a"), params.version_param(r, "b")
        ),
        "/v1/console/features": lambda r: featuresview.list_features(src),
        "/v1/console/features/{group}": lambda r: featuresview.group_detail(
            src, _path_group(r), params.integer(r, "limit", 100, 1, 1000) or 100
        ),
        "/v1/console/drift": lambda r: _drift(src, r),
        "/v1/console/drift/report": lambda r: _drift_report(src, r),
        "/v1/console/alarms": lambda r: alarmsview.alarms(
            src, params.integer(r, "limit", 200, 1, 1000) or 200
        ),
        "/v1/console/audit": lambda r: _audit(src, r),
        "/v1/console/audit/verify": lambda r: auditview.verify(
            src, fresh=params.choice(r, "fresh", ("0", "1"), "0") == "1"
        ),
        "/v1/console/audit/served": lambda r: auditview.served_at(
            src,
            params.endpoint_param(r, need=True) or "",
            params.time_param(r, "at") or params.required(r, "at"),
        ),
    }


def add_console_routes(router: Router, src: ConsoleSources) -> None:
    """Register every console route (read scope checked before any work)."""
    handlers = _handlers(src)
    assert set(handlers) == set(ROUTES), set(handlers) ^ set(ROUTES)
    for pattern in ROUTES:
        fn = handlers[pattern]

        def handler(request: Request, fn: Callable[[Request], Any] = fn) -> Any:
            require_reader(request)
            return fn(request)

        router.add("GET", pattern, handler)
