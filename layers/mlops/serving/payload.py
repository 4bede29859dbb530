"""Scoring payloads in, validated numpy rows out: our shapes and MLflow's, checked against the signature.

Accepted bodies (so a client leaving ``mlflow models serve`` changes only the URL):
- ``{"instances": [[...], ...]}``  ordered rows, or ``{"instances": [{name: value}, ...]}``
- ``{"inputs": {name: [values...]}}`` columns, ``{"inputs": {name: value}}`` one row,
  ``{"inputs": [[...]]}`` rows or ``{"inputs": [{...}]}`` records
- ``{"dataframe_split": {"columns": [...], "data": [[...]]}}`` and ``{"dataframe_records": [{...}]}``
Every problem is a 422 that names the row and the field, or a 400 for a body that is
not JSON at all; the model sees a float64 array in signature order, or, when the signature
has string (categorical) features, an object array with str and float cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops.errors import BadRequestError, PayloadTooLargeError, UnprocessableError
from mlops.jsonbody import parse_json

TEXT_DTYPES = ("str", "string", "object", "category")
NUMERIC_KINDS = (
    "float",
    "double",
    "float64",
    "float32",
    "int",
    "int64",
    "int32",
    "long",
    "integer",
    "number",
    "numeric",
    "bool",
    "boolean",
)


@dataclass(frozen=True)
class Signature:
    """Feature names in model order, their dtypes, and the class labels of a classifier."""

    names: tuple[str, ...]
    dtypes: tuple[str, ...]
    classes: tuple[Any, ...] | None = None
    index: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    text: tuple[bool, ...] = field(default=(), compare=False, hash=False)  # per feature: a string column

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {n: i for i, n in enumerate(self.names)})
        object.__setattr__(self, "text", tuple(d in TEXT_DTYPES for d in self.dtypes))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Signature:
        """From a registry record's signature (``inputs``/``features`` as dicts or names)."""
        feats = d.get("inputs") or d.get("features") or []
        names, dtypes = [], []
        for f in feats:
            if isinstance(f, dict):
                names.append(str(f["name"]))
                dtypes.append(str(f.get("dtype") or f.get("type") or "float64"))
            else:
                names.append(str(f))
                dtypes.append("float64")
        classes = d.get("classes") or d.get("class_labels")
        return cls(tuple(names), tuple(dtypes), tuple(classes) if classes is not None else None)

    @property
    def width(self) -> int:
        return len(self.names)


def _num(value: Any, row: int, name: str, dtype: str = "float64") -> float:
    if isinstance(value, bool):
        if dtype in ("bool", "boolean"):
            return 1.0 if value else 0.0
        raise UnprocessableError(
            f"row {row}, feature {name!r}: expected a number ({dtype}), got a boolean",
            code="invalid_type",
            details={"row": row, "feature": name},
        )
    if isinstance(value, (int, float)):
        try:
            v = float(value)
        except OverflowError:
            v = math.inf
        if math.isfinite(v):
            return v
        raise UnprocessableError(
            f"row {row}, feature {name!r}: {value!r} is not a finite number",
            code="invalid_value",
            details={"row": row, "feature": name},
        )
    if value is None:
        raise UnprocessableError(
            f"row {row}, feature {name!r}: a value is required (got null)",
            code="missing_value",
            details={"row": row, "feature": name},
        )
    raise UnprocessableError(
        f"row {row}, feature {name!r}: expected a number, got {type(value).__name__} {str(value)[:40]!r}",
        code="invalid_type",
        details={"row": row, "feature": name},
    )


