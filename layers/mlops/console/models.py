"""Models for the console: the list, one model's versions with lineage and approvals, one version's card
facts and importances, and two versions compared.

Version records are immutable, so what is costly to derive from one (``mlops.cards.card_facts`` loads
and verifies the artifact to read its importances) is kept in a small per-process cache; approvals and
aliases change and are always read fresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.registry import records
from mlops.registry.keys import approval_key

LINEAGE_FIELDS = ("code_commit", "training_data_digest", "flavor", "source", "params", "metrics")
_CACHE_SIZE = 256


class _Facts:
    """(model, version) -> the immutable part of ``card_facts``: estimator, importances, baseline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str, int], dict[str, Any]] = OrderedDict()

    def get(self, src: ConsoleSources, model: str, version: int) -> dict[str, Any]:
        from mlops.cards import card_facts

        key = (id(src.store), model, version)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        f = card_facts(src.registry, model, version)
        facts = {
            "estimator": f["estimator"],
            "importances": [
                {"feature": n, "importance": v} for n, v in f["importances"] if v and abs(float(v)) > 0.0
            ],
            "baseline": f["baseline"],
        }
        facts["importances"].sort(key=lambda d: -abs(float(d["importance"])))
        with self._lock:
            self._items[key] = facts
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return facts


FACTS = _Facts()


def _aliases_of(model_doc: Mapping[str, Any]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, v in (model_doc.get("aliases") or {}).items():
        out.setdefault(int(v), []).append(alias)
    return out


def approval_summary(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{state, requested_by, requested_at, decided_by, decided_at, comment}`` from an approval record."""
    doc = doc or {}
    out: dict[str, Any] = {"state": doc.get("state") or "none", "requested_by": None, "requested_at": None}
    out.update(decided_by=None, decided_at=None, comment=None)
    for h in doc.get("history") or []:
        if h.get("event") == "request":
            out.update(requested_by=h.get("by"), requested_at=h.get("at"))
        elif h.get("event") in ("approve", "reject"):
            out.update(decided_by=h.get("by"), decided_at=h.get("at"), comment=h.get("comment"))
    return out


def lineage(rec: Mapping[str, Any]) -> dict[str, Any]:
    """Where a version came from: commit, training data digest, flavor, source, parameters, metrics."""
    out = {k: rec.get(k) for k in LINEAGE_FIELDS}
    out["training_data_digest"] = rec.get("training_data_digest") or (rec.get("training_data") or {}).get(
        "digest"
    )
    out["flavor"] = rec.get("flavor") or (rec.get("artifact") or {}).get("flavor")
    return out


def version_row(
    rec: Mapping[str, Any], approval: Mapping[str, Any] | None, aliases: list[str]
) -> dict[str, Any]:
    row = {
        "version": rec.get("version"),
        "created_at": rec.get("created_at"),
        "created_by": rec.get("created_by"),
        "description": rec.get("description"),
        "aliases": sorted(aliases),
        "approval": approval_summary(approval),
    }
    row.update(lineage(rec))
    return row


def list_models(src: ConsoleSources) -> dict[str, Any]:
    out = []
    for m in src.registry.list_models():
        nums = src.registry.version_numbers(m["name"])
        out.append(
            {
                "name": m["name"],
                "description": m.get("description") or "",
                "tags": m.get("tags") or {},
                "aliases": m.get("aliases") or {},
                "governed_aliases": m.get("governed_aliases") or [],
                "versions": len(nums),
                "latest_version": nums[-1] if nums else None,
            }
        )
    return {"models": out}


def _approvals(src: ConsoleSources, model: str, versions: list[int]) -> dict[int, dict[str, Any] | None]:
    out: dict[int, dict[str, Any] | None] = {}
    for v in versions:
        doc = records.read(src.store, approval_key(model, v))
        out[v] = dict(doc.data) if doc is not None else None
    return out


def model_detail(src: ConsoleSources, model: str) -> dict[str, Any]:
    doc = src.registry.get_model(model)
    recs = src.registry.list_versions(model)
    approvals = _approvals(src, model, [int(r["version"]) for r in recs])
    aliases = _aliases_of(doc)
    rows = [
        version_row(r, approvals.get(int(r["version"])), aliases.get(int(r["version"]), [])) for r in recs
    ]
    rows.sort(key=lambda r: -int(r["version"]))
    return {"model": doc, "versions": rows}


def shap_importance(rec: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The version record's ``shap_importance`` (``mlops.registry.shapimportance``: its ``values`` mapping; a
    plain mapping or a list of pairs / objects is read too), sorted by size."""
    raw = rec.get("shap_importance")
    if raw is None:
        return None
    if isinstance(raw, Mapping) and isinstance(raw.get("values"), Mapping):
        raw = raw["values"]
    items: list[tuple[str, float]] = []
    if isinstance(raw, Mapping):
        items = [(str(k), float(v)) for k, v in raw.items() if isinstance(v, (int, float))]
    elif isinstance(raw, list):
        for it in raw:
            if isinstance(it, Mapping):
                name = it.get("feature", it.get("name"))
                value = it.get("importance", it.get("value"))
                if name is not None and isinstance(value, (int, float)):
                    items.append((str(name), float(value)))
            elif isinstance(it, (list, tuple)) and len(it) == 2 and isinstance(it[1], (int, float)):
                items.append((str(it[0]), float(it[1])))
    items.sort(key=lambda p: -abs(p[1]))
    return [{"feature": n, "importance": v} for n, v in items]


def version_detail(src: ConsoleSources, model: str, version: int) -> dict[str, Any]:
    rec = src.registry.get_version(model, version)
    doc = src.registry.get_model(model)
    facts = FACTS.get(src, model, version)
    approval = src.registry.get_approval(model, version)
    return {
        "model": model,
        "version": version,
        "record": rec,
        "lineage": lineage(rec),
        "approval": approval,
        "approval_summary": approval_summary(approval),
        "aliases": sorted(_aliases_of(doc).get(version, [])),
        "card": {"estimator": facts["estimator"], "baseline": facts["baseline"]},
        "importances": facts["importances"],
        "shap_importance": shap_importance(rec),
        "signature": rec.get("signature"),
    }


def _pairs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))]


