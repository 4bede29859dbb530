"""A model's signature and training-data lineage, inferred from the training frame.

Accepted training frames (pandas is never imported here; a DataFrame is recognised by duck typing):
a 2-D numpy array or list of rows plus ``feature_names``; a list of dicts (records); a mapping
``{name: column}``; a numpy structured array; a pandas DataFrame.

Signature shape (what ``mlops.serving.payload.Signature.from_dict`` reads)::

    {"inputs": [{"name": "age", "dtype": "float64", "kind": "numeric"}, ...],   # model order
     "classes": [0, 1] | null,                                                 # a classifier's labels
     "target": {"name": "churned", "dtype": "int64"} | null}

``kind`` is what drift detection uses: ``numeric`` (KS, PSI) or ``categorical`` (chi-square).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlops.errors import BadRequestError, UnprocessableError

KINDS = ("numeric", "categorical")
_DTYPES = (
    "float64",
    "float32",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "str",
)


def _is_dataframe(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "pandas" and hasattr(x, "columns") and hasattr(x, "to_numpy")


def _is_series(x: Any) -> bool:
    return (
        type(x).__module__.split(".")[0] == "pandas" and hasattr(x, "to_numpy") and not hasattr(x, "columns")
    )


def _column(values: Any) -> np.ndarray:
    """One column as a typed 1-D array: numbers stay numbers, anything else becomes ``str``/None objects."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "fiub":
        return arr
    items = arr.tolist()
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in items) and any(
        v is not None for v in items
    ):
        return np.array([math.nan if v is None else float(v) for v in items], dtype=np.float64)
    if all(v is None or isinstance(v, bool) for v in items) and any(v is not None for v in items):
        if None not in items:
            return np.array(items, dtype=bool)
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    return out


