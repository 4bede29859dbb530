"""An endpoint's page: its deployment now, the timeline of changes from the audit log (who, why, what
served when), and the A/B analysis of a running canary or shadow with its always-valid interval over time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.registry.keys import endpoint_subject

TIMELINE_LIMIT = 200
INTERVAL_POINTS = 12
MAX_AB_RECORDS = 200_000  # the A/B view reads at most this many records of the current window


def timeline(src: ConsoleSources, endpoint: str) -> list[dict[str, Any]]:
    """The endpoint's ``deployment.*`` audit entries, newest first, flattened for a table."""
    entries = src.registry.audit.history(
        subject=endpoint_subject(endpoint), action="deployment.", limit=TIMELINE_LIMIT
    )
    out = []
    for e in entries:
        d = e.get("details") or {}
        out.append(
            {
                "seq": e.get("seq"),
                "ts": e.get("ts"),
                "action": e.get("action"),
                "actor": e.get("actor"),
                "reason": d.get("reason"),
                "state": d.get("state"),
                "previous": d.get("previous"),
            }
        )
    return out


def served(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which versions served when, oldest first: one interval per recorded change (``to`` None: now)."""
    out: list[dict[str, Any]] = []
    for e in reversed(entries):
        st = e.get("state") or {}
        if out:
            out[-1]["to"] = e["ts"]
        out.append(
            {
                "from": e["ts"],
                "to": None,
                "stable_version": st.get("stable_version"),
                "canary_version": st.get("canary_version"),
                "canary_weight_bp": st.get("canary_weight_bp") or 0,
                "shadow_version": st.get("shadow_version"),
                "shadow_rate": st.get("shadow_rate") or 0.0,
            }
        )
    return out


def ab_running(dep: Mapping[str, Any]) -> dict[str, Any]:
    """The overview's A/B cell: is an experiment running, which challenger, since when."""
    if dep.get("canary_version"):
        return {
            "running": True,
            "challenger": "canary",
            "canary_version": dep.get("canary_version"),
            "weight_bp": dep.get("canary_weight_bp") or 0,
            "since": dep.get("updated_at"),
        }
    if dep.get("shadow_version") and (dep.get("shadow_rate") or 0) > 0:
        return {
            "running": True,
            "challenger": "shadow",
            "shadow_version": dep.get("shadow_version"),
            "shadow_rate": dep.get("shadow_rate"),
            "since": dep.get("updated_at"),
        }
    return {"running": False}


def _cut(joined: Any, until: float) -> Any:
    """The join as it stood at ``until``: predictions made by then, labelled only by feedback given by then."""
    import dataclasses

    from mlops.ab.join import Joined, Prediction

    unlabelled = next(f.default for f in dataclasses.fields(Prediction) if f.name == "actual")
    by_variant = {
        variant: {
            pid: p
            if p.feedback_ts is None or p.feedback_ts <= until
            else dataclasses.replace(p, actual=unlabelled, feedback_ts=None)
            for pid, p in preds.items()
            if p.ts is None or p.ts <= until
        }
        for variant, preds in joined.by_variant.items()
    }
    return Joined(by_variant, joined.stats, joined.endpoint, joined.since, until)


def _interval_point(report: dict[str, Any], cut: float) -> dict[str, Any]:
    cmp = report.get("comparison") or {}
    return {
        "until_ts": cut,
        "n_challenger": cmp.get("n_challenger"),
        "n_control": cmp.get("n_control"),
        "effect": cmp.get("estimate"),
        "ci_low": cmp.get("ci_low"),
        "ci_high": cmp.get("ci_high"),
        "decision": report.get("decision"),
    }


def ab_analysis(src: ConsoleSources, dep: Mapping[str, Any]) -> dict[str, Any] | None:
    """``mlops.ab.analyze`` of the window since the deployment last changed, and the same analysis cut at
    ``INTERVAL_POINTS`` times across the window (the always-valid interval as it evolved). The records are
    read and joined once; each cut filters the join."""
    from mlops.ab import analyze, iter_log_objects
    from mlops.ab.join import iter_records, join, parse_ts

    running = ab_running(dep)
    if not running["running"]:
        return None
    challenger = running["challenger"]
    since = dep.get("updated_at")
    records: list[dict[str, Any]] = []
    for rec in iter_records(iter_log_objects(src.store, dep["endpoint"], since=since)):
        records.append(rec)
        if len(records) >= MAX_AB_RECORDS:
            break
    kwargs: dict[str, Any] = {
        "weight_bp": int(dep.get("canary_weight_bp") or 0) if challenger == "canary" else None,
        "endpoint": dep["endpoint"],
        "challenger": challenger,
    }
    if challenger == "shadow":
        kwargs["shadow_bp"] = int(round(float(dep.get("shadow_rate") or 0.0) * 10_000))
    joined = join(records, endpoint=dep["endpoint"], since=since)
    report = analyze(joined, **kwargs)
    t0 = parse_ts(since) or 0.0
    times = [p.ts for preds in joined.by_variant.values() for p in preds.values() if p.ts is not None]
    t1 = max(times, default=t0)
    over_time = []
    if times and t1 > t0:
        for i in range(1, INTERVAL_POINTS + 1):
            cut = t0 + (t1 - t0) * i / INTERVAL_POINTS
            over_time.append(_interval_point(analyze(_cut(joined, cut), **kwargs).to_dict(), cut))
    return {
        "report": report.to_dict(),
        "interval_over_time": over_time,
        "records": len(records),
        "cohort_share": _cohort_share(joined, challenger, kwargs),
    }


def _cohort_share(joined: Any, challenger: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The challenger's configured and observed share of the window's predictions."""
    n_ch = len(joined.by_variant.get(challenger) or {})
    n_st = len(joined.by_variant.get("stable") or {})
    configured_bp = kwargs.get("weight_bp") if challenger == "canary" else kwargs.get("shadow_bp")
    observed = n_ch / (n_ch + n_st) if challenger == "canary" and n_ch + n_st else None
    if challenger == "shadow" and n_st:
        observed = n_ch / n_st  # a shadow scores a share of the stable requests
    return {
        "challenger": challenger,
        "configured": None if configured_bp is None else configured_bp / 10_000,
        "observed": observed,
        "challenger_predictions": n_ch,
        "stable_predictions": n_st,
    }


def endpoint_detail(src: ConsoleSources, endpoint: str) -> dict[str, Any]:
    dep = src.registry.deployments().get(endpoint)
    entries = timeline(src, endpoint)
    return {
        "endpoint": endpoint,
        "deployment": dep,
        "timeline": entries,
        "served": served(entries),
        "ab": ab_analysis(src, dep),
    }
