"""An expectations suite: what a table must look like, per column and as a whole, as a small YAML file.

A column expectation holds its logical ``type`` (int, float, bool, string, timestamp, other) and, each
optional, ``max_null_rate`` (share of null/NaN rows allowed, tolerance already included), a numeric
range ``min``/``max`` widened by ``range_tolerance`` (a share of ``max - min``) with
``max_out_of_range`` (share of rows allowed outside the widened range), ``categories`` (allowed values
of a low-cardinality string column) with ``max_unseen`` (share of non-null rows allowed outside them),
and ``observed`` (the training figures the bounds came from, for people; never checked).
Dataset-level: ``min_rows``, ``unique_keys`` (entity keys whose combination must not repeat) and
``freshness`` (``column`` and ``max_age_s``: the newest event time must be at most that old).

The YAML is written with a fixed key order and read with ``yaml.safe_load`` (comments are ignored on
read); ``digest`` is the sha256 of the canonical JSON of the content, so reformatting or comments do not
change it. ``diff`` lists what changed between two suites.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mlops.errors import UnprocessableError

FORMAT = "mlops-expectations/v1"
TYPES = ("int", "float", "bool", "string", "timestamp", "other")
_COLUMN_KEYS = (
    "type",
    "max_null_rate",
    "min",
    "max",
    "range_tolerance",
    "max_out_of_range",
    "categories",
    "max_unseen",
    "observed",
)
_HEADER = """\
# Data-quality expectations (mlops.quality). Edit freely; `mlops expectations check` applies them.
# Per column: type; max_null_rate (share of null/NaN rows); min/max widened by range_tolerance x (max-min),
# max_out_of_range (share of rows allowed outside); categories with max_unseen (share of other values).
# observed: the figures of the data the suite was inferred from (informative, never checked).
"""


class InvalidSuite(UnprocessableError):
    code = "invalid_expectations"


@dataclass(frozen=True)
class ColumnExpectation:
    name: str
    type: str
    max_null_rate: float | None = None
    min: float | None = None
    max: float | None = None
    range_tolerance: float = 0.0
    max_out_of_range: float = 0.0
    categories: tuple[str, ...] | None = None
    max_unseen: float = 0.0
    observed: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.max_null_rate is not None:
            out["max_null_rate"] = self.max_null_rate
        if self.min is not None or self.max is not None:
            out.update(min=self.min, max=self.max, range_tolerance=self.range_tolerance)
            out["max_out_of_range"] = self.max_out_of_range
        if self.categories is not None:
            out.update(categories=list(self.categories), max_unseen=self.max_unseen)
        if self.observed:
            out["observed"] = dict(self.observed)
        return out

    def bounds(self) -> tuple[float | None, float | None]:
        """The range widened by its tolerance (either side may be open)."""
        lo, hi = self.min, self.max
        width = (hi - lo) if lo is not None and hi is not None else 0.0
        pad = self.range_tolerance * (width if width > 0 else max(abs(lo or 0.0), abs(hi or 0.0), 1.0))
        return (None if lo is None else lo - pad, None if hi is None else hi + pad)


@dataclass(frozen=True)
class Suite:
    columns: tuple[ColumnExpectation, ...]
    min_rows: int = 0
    unique_keys: tuple[str, ...] = ()
    freshness: Mapping[str, Any] | None = None  # {"column": str, "max_age_s": float}

    def column(self, name: str) -> ColumnExpectation | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        dataset: dict[str, Any] = {"min_rows": self.min_rows}
        if self.unique_keys:
            dataset["unique_keys"] = list(self.unique_keys)
        if self.freshness:
            dataset["freshness"] = dict(self.freshness)
        return {
            "format": FORMAT,
            "dataset": dataset,
            "columns": {c.name: c.to_dict() for c in self.columns},
        }

    def digest(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def dumps(suite: Suite) -> str:
    """The suite as YAML: a comment header, then format, dataset, columns in a stable order."""
    import yaml

    return _HEADER + yaml.safe_dump(suite.to_dict(), sort_keys=False, default_flow_style=None, width=110)


def loads(text: str | bytes) -> Suite:
    """A suite from its YAML (or JSON) text; a malformed one is a 422 naming what is wrong."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidSuite(f"expectations are not valid YAML: {str(exc).splitlines()[0]}") from None
    return from_dict(doc)


