"""Feature groups for the console: every group's latest version with its offline counts, and one group's
versions (newest first) with their definitions and ingestion batches.

Everything is read from the group version documents and the batch manifests (``mlops.features.groups``,
``mlops.features.offline``); no Parquet is opened and pyarrow is never imported on this path.

A batch manifest is created exclusively and never rewritten, so each is read once per process and only its
summary (counts, time, reasons, not the part list) is kept (``_Batches``). A request then costs one listing
per group version plus the manifests not seen before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.errors import NotFoundError
from mlops.features import groups, offline
from mlops.names import validate_name
from mlops.storage import cas

_CACHE_SIZE = 50_000


class _Batches:
    """(store, group, version, batch) -> the summary of that (immutable) batch manifest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str, int, int], dict[str, Any]] = OrderedDict()

    def get(self, store: Any, group: str, version: int, batch: int) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get((id(store), group, version, batch))

    def put(self, store: Any, group: str, version: int, batch: int, summary: dict[str, Any]) -> None:
        with self._lock:
            self._items[(id(store), group, version, batch)] = summary
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)


BATCHES = _Batches()


def batch_view(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A batch manifest without its part list (its size grows with the event dates): counts and dates."""
    parts = manifest.get("parts") or []
    dates = sorted({str(p.get("date")) for p in parts if p.get("date")})
    return {
        "batch": int(manifest.get("batch", 0)),
        "ingested_at": manifest.get("ingested_at"),
        "ingested_by": manifest.get("ingested_by") or "",
        "source": manifest.get("source"),
        "rows_in": int(manifest.get("rows_in", 0)),
        "rows_ok": int(manifest.get("rows_ok", 0)),
        "rows_quarantined": int(manifest.get("rows_quarantined", 0)),
        "reasons": dict(manifest.get("reasons") or {}),
        "quarantine": manifest.get("quarantine"),
        "parts": len(parts),
        "first_date": dates[0] if dates else None,
        "last_date": dates[-1] if dates else None,
    }


def batches(src: ConsoleSources, group: str, version: int) -> list[dict[str, Any]]:
    """The summaries of a group version's committed batches, in batch order (cached once read)."""
    store = src.store
    out = []
    for n in offline.batch_numbers(store, group, version):
        summary = BATCHES.get(store, group, version, n)
        if summary is None:
            doc = cas.read(store, offline.batch_key(group, version, n))
            if doc is None:
                continue
            summary = batch_view(doc.data)
            BATCHES.put(store, group, version, n, summary)
        out.append(summary)
    return out


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``mlops features list|show`` count over a version's batches, plus the reasons summed."""
    reasons: dict[str, int] = {}
    for b in rows:
        for label, count in b["reasons"].items():
            reasons[label] = reasons.get(label, 0) + int(count)
    firsts = [b["first_date"] for b in rows if b["first_date"]]
    lasts = [b["last_date"] for b in rows if b["last_date"]]
    return {
        "batches": len(rows),
        "rows": sum(b["rows_ok"] for b in rows),
        "quarantined": sum(b["rows_quarantined"] for b in rows),
        "last_ingested_at": rows[-1]["ingested_at"] if rows else None,
        "first_date": min(firsts) if firsts else None,
        "last_date": max(lasts) if lasts else None,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def list_features(src: ConsoleSources) -> dict[str, Any]:
    out = []
    for gv in groups.list_groups(src.store):
        g = gv.group
        counts = totals(batches(src, g.name, gv.version))
        out.append(
            {
                "group": g.name,
                "latest_version": gv.version,
                "versions": len(groups.version_numbers(src.store, g.name)),
                "description": g.description,
                "owner": g.owner,
                "entity_keys": list(g.key_names),
                "event_time": g.event_time,
                "ttl": g.ttl,
                "source": g.source,
                "features": len(g.features),
                "created_at": gv.created_at,
                "created_by": gv.created_by,
                **{k: counts[k] for k in ("rows", "quarantined", "batches", "last_ingested_at")},
            }
        )
    return {"groups": out}


def group_detail(src: ConsoleSources, name: str, limit: int) -> dict[str, Any]:
    """The group's versions newest first, each with its definition, totals and newest ``limit`` batches."""
    validate_name(name, "feature group")  # 400 for a name that cannot be one
    nums = groups.version_numbers(src.store, name)
    if not nums:
        raise NotFoundError(f"feature group {name!r} is not registered", code="feature_group_not_found")
    versions = []
    for n in reversed(nums):
        gv = groups.get_group(src.store, f"{name}@{n}")
        rows = batches(src, name, n)
        versions.append(
            {
                "version": n,
                "created_at": gv.created_at,
                "created_by": gv.created_by,
                "definition": gv.group.to_doc(),
                "offline": totals(rows),
                "batches_total": len(rows),
                "batches": list(reversed(rows))[:limit],
            }
        )
    return {"group": name, "latest_version": nums[-1], "versions_total": len(nums), "versions": versions}
