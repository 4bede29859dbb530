"""Drift for the console: per endpoint and model version the latest verdict, the k-of-n history and the
reports (newest first), and one report with its features drifted first and their chart data.

Where the drift job writes (``mlops.driftjob``): the window's result as
``reports/drift/<endpoint>/<model>-v<version>/<stamp>.json`` (with ``plots``, ``mlops.drift.plotdata``)
and the persisted decisions as ``drift-state/<endpoint>/<model>-v<version>.json``. Report keys sort by
time (``stamp`` is ``%Y%m%dT%H%M%S%fZ``), so the newest reports are found by listing from a recent
stamp on (``start_after``), never by listing a version's whole history.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.errors import NotFoundError
from mlops.times import iso

# the drift job's key prefixes (``mlops.driftjob``; repeated here so the registry function's cold start does
# not import the drift job and numpy; tests/unit/console checks they agree)
REPORT_PREFIX = "reports/drift/"
STATE_PREFIX = "drift-state/"
HORIZONS_S = (3600.0, 86400.0, 7 * 86400.0, 31 * 86400.0, None)  # widen the listing until enough reports
_STAMP = "%Y%m%dT%H%M%S%fZ"


def stamp_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(_STAMP)


def stamp_time(stamp: str) -> str | None:
    try:
        return iso(datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


def _read_json(src: ConsoleSources, key: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(src.store.get(key).data)
    except (NotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def state_series(src: ConsoleSources, endpoint: str) -> list[tuple[str, int, dict[str, Any]]]:
    """``(model, version, state)`` of every model version the drift job judged on ``endpoint``."""
    prefix = f"{STATE_PREFIX}{endpoint}/"
    out = []
    for key in src.store.list(prefix):
        name = key[len(prefix) :]
        if "/" in name or not name.endswith(".json") or "-v" not in name:
            continue
        model, _, version = name[: -len(".json")].rpartition("-v")
        if not version.isdigit():
            continue
        out.append((model, int(version), _read_json(src, key) or {}))
    return out


def report_stamps(
    src: ConsoleSources, endpoint: str, model: str, version: int, newest: float, limit: int
) -> list[str]:
    """Up to ``limit`` report stamps, newest first, listing only as far back as needed."""
    prefix = f"{REPORT_PREFIX}{endpoint}/{model}-v{version}/"
    stamps: list[str] = []
    for horizon in HORIZONS_S:
        after = prefix + stamp_of(newest - horizon) if horizon is not None else None
        stamps = [
            k[len(prefix) : -len(".json")]
            for k in src.store.list(prefix, start_after=after)
            if k.endswith(".json")
        ]
        if len(stamps) >= limit:
            break
    return sorted(stamps, reverse=True)[:limit]


def _summary(doc: dict[str, Any] | None, stamp: str) -> dict[str, Any]:
    doc = doc or {}
    ds = doc.get("dataset") or {}
    feats = doc.get("features") or {}
    return {
        "stamp": stamp,
        "at": stamp_time(stamp),
        "drifted": bool((doc.get("persistence") or {}).get("drifted")),
        "window_drifted": bool(ds.get("drifted")),
        "share": ds.get("share"),
        "drifted_features": [n for n, f in feats.items() if (f or {}).get("drifted")],
        "rows": (doc.get("window") or {}).get("n_rows"),
    }


def _from_reports(
    src: ConsoleSources, endpoint: str, model: str, version: int, newest: float, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Window summaries read from the reports themselves (drift states written before the job kept them)."""
    stamps = report_stamps(src, endpoint, model, version, newest, limit)
    prefix = f"{REPORT_PREFIX}{endpoint}/{model}-v{version}/"
    docs = [(_read_json(src, prefix + st + ".json"), st) for st in stamps]
    persistence = ((docs[0][0] if docs else None) or {}).get("persistence") or {}
    return [_summary(d, st) for d, st in docs], persistence


def series_of(
    src: ConsoleSources, endpoint: str, limit: int, *, with_reports: bool = True
) -> list[dict[str, Any]]:
    """Per model version judged on ``endpoint``: the newest window summaries from its drift state (the
    drift job keeps the last 50 there: one read per version, no report is opened)."""
    out = []
    for model, version, state in state_series(src, endpoint):
        newest = float(state.get("updated_at") or src.clock())
        want = limit if with_reports else 1
        if isinstance(state.get("recent"), list):
            reports = [{**r, "at": stamp_time(str(r.get("stamp")))} for r in state["recent"][:want]]
            kn = {"k": state.get("k"), "n": state.get("n")}
        else:
            reports, kn = _from_reports(src, endpoint, model, version, newest, want)
        item: dict[str, Any] = {
            "endpoint": endpoint,
            "model": model,
            "version": version,
            "latest": reports[0] if reports else None,
            "history": list(state.get("history") or []),
            "k": kn.get("k"),
            "n": kn.get("n"),
            "updated_at": iso(newest),
        }
        if with_reports:
            item["reports"] = reports
        out.append(item)
    return out


def latest_verdict(src: ConsoleSources, endpoint: str, dep: dict[str, Any]) -> dict[str, Any] | None:
    """The overview's cell: the newest report of the version the endpoint serves as stable (else any)."""
    series = series_of(src, endpoint, 1, with_reports=False)
    if not series:
        return None
    stable = [
        s for s in series if s["model"] == dep.get("model") and s["version"] == dep.get("stable_version")
    ]
    s = (stable or sorted(series, key=lambda s: s["updated_at"]))[-1]
    latest = s["latest"] or {}
    return {
        "model": s["model"],
        "version": s["version"],
        "drifted": latest.get("drifted"),
        "window_drifted": latest.get("window_drifted"),
        "share": latest.get("share"),
        "stamp": latest.get("stamp"),
        "history": s["history"],
        "k": s["k"],
        "n": s["n"],
    }


def report(src: ConsoleSources, endpoint: str, model: str, version: int, stamp: str | None) -> dict[str, Any]:
    """One report, features drifted first then by effect size, each with its chart data (``plot``)."""
    prefix = f"{REPORT_PREFIX}{endpoint}/{model}-v{version}/"
    if stamp is None:
        state = _read_json(src, f"{STATE_PREFIX}{endpoint}/{model}-v{version}.json") or {}
        stamps = report_stamps(
            src, endpoint, model, version, float(state.get("updated_at") or src.clock()), 1
        )
        stamp = stamps[0] if stamps else None
    doc = _read_json(src, prefix + stamp + ".json") if stamp else None
    if doc is None or stamp is None:
        raise NotFoundError(
            f"no drift report for {model} v{version} on endpoint {endpoint}"
            + (f" at {stamp}" if stamp else ""),
            code="report_not_found",
        )
    plots = doc.get("plots") or {}
    feats = [{"name": n, **(f or {}), "plot": plots.get(n)} for n, f in (doc.get("features") or {}).items()]
    feats.sort(key=lambda f: (not f.get("drifted"), -float(f.get("effect_size") or 0.0), f["name"]))
    return {
        "endpoint": endpoint,
        "model": model,
        "version": version,
        "stamp": stamp,
        "at": stamp_time(stamp),
        "dataset": doc.get("dataset") or {},
        "persistence": doc.get("persistence") or {},
        "window": doc.get("window") or {},
        "config": doc.get("config") or {},
        "features": feats,
    }
