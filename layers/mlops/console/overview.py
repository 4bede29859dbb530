"""The console's first page: every endpoint with its versions and split, the last hour's metrics per
variant, alarms firing now, the latest drift verdict and whether an A/B experiment runs."""

from __future__ import annotations

from typing import Any

from mlops.console import alarmsview, driftview, metricsview
from mlops.console.endpoints import ab_running
from mlops.console.sources import ConsoleSources
from mlops.registry.deployments import STATE_FIELDS
from mlops.times import iso

DEPLOYMENT_FIELDS = (
    *STATE_FIELDS,
    "updated_at",
    "updated_by",
    "last_action",
)


def overview(src: ConsoleSources) -> dict[str, Any]:
    now = float(src.clock())
    deps = sorted(src.registry.deployments().list_all(), key=lambda d: d["endpoint"])
    deployed = {d["endpoint"] for d in deps}
    metrics = metricsview.last_hour(src, deps, now)
    firing = alarmsview.firing(src)
    rows: list[dict[str, Any]] = []
    for d in deps:
        ep = d["endpoint"]
        rows.append(
            {
                "endpoint": ep,
                "deployed": True,
                **{k: d.get(k) for k in DEPLOYMENT_FIELDS},
                "variants": metrics.get(ep, {}),
                "alarms_firing": [f for f in firing if f.get("endpoint") == ep],
                "drift": driftview.latest_verdict(src, ep, d),
                "ab": ab_running(d),
            }
        )
    for ep in sorted(set(src.endpoints) - deployed):  # configured but nothing deployed yet
        rows.append(
            {
                "endpoint": ep,
                "deployed": False,
                "variants": {},
                "alarms_firing": [],
                "drift": None,
                "ab": {"running": False},
            }
        )
    return {
        "generated_at": iso(now),
        "window_s": 3600,
        "endpoints": rows,
        "alarms_firing": firing,
    }