def _text(value: Any, row: int, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise UnprocessableError(
        f"row {row}, feature {name!r}: expected a string (category), got {type(value).__name__}",
        code="invalid_type",
        details={"row": row, "feature": name},
    )


def _cell(v: Any, i: int, j: int, sig: Signature) -> Any:
    if sig.text[j]:
        return _text(v, i, sig.names[j])
    return v if type(v) is float and math.isfinite(v) else _num(v, i, sig.names[j], sig.dtypes[j])


def _empty(n: int, sig: Signature) -> np.ndarray:
    """float64 rows when every feature is numeric (the fast path); object rows when some are text."""
    return np.empty((n, sig.width), dtype=object if any(sig.text) else np.float64)


def _rows_from_lists(rows: list, sig: Signature, where: str) -> np.ndarray:
    width = sig.width
    out = _empty(len(rows), sig)
    mixed = any(sig.text)
    names = sig.names
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            raise UnprocessableError(
                f"{where}[{i}]: expected a list of {width} values", code="invalid_row", details={"row": i}
            )
        if len(row) != width:
            raise UnprocessableError(
                f"{where}[{i}]: expected {width} values in the order "
                f"{', '.join(names[:5])}{'...' if width > 5 else ''}, got {len(row)}",
                code="wrong_width",
                details={"row": i},
            )
        if mixed:
            for j, v in enumerate(row):
                out[i, j] = _cell(v, i, j, sig)
            continue
        for j, v in enumerate(row):
            out[i, j] = v if type(v) is float and math.isfinite(v) else _num(v, i, names[j], sig.dtypes[j])
    return out


def _rows_from_records(records: list, sig: Signature, where: str) -> np.ndarray:
    out = _empty(len(records), sig)
    index = sig.index
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise UnprocessableError(
                f"{where}[{i}]: expected an object of feature: value", code="invalid_row", details={"row": i}
            )
        if len(rec) != sig.width or any(k not in index for k in rec):
            _check_names(rec.keys(), sig, f"{where}[{i}]", row=i)
        for name, j in index.items():
            out[i, j] = _cell(rec[name], i, j, sig)
    return out


def _check_names(keys, sig: Signature, where: str, row: int | None = None) -> None:
    keys = list(keys)
    unknown = [k for k in keys if k not in sig.index]
    missing = [n for n in sig.names if n not in set(keys)]
    details = {"row": row} if row is not None else {}
    if unknown:
        raise UnprocessableError(
            f"{where}: unknown feature {unknown[0]!r} (the model expects "
            f"{', '.join(sig.names[:8])}{'...' if sig.width > 8 else ''})",
            code="unknown_feature",
            details={**details, "feature": unknown[0]},
        )
    if missing:
        raise UnprocessableError(
            f"{where}: missing feature {missing[0]!r}",
            code="missing_feature",
            details={**details, "feature": missing[0]},
        )


def _columns(cols: dict, sig: Signature, where: str) -> np.ndarray:
    _check_names(cols.keys(), sig, where)
    values = [cols[n] for n in sig.names]
    if all(not isinstance(v, (list, tuple)) for v in values):  # one row as name: value
        return _rows_from_lists([values], sig, where)
    lengths = {len(v) if isinstance(v, (list, tuple)) else -1 for v in values}
    if len(lengths) != 1 or -1 in lengths:
        raise UnprocessableError(
            f"{where}: every feature needs a list of the same length", code="ragged_columns"
        )
    n = lengths.pop()
    return _rows_from_lists([[v[i] for v in values] for i in range(n)], sig, where)


def parse_payload(body: bytes, sig: Signature, max_batch: int) -> tuple[np.ndarray, list[dict] | None]:
    """The rows of a scoring request as a float64 array (n, width) in signature order."""
    if not body:
        raise BadRequestError(
            'the request needs a JSON body, e.g. {"instances": [[...]]}', code="missing_body"
        )
    doc = parse_json(body)  # the limits every route shares: depth, numbers, UTF-8
    if not isinstance(doc, dict):
        raise UnprocessableError(
            "the body must be a JSON object with one of: instances, inputs, "
            "dataframe_split, dataframe_records",
            code="invalid_shape",
        )
    keys = [k for k in ("instances", "inputs", "dataframe_split", "dataframe_records") if k in doc]
    if len(keys) != 1:
        raise UnprocessableError(
            "the body must have exactly one of: instances, inputs, dataframe_split, dataframe_records",
            code="invalid_shape",
        )
    key = keys[0]
    data = doc[key]
    n = _count(data, key)
    if n == 0:
        raise UnprocessableError(f"{key}: no rows to score", code="empty_batch")
    if n > max_batch:
        raise PayloadTooLargeError(
            f"{key}: {n} rows is over this endpoint's limit of {max_batch} per request",
            code="batch_too_large",
        )
    if key == "dataframe_split":
        return _dataframe_split(data, sig), None
    if key == "dataframe_records":
        if not isinstance(data, list):
            raise UnprocessableError("dataframe_records must be a list of objects", code="invalid_shape")
        return _rows_from_records(data, sig, key), None
    if isinstance(data, dict):
        return _columns(data, sig, key), None
    if not isinstance(data, list):
        raise UnprocessableError(
            f"{key} must be a list of rows or an object of columns", code="invalid_shape"
        )
    if isinstance(data[0], dict):
        return _rows_from_records(data, sig, key), None
    return _rows_from_lists(data, sig, key), None


def _dataframe_split(data: Any, sig: Signature) -> np.ndarray:
    """The rows of ``{"dataframe_split": {"columns": [...], "data": [[...]]}}``, reordered to the signature
    when the columns are named in another order."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise UnprocessableError(
            'dataframe_split needs {"columns": [...], "data": [[...]]}', code="invalid_shape"
        )
    cols = data.get("columns")
    if cols is not None and (not isinstance(cols, list) or not all(isinstance(c, str) for c in cols)):
        raise UnprocessableError(
            "dataframe_split.columns must be a list of feature names", code="invalid_shape"
        )
    if cols is None or cols == list(sig.names):
        return _rows_from_lists(data["data"], sig, "dataframe_split.data")
    _check_names(cols, sig, "dataframe_split.columns")
    if len(set(cols)) != len(cols):
        raise UnprocessableError("dataframe_split.columns has a duplicate", code="invalid_shape")
    order = [cols.index(nm) for nm in sig.names]
    rows = []
    for i, r in enumerate(data["data"]):
        if not isinstance(r, list) or len(r) != len(cols):
            raise UnprocessableError(
                f"dataframe_split.data[{i}]: expected {len(cols)} values",
                code="wrong_width",
                details={"row": i},
            )
        rows.append([r[j] for j in order])
    return _rows_from_lists(rows, sig, "dataframe_split.data")


def _count(data: Any, key: str) -> int:
    if key == "dataframe_split":
        return (
            len(data.get("data") or [])
            if isinstance(data, dict) and isinstance(data.get("data"), list)
            else 1
        )
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        first = next(iter(data.values()), None)
        return len(first) if isinstance(first, (list, tuple)) else 1
    return 1
