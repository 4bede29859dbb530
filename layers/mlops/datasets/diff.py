"""What changed between two dataset versions, from their manifests alone (no data is read).

``diff(a, b)`` answers: is the content the same (digest), which columns were added, removed or changed type
or nullability, did the entity keys or event-time column change, how did the row count and time range move,
and how did each common column's null rate change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _rate(nulls: int | None, rows: int) -> float | None:
    if nulls is None:
        return None
    return nulls / rows if rows else 0.0


def _columns(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["name"]: c for c in manifest.get("columns") or []}


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The differences from version ``a`` to version ``b`` (both manifests) as a JSON-ready document."""
    ca, cb = _columns(a), _columns(b)
    changed = []
    for name in (n for n in ca if n in cb):
        x, y = ca[name], cb[name]
        if x.get("type") != y.get("type") or x.get("nullable") != y.get("nullable"):
            changed.append(
                {
                    "name": name,
                    "type": [x.get("type"), y.get("type")],
                    "nullable": [x.get("nullable"), y.get("nullable")],
                }
            )
    rows_a, rows_b = int(a.get("rows") or 0), int(b.get("rows") or 0)
    null_rates = []
    for name in (n for n in ca if n in cb):
        ra, rb = _rate(ca[name].get("null_count"), rows_a), _rate(cb[name].get("null_count"), rows_b)
        if ra != rb:
            delta = None if ra is None or rb is None else rb - ra
            null_rates.append({"name": name, "a": ra, "b": rb, "change": delta})
    ta, tb = a.get("time_range") or {}, b.get("time_range") or {}
    return {
        "a": a.get("ref"),
        "b": b.get("ref"),
        "same_content": a.get("digest") == b.get("digest"),
        "digest": [a.get("digest"), b.get("digest")],
        "columns": {
            "added": [n for n in cb if n not in ca],
            "removed": [n for n in ca if n not in cb],
            "changed": changed,
            "order_changed": [n for n in ca if n in cb] != [n for n in cb if n in ca],
        },
        "entity_keys": None
        if a.get("entity_keys") == b.get("entity_keys")
        else [a.get("entity_keys"), b.get("entity_keys")],
        "event_time": None
        if a.get("event_time") == b.get("event_time")
        else [a.get("event_time"), b.get("event_time")],
        "rows": {"a": rows_a, "b": rows_b, "change": rows_b - rows_a},
        "time_range": {
            "a": {"min": ta.get("min"), "max": ta.get("max")},
            "b": {"min": tb.get("min"), "max": tb.get("max")},
            "changed": (ta.get("min"), ta.get("max")) != (tb.get("min"), tb.get("max")),
        },
        "null_rates": null_rates,
    }