def to_columns(X: Any, feature_names: Sequence[str] | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Turn a training frame into (feature names in model order, {name: 1-D array})."""
    if X is None:
        raise BadRequestError("training data is required to infer a signature", code="missing_training_data")
    if _is_dataframe(X):
        names = [str(c) for c in X.columns]
        cols = {str(c): _column(X[c].to_numpy()) for c in X.columns}
    elif isinstance(X, Mapping):
        names = [str(k) for k in X]
        cols = {str(k): _column(v) for k, v in X.items()}
    elif isinstance(X, np.ndarray) and X.dtype.names:
        names = list(X.dtype.names)
        cols = {n: _column(X[n]) for n in names}
    elif isinstance(X, Sequence) and X and isinstance(X[0], Mapping):
        names = [str(k) for k in X[0]]
        for i, rec in enumerate(X):
            if not isinstance(rec, Mapping) or set(map(str, rec)) != set(names):
                raise UnprocessableError(
                    f"training record {i} has different fields from record 0 ({sorted(names)[:10]})",
                    code="ragged_training_data",
                )
        cols = {n: _column([rec.get(n) for rec in X]) for n in names}
    else:
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise UnprocessableError(
                f"training data must be 2-D (rows x features), got {arr.ndim}-D", code="invalid_training_data"
            )
        width = arr.shape[1]
        names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(width)]
        if len(names) != width:
            raise UnprocessableError(
                f"{len(names)} feature names for {width} columns", code="feature_names_mismatch"
            )
        cols = {n: _column(arr[:, i]) for i, n in enumerate(names)}
    if feature_names is not None and list(map(str, feature_names)) != names:
        if sorted(map(str, feature_names)) != sorted(names):
            raise UnprocessableError(
                f"feature_names {list(feature_names)[:10]} do not match the data's columns {names[:10]}",
                code="feature_names_mismatch",
            )
        names = [str(n) for n in feature_names]  # reorder to the model's order
    if not names:
        raise UnprocessableError("training data has no columns", code="invalid_training_data")
    if len(set(names)) != len(names):
        raise UnprocessableError("training data has duplicate column names", code="invalid_training_data")
    for n in names:
        if not n or len(n) > 256 or any(ord(c) < 0x20 for c in n):
            raise UnprocessableError(
                f"feature name {str(n)[:60]!r} is not usable", code="invalid_feature_name"
            )
    lengths = {len(c) for c in cols.values()}
    if len(lengths) != 1:
        raise UnprocessableError("training columns have different lengths", code="ragged_training_data")
    if lengths == {0}:
        raise UnprocessableError("training data has no rows", code="invalid_training_data")
    return names, cols


def _dtype_of(col: np.ndarray) -> str:
    if col.dtype.kind == "b":
        return "bool"
    if col.dtype.kind in "fiu":
        return str(col.dtype)
    return "str"


def kind_of(dtype: str) -> str:
    return "numeric" if dtype not in ("str", "bool") else "categorical"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def infer_signature(
    names: Sequence[str],
    columns: Mapping[str, np.ndarray],
    *,
    y: Any = None,
    target_name: str | None = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The signature of a model trained on ``columns`` (and ``y``), with class labels when known."""
    inputs = []
    for n in names:
        dt = _dtype_of(columns[n])
        inputs.append({"name": n, "dtype": dt, "kind": kind_of(dt)})
    target = None
    if y is not None:
        ycol = _column(y.to_numpy() if _is_series(y) else y)
        target = {
            "name": target_name or (str(y.name) if _is_series(y) and y.name is not None else "target"),
            "dtype": _dtype_of(ycol),
        }
    return {
        "inputs": inputs,
        "classes": [_plain(c) for c in classes] if classes is not None else None,
        "target": target,
    }


def validate_signature(sig: Any) -> dict[str, Any]:
    """Check a signature supplied by a client (the HTTP API); returns it normalised."""
    if not isinstance(sig, Mapping) or not isinstance(sig.get("inputs"), list) or not sig["inputs"]:
        raise UnprocessableError(
            "signature must be an object with a non-empty 'inputs' list", code="invalid_signature"
        )
    inputs, seen = [], set()
    for i, f in enumerate(sig["inputs"]):
        if not isinstance(f, Mapping) or not isinstance(f.get("name"), str) or not f["name"]:
            raise UnprocessableError(f"signature.inputs[{i}] needs a 'name'", code="invalid_signature")
        dtype = f.get("dtype", "float64")
        if dtype not in _DTYPES:
            raise UnprocessableError(
                f"signature.inputs[{i}].dtype {str(dtype)[:30]!r} is not one of {', '.join(_DTYPES)}",
                code="invalid_signature",
            )
        kind = f.get("kind", kind_of(dtype))
        if kind not in KINDS:
            raise UnprocessableError(
                f"signature.inputs[{i}].kind must be numeric or categorical", code="invalid_signature"
            )
        if f["name"] in seen:
            raise UnprocessableError(f"signature.inputs has {f['name']!r} twice", code="invalid_signature")
        seen.add(f["name"])
        inputs.append({"name": f["name"], "dtype": dtype, "kind": kind})
    classes = sig.get("classes")
    if classes is not None and (
        not isinstance(classes, list) or not all(isinstance(c, (str, int, float, bool)) for c in classes)
    ):
        raise UnprocessableError(
            "signature.classes must be a list of labels or null", code="invalid_signature"
        )
    check_classes(classes)
    target = sig.get("target")
    if target is not None and (not isinstance(target, Mapping) or not isinstance(target.get("name"), str)):
        raise UnprocessableError("signature.target must be {name, dtype} or null", code="invalid_signature")
    unknown = set(sig) - {"inputs", "classes", "target"}
    if unknown:
        raise UnprocessableError(f"signature has unknown fields {sorted(unknown)}", code="invalid_signature")
    return {
        "inputs": inputs,
        "classes": classes,
        "target": {"name": target["name"], "dtype": str(target.get("dtype", "str"))} if target else None,
    }


def check_classes(classes: Sequence[Any] | None) -> None:
    """Class labels must be storable as JSON: no NaN or infinite label (``422 invalid_signature``)."""
    for i, c in enumerate(classes or ()):
        if isinstance(c, float) and not math.isfinite(c):
            raise UnprocessableError(
                f"signature.classes[{i}] is {c!r}; a class label must be a finite number, "
                "a string or a boolean",
                code="invalid_signature",
            )


def kinds_of(signature: Mapping[str, Any]) -> dict[str, str]:
    return {f["name"]: f["kind"] for f in signature["inputs"]}


def data_digest(names: Sequence[str], columns: Mapping[str, np.ndarray], y: Any = None) -> str:
    """``sha256:<hex>`` of the training data: column names, dtypes and values (and the target)."""
    h = hashlib.sha256()

    def feed(name: str, col: np.ndarray) -> None:
        h.update(json.dumps([name, _dtype_of(col), len(col)]).encode())
        if col.dtype.kind in "fiub":
            h.update(np.ascontiguousarray(col.astype(col.dtype.newbyteorder("<"), copy=False)).tobytes())
        else:
            h.update(json.dumps(col.tolist(), ensure_ascii=False).encode())

    for n in names:
        feed(n, columns[n])
    if y is not None:
        feed("__target__", _column(y.to_numpy() if _is_series(y) else y))
    return "sha256:" + h.hexdigest()


def classes_of(model: Any, y: Any = None) -> list[Any] | None:
    """A classifier's labels: ``model.classes_`` when fitted, else the sorted distinct ``y`` values
    when ``y`` looks categorical (integers, strings, booleans); None for a regressor."""
    classes = getattr(model, "classes_", None) if model is not None else None
    if classes is not None:
        return [_plain(c) for c in np.asarray(classes).tolist()]
    if y is None or (model is not None and not hasattr(model, "predict_proba")):
        return None
    col = _column(y.to_numpy() if _is_series(y) else y)
    if col.dtype.kind == "f":
        return None
    values = sorted({_plain(v) for v in col.tolist() if v is not None}, key=lambda v: (str(type(v)), v))
    return values if len(values) <= 1000 else None
