"""Datasets for the console: every dataset's newest version, one dataset's versions (schema, lineage and the
model versions that reference each), and two versions diffed.

Everything is read from the manifests (``mlops.datasets.catalog``) and the registry's version records; no
Parquet is opened and pyarrow is never imported on this path.

Which model versions reference a dataset version: a version record names its datasets (``datasets``: role
-> ``{name, version, ref, ...}``) and is immutable, so each record is read once per process and only its
references are kept (``_Refs``). A request lists the models and their version numbers (one listing each)
and reads the records not seen before, newest first: at most ``PER_MODEL`` per model and ``MAX_READS`` in
all. The answer's ``references_scan`` says how many were looked at and whether the scan was complete.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.datasets import catalog, keys
from mlops.datasets.diff import diff as diff_manifests
from mlops.errors import NotFoundError
from mlops.registry import records
from mlops.registry.keys import version_key

PER_MODEL = 500  # newest version records of each model looked at for references
MAX_READS = 2000  # version records read (not yet cached) per request
_CACHE_SIZE = 20_000
_LEAVE_OUT = ("parts", "arrow_schema", "write_id")


class _Refs:
    """(store, model, version) -> the dataset references of that (immutable) version record."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str, int], list[dict[str, Any]]] = OrderedDict()

    def get(self, store: Any, model: str, version: int) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._items.get((id(store), model, version))

    def put(self, store: Any, model: str, version: int, refs: list[dict[str, Any]]) -> None:
        with self._lock:
            self._items[(id(store), model, version)] = refs
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)


REFS = _Refs()


def _refs_of(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for role, ref in (record.get("datasets") or {}).items():
        if isinstance(ref, Mapping) and ref.get("name") and ref.get("version") is not None:
            out.append({"role": role, "name": ref["name"], "version": int(ref["version"])})
    return out


def model_references(
    src: ConsoleSources, name: str
) -> tuple[dict[int, list[dict[str, Any]]], dict[str, Any]]:
    """dataset version -> the model versions referencing it (``{model, version, role}``), and the scan."""
    store = src.store
    found: dict[int, list[dict[str, Any]]] = {}
    scanned = reads = 0
    complete = True
    models = src.registry.list_models()
    for m in models:
        nums = src.registry.version_numbers(m["name"])
        if len(nums) > PER_MODEL:
            complete = False
        for v in reversed(nums[-PER_MODEL:]):
            refs = REFS.get(store, m["name"], v)
            if refs is None:
                if reads >= MAX_READS:
                    complete = False
                    continue
                reads += 1
                doc = records.read(store, version_key(m["name"], v))
                refs = _refs_of(doc.data) if doc is not None else []
                REFS.put(store, m["name"], v, refs)
            scanned += 1
            for r in refs:
                if r["name"] == name:
                    found.setdefault(r["version"], []).append(
                        {"model": m["name"], "version": v, "role": r["role"]}
                    )
    scan = {
        "models": len(models),
        "versions": scanned,
        "read": reads,
        "per_model_limit": PER_MODEL,
        "complete": complete,
    }
    return found, scan


def version_view(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest without its part list and serialized Arrow schema (their size grows with the data)."""
    out = {k: v for k, v in manifest.items() if k not in _LEAVE_OUT}
    out["parts"] = len(manifest.get("parts") or [])
    return out


def list_datasets(src: ConsoleSources) -> dict[str, Any]:
    out = []
    for name in catalog.dataset_names(src.store):
        nums = catalog.version_numbers(src.store, name)
        if not nums:
            continue
        m = catalog.get(src.store, name, nums[-1])
        out.append(
            {
                "name": name,
                "latest_version": nums[-1],
                "versions": len(nums),
                "rows": m.get("rows"),
                "columns": len(m.get("columns") or []),
                "bytes": m.get("bytes"),
                "time_range": m.get("time_range") or {"min": None, "max": None},
                "digest": m.get("digest"),
                "entity_keys": m.get("entity_keys") or [],
                "event_time": m.get("event_time"),
                "description": m.get("description") or "",
                "created_by": m.get("created_by"),
                "created_at": m.get("created_at"),
            }
        )
    return {"datasets": out}


def _numbers(src: ConsoleSources, name: str) -> list[int]:
    keys.dataset_name(name)  # 400 for a name that cannot be one
    nums = catalog.version_numbers(src.store, name)
    if not nums:
        raise NotFoundError(f"dataset {name!r} does not exist", code="dataset_not_found")
    return nums


def dataset_detail(src: ConsoleSources, name: str, limit: int) -> dict[str, Any]:
    nums = _numbers(src, name)
    shown = list(reversed(nums))[:limit]
    refs, scan = model_references(src, name)
    versions = []
    for n in shown:
        row = version_view(catalog.get(src.store, name, n))
        row["referenced_by"] = sorted(refs.get(n, []), key=lambda r: (r["model"], -r["version"]))
        versions.append(row)
    return {
        "name": name,
        "versions_total": len(nums),
        "versions": versions,
        "references_scan": scan,
    }


def diff(src: ConsoleSources, name: str, a: int, b: int) -> dict[str, Any]:
    _numbers(src, name)
    ma, mb = catalog.get(src.store, name, a), catalog.get(src.store, name, b)
    return {"name": name, "a_version": a, "b_version": b, **diff_manifests(ma, mb)}
