"""The registry function's whole router: the registry API, the console's JSON routes, ``/v1/openapi.json``
and the console's static shell (``/ui``), with the console's sources chosen from the function's config.

Wired here, above both, so the registry package never imports the console (the layer rule).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.console.openapi import OPENAPI_PATH, openapi_document
from mlops.console.routes import add_console_routes
from mlops.console.sources import ConsoleSources
from mlops.fnconfig.registry import RegistryConfig
from mlops.http import Request, Response, Router
from mlops.registry.api import build_router
from mlops.registry.service import Registry


def add_ui_routes(router: Router) -> bool:
    """HOOK for the console's static shell: ``mlops.console.static`` (the browser side's module) adds
    ``GET /ui``, ``/ui/{name}`` and ``/ui/vendor/{name}``. False while that module is not in the tree."""
    try:
        from mlops.console import static  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return False
    static.add_console_routes(router)
    return True


def stack_settings(cfg: RegistryConfig) -> Any:
    """The stack's settings: read from the project locally; in the cloud rebuilt from the function config
    (endpoints, pin scope, auth header: all the gateway's routes and scopes depend on)."""
    from mlops.settings import load_stack, settings_from_config

    if cfg.project_dir:
        return load_stack(cfg.stack, cfg.project_dir)
    config = {
        "mlops:environment": "local",  # only the route table is derived from it; no cloud ids needed
        "mlops:endpoints": [{"name": e, "model": e} for e in cfg.endpoints],
        "mlops:auth": {"pin_scope": cfg.pin_scope},
        "mlops:gateway": {"auth_header": cfg.auth_header},
    }
    return settings_from_config(config, stack=cfg.stack)


def gateway_spec(settings: Any) -> dict[str, Any]:
    """The deployment spec of the stack (local function ids stand in for OCIDs: the document omits them)."""
    from mlops.blueprint.functions import function_specs
    from mlops.blueprint.gateway import deployment_spec, local_function_ids

    return deployment_spec(settings, local_function_ids([f.name for f in function_specs(settings)]))


def build_app(
    registry: Registry,
    sources: ConsoleSources,
    spec: Callable[[], dict[str, Any]],
    *,
    auth_header: str = "Authorization",
) -> Router:
    """Every route the registry function answers. ``spec()`` gives the gateway's deployment spec (called
    once, on the first ``/v1/openapi.json``)."""
    router = build_router(registry)
    add_console_routes(router, sources)
    add_ui_routes(router)
    cache: dict[str, Any] = {}

    def openapi(request: Request) -> Response:
        if "doc" not in cache:
            cache["doc"] = openapi_document(spec(), router.routes(), auth_header=auth_header)
        return Response(cache["doc"], headers={"cache-control": "no-cache"})

    router.add("GET", OPENAPI_PATH, openapi)
    return router


def sources_from_config(cfg: RegistryConfig, registry: Registry, settings: Any | None) -> ConsoleSources:
    """Local: the SQLite metrics, the stack's alarm rules, the evaluator's state and the notification file.
    Cloud: OCI Monitoring (SummarizeMetricsData, resource principal); no rule list (they are OCI alarms)."""
    from mlops.blueprint.functions import application_name
    from mlops.monitoring.reader import OciMetricsReader, SqliteMetricsReader, telemetry_client

    reader: Any = None
    if cfg.metrics_db:
        from mlops.monitoring.sqlite import SqliteMetrics

        reader = SqliteMetricsReader(SqliteMetrics(cfg.metrics_db))
    elif cfg.region and cfg.compartment_id:
        region = cfg.region
        reader = OciMetricsReader(lambda: telemetry_client(region), cfg.compartment_id)  # built on first use
    rules: list[Any] = []
    state_path = None
    if settings is not None and cfg.project_dir:
        from mlops.monitoring.defaults import rules_for_settings

        rules = list(rules_for_settings(settings))
        state_path = Path(settings.state_dir) / "alarm-state.json"
    return ConsoleSources(
        registry=registry,
        metrics=reader,
        namespace=cfg.metrics_namespace,
        application=application_name(settings) if settings is not None else f"mlops-{cfg.stack}-app",
        alarm_rules=rules,
        alarm_state_path=state_path,
        notify_file=Path(cfg.notify_file) if cfg.notify_file else None,
        endpoints=tuple(cfg.endpoints),
    )