def compare(src: ConsoleSources, model: str, va: int, vb: int) -> dict[str, Any]:
    doc = src.registry.get_model(model)
    ra, rb = src.registry.get_version(model, va), src.registry.get_version(model, vb)
    la, lb = lineage(ra), lineage(rb)
    approvals = _approvals(src, model, [va, vb])
    aliases = _aliases_of(doc)
    ia = {d["feature"]: d["importance"] for d in FACTS.get(src, model, va)["importances"]}
    ib = {d["feature"]: d["importance"] for d in FACTS.get(src, model, vb)["importances"]}
    metrics = []
    for k, x, y in _pairs(ra.get("metrics") or {}, rb.get("metrics") or {}):
        numeric = isinstance(x, (int, float)) and isinstance(y, (int, float))
        metrics.append({"name": k, "a": x, "b": y, "delta": (y - x) if numeric else None})
    importances = [{"feature": k, "a": x, "b": y} for k, x, y in _pairs(ia, ib)]
    importances.sort(key=lambda d: -max(abs(d["a"] or 0.0), abs(d["b"] or 0.0)))
    return {
        "model": model,
        "a": version_row(ra, approvals.get(va), aliases.get(va, [])),
        "b": version_row(rb, approvals.get(vb), aliases.get(vb, [])),
        "params": [
            {"name": k, "a": x, "b": y, "changed": x != y}
            for k, x, y in _pairs(ra.get("params") or {}, rb.get("params") or {})
        ],
        "metrics": metrics,
        "lineage": [
            {"name": k, "a": la[k], "b": lb[k], "changed": la[k] != lb[k]}
            for k in ("code_commit", "training_data_digest", "flavor", "source")
        ],
        "importances": importances,
    }