def from_dict(doc: Any) -> Suite:
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise InvalidSuite(f"expectations must be a mapping with format: {FORMAT}")
    dataset = doc.get("dataset") or {}
    columns = doc.get("columns") or {}
    if not isinstance(dataset, Mapping) or not isinstance(columns, Mapping):
        raise InvalidSuite("expectations: dataset and columns must be mappings")
    fresh = dataset.get("freshness")
    if fresh is not None and (
        not isinstance(fresh, Mapping)
        or "column" not in fresh
        or _num(fresh, "max_age_s", "freshness") is None
    ):
        raise InvalidSuite("expectations: freshness needs column and max_age_s")
    keys = dataset.get("unique_keys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidSuite("expectations: unique_keys must be a list of column names")
    return Suite(
        columns=tuple(_column(str(name), spec) for name, spec in columns.items()),
        min_rows=int(_num(dataset, "min_rows", "dataset") or 0),
        unique_keys=tuple(keys),
        freshness=dict(fresh) if fresh else None,
    )


def _num(doc: Mapping[str, Any], key: str, where: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSuite(f"expectations: {where}.{key} must be a number, got {value!r}")
    return float(value)


def _column(name: str, spec: Any) -> ColumnExpectation:
    if not isinstance(spec, Mapping):
        raise InvalidSuite(f"expectations: column {name} must be a mapping")
    unknown = sorted(set(map(str, spec)) - set(_COLUMN_KEYS))
    if unknown:
        raise InvalidSuite(
            f"expectations: column {name} has unknown keys {unknown}; known: {list(_COLUMN_KEYS)}"
        )
    if spec.get("type") not in TYPES:
        raise InvalidSuite(f"expectations: column {name}: type must be one of {', '.join(TYPES)}")
    cats = spec.get("categories")
    if cats is not None and not isinstance(cats, list):
        raise InvalidSuite(f"expectations: column {name}: categories must be a list")
    return ColumnExpectation(
        name=name,
        type=spec["type"],
        max_null_rate=_num(spec, "max_null_rate", name),
        min=_num(spec, "min", name),
        max=_num(spec, "max", name),
        range_tolerance=_num(spec, "range_tolerance", name) or 0.0,
        max_out_of_range=_num(spec, "max_out_of_range", name) or 0.0,
        categories=tuple(str(c) for c in cats) if cats is not None else None,
        max_unseen=_num(spec, "max_unseen", name) or 0.0,
        observed=dict(spec.get("observed") or {}),
    )


def diff(a: Suite, b: Suite) -> list[dict[str, Any]]:
    """What changed from ``a`` to ``b``: ``{"path", "before", "after"}`` per changed setting (a column
    added or removed is one entry with None on the missing side). ``observed`` figures are left out."""
    changes: list[dict[str, Any]] = []
    da, db = a.to_dict()["dataset"], b.to_dict()["dataset"]
    for key in dict.fromkeys([*da, *db]):
        if da.get(key) != db.get(key):
            changes.append({"path": f"dataset.{key}", "before": da.get(key), "after": db.get(key)})
    ca = {c.name: c for c in a.columns}
    cb = {c.name: c for c in b.columns}
    for name in dict.fromkeys([*ca, *cb]):
        x, y = ca.get(name), cb.get(name)
        if x is None or y is None:
            changes.append({"path": f"columns.{name}", "before": _brief(x), "after": _brief(y)})
            continue
        for f in fields(ColumnExpectation):
            if f.name in ("name", "observed"):
                continue
            before, after = getattr(x, f.name), getattr(y, f.name)
            if before != after:
                changes.append(
                    {"path": f"columns.{name}.{f.name}", "before": _plain(before), "after": _plain(after)}
                )
    return changes


def _brief(c: ColumnExpectation | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {k: v for k, v in c.to_dict().items() if k != "observed"}


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def render_diff(changes: list[dict[str, Any]]) -> str:
    """One line per change: ``+ path: after``, ``- path: before`` or ``~ path: before -> after``."""
    lines = []
    for ch in changes:
        before, after = ch["before"], ch["after"]
        if before is None:
            lines.append(f"+ {ch['path']}: {json.dumps(after, default=str)}")
        elif after is None:
            lines.append(f"- {ch['path']}: {json.dumps(before, default=str)}")
        else:
            lines.append(
                f"~ {ch['path']}: {json.dumps(before, default=str)} -> {json.dumps(after, default=str)}"
            )
    return "\n".join(lines)
