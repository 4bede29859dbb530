"""ONNX export at registration (issue 18): a non-tree model is also stored as ONNX, verified, by sha256.

``store_onnx`` runs when a version is registered with its model object and training rows and has no
compiled tree scorer. A model made only of the ``SUPPORTED`` scikit-learn classes (linear models,
scalers, one-hot encoding through a ``ColumnTransformer``, MLPs, SVC) is converted with skl2onnx (``ZipMap`` off, so outputs are plain
tensors), preferring float64 inputs and falling back to float32 when a converter needs it (a
``OneHotEncoder`` next to numeric columns does), then scores up to ``VERIFY_ROWS`` training rows with
onnxruntime through the serving class itself (``mlops.serving.onnxscorer.OnnxScorer``) and compares
with the model: class labels identical (the ONNX label and the arg-max of the probabilities, which is
what serving answers), probabilities within ``PROBA_ATOL`` absolute, regression values within
``VALUE_ATOL`` absolute or ``VALUE_RTOL`` relative. Only bytes that pass are uploaded (named by their
sha256), and serving loads them with onnxruntime, neither pickle nor scikit-learn.

Anything else is not an error: the version record's ``onnx`` says ``{"status": "unsupported" |
"mismatch", "reason": ...}`` and serving uses the joblib artifact (``mlops models show`` says so).
skl2onnx is imported here, lazily, only when a version is registered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops.registry import artifacts

VERIFY_ROWS = 1000
PROBA_ATOL = 1e-5
VALUE_ATOL, VALUE_RTOL = 1e-5, 1e-6
OPSET = {"": 17, "ai.onnx.ml": 3}
INPUT_DTYPES = ("double", "float")  # tried in this order
# scikit-learn classes the export is tested with (tests/unit/registry/test_onnx_export.py): smooth models,
# so float32 rounding moves an answer by ~1e-7, not across a tree threshold; anything else keeps joblib
SUPPORTED = frozenset(
    {
        "Pipeline",
        "ColumnTransformer",
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "OneHotEncoder",
        "LogisticRegression",
        "LinearRegression",
        "Ridge",
        "Lasso",
        "ElasticNet",
        "MLPClassifier",
        "MLPRegressor",
        "SVC",
    }
)


class NotExported(Exception):
    """Why a model has no ONNX export: ``status`` is ``unsupported`` or ``mismatch``."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def store_onnx(
    store: Any,
    model_obj: Any,
    sig: dict[str, Any],
    columns: Mapping[str, Any] | None,
    compiled: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The version record's ``onnx``: the verified export's reference (``sha256``, ``size``, ``key``,
    ``format``, ``dtype``, ``rows``, ``max_abs_diff``, ``tolerance``), ``{"status", "reason"}`` when
    there is none, or None when there was nothing to export (no model object or training rows, or the
    version has a compiled tree scorer). Never raises for the model's sake: registration goes on."""
    if model_obj is None or columns is None or compiled:
        return None
    try:
        data, facts = export_verified(model_obj, sig, columns)
    except NotExported as exc:
        return {"status": exc.status, "reason": exc.reason[:500]}
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the version registers and serves from joblib
        return {"status": "unsupported", "reason": f"export failed: {type(exc).__name__}: {exc}"[:500]}
    up = artifacts.upload(store, data, content_type="application/octet-stream")
    return {
        "status": "verified",
        "sha256": up["sha256"],
        "size": up["size"],
        "key": f"artifacts/sha256/{up['sha256']}",
        **facts,
    }


def served_as(rec: Mapping[str, Any]) -> str:
    """How serving scores a version: ``compiled trees``, ``onnx (onnxruntime)`` or ``joblib (why)``."""
    if rec.get("compiled"):
        return "compiled trees"
    ref = rec.get("onnx")
    if isinstance(ref, Mapping) and ref.get("sha256"):
        return "onnx (onnxruntime)"
    if isinstance(ref, Mapping) and ref.get("reason"):
        return f"joblib ({ref.get('status')}: {ref['reason']})"
    if ref is None and "onnx" in rec:
        return "joblib (no ONNX export: registered without the model object and training rows)"
    return "joblib (registered before ONNX export)"


def export_verified(
    model: Any, sig: dict[str, Any], columns: Mapping[str, Any]
) -> tuple[bytes, dict[str, Any]]:
    """(ONNX bytes, facts for the record) of ``model``, verified on training rows; ``NotExported`` if not."""
    from mlops.serving.payload import TEXT_DTYPES

    others = sorted({type(p).__name__ for p in parts(model) if not _supported(p)})
    if others:
        raise NotExported("unsupported", f"not in the ONNX-exported set: {', '.join(others)[:300]}")
    text = [str(f.get("dtype")) in TEXT_DTYPES for f in sig["inputs"]]
    X = probe_rows(sig, columns, text)
    try:
        expected = _expected(model, X)
    except Exception as exc:  # noqa: BLE001 - the model cannot score served rows: no export, joblib says why
        raise NotExported("unsupported", f"the model does not score rows as served: {exc}") from None
    failures: list[str] = []
    for dtype in INPUT_DTYPES:
        try:
            data, scorer = _convert(model, text, dtype, expected)
        except NotExported:
            raise  # no converter: the other dtype has none either
        except Exception as exc:  # noqa: BLE001 - a converter or onnxruntime refusing the model
            failures.append(f"{dtype}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        diff = check_same(scorer, expected, X)
        if diff is None:
            failures.append(f"{dtype}: {_mismatch(scorer, expected, X)}")
            continue

        tol = PROBA_ATOL if "proba" in expected else {"atol": VALUE_ATOL, "rtol": VALUE_RTOL}
        return data, {
            "format": "onnx",
            "dtype": dtype,
            "rows": len(X),
            "max_abs_diff": diff,
            "tolerance": tol,
        }
    status = "mismatch" if any("differ" in f for f in failures) else "unsupported"
    why = [f.split(": ", 1)[1] for f in failures]
    raise NotExported(status, why[0] if len(set(why)) == 1 else "; ".join(failures))


def parts(model: Any) -> list[Any]:
    """The model and every step inside it (pipeline steps, column transformers' transformers)."""
    found = [model]
    for _, step in getattr(model, "steps", None) or []:
        found += parts(step)
    for _, tr, _cols in getattr(model, "transformers_", None) or []:
        found += parts(tr)
    return [p for p in found if not isinstance(p, str) and p is not None]  # "passthrough" / "drop"


def _supported(part: Any) -> bool:
    cls = type(part)
    if not cls.__module__.startswith("sklearn."):
        return False
    if (
        cls.__name__ == "FunctionTransformer"
    ):  # the identity a ColumnTransformer's passthrough remainder becomes
        return getattr(part, "func", None) is None
    return cls.__name__ in SUPPORTED


def probe_rows(sig: dict[str, Any], columns: Mapping[str, Any], text: list[bool]) -> Any:
    """Up to ``VERIFY_ROWS`` training rows spread over the frame, as serving hands them to a model:
    float64, or an object array with str cells for string features and floats for the rest."""
    import numpy as np

    names = [f["name"] for f in sig["inputs"]]
    n = len(columns[names[0]])
    idx = np.unique(np.linspace(0, n - 1, min(n, VERIFY_ROWS)).astype(np.int64))
    if not any(text):
        return np.column_stack([np.asarray(columns[c], dtype=np.float64)[idx] for c in names])
    X = np.empty((len(idx), len(names)), dtype=object)
    for j, c in enumerate(names):
        col = np.asarray(columns[c], dtype=object)[idx]
        X[:, j] = [str(v) for v in col] if text[j] else [float(v) for v in col]
    return X


def _expected(model: Any, X: Any) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {"predict": np.asarray(model.predict(X))}
    if hasattr(model, "classes_") and hasattr(model, "predict_proba"):
        out["proba"] = np.asarray(model.predict_proba(X), dtype=np.float64)
    if hasattr(model, "classes_"):
        out["classes"] = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    return out


def _convert(model: Any, text: list[bool], dtype: str, expected: dict[str, Any]) -> tuple[bytes, Any]:
    """(bytes, scorer over them) of the skl2onnx conversion with ``dtype`` numeric inputs."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
    from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator

    from mlops.serving.onnxscorer import FORMAT, META_KEY, OnnxScorer, session_of

    num = DoubleTensorType if dtype == "double" else FloatTensorType
    if any(text):
        types = [(f"c{j}", StringTensorType([None, 1]) if t else num([None, 1])) for j, t in enumerate(text)]
        layout, dtypes = "columns", ["string" if t else dtype for t in text]
    else:
        types, layout, dtypes = [("X", num([None, len(text)]))], "matrix", [dtype]
    classifier = "classes" in expected
    try:
        onx = convert_sklearn(
            model,
            initial_types=types,
            target_opset=OPSET,
            options={id(model): {"zipmap": False}} if classifier else None,
        )
    except (MissingConverter, MissingShapeCalculator) as exc:  # no converter for a step of the model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotExported("unsupported", f"skl2onnx cannot convert it: {first[:300]}") from None
    outputs = [o.name for o in onx.graph.output]
    meta = {
        "format": FORMAT,
        "layout": layout,
        "dtypes": dtypes,
        "task": "classifier" if classifier else "regressor",
        "outputs": outputs[:2] if classifier else outputs[:1],
        "classes": expected.get("classes"),
        "has_proba": "proba" in expected,
    }
    onx.metadata_props.add(key=META_KEY, value=json.dumps(meta))
    data = onx.SerializeToString()
    return data, OnnxScorer.from_session(session_of(data), meta)


def check_same(scorer: Any, expected: dict[str, Any], X: Any) -> float | None:
    """The largest absolute difference on ``X`` when the scorer agrees with the model within tolerance
    (labels identical), else None."""
    import numpy as np

    pred = np.asarray(scorer.predict(X))
    if "classes" in expected:
        if pred.shape != expected["predict"].shape or not np.array_equal(pred, expected["predict"]):
            return None
        if "proba" not in expected:
            return 0.0
        proba = scorer.predict_proba(X)
        want = expected["proba"]
        if proba.shape != want.shape or not np.array_equal(proba.argmax(axis=1), want.argmax(axis=1)):
            return None
        diff = float(np.abs(proba - want).max())
        return diff if diff <= PROBA_ATOL else None
    want = np.asarray(expected["predict"], dtype=np.float64)
    if pred.shape != want.shape or not np.allclose(pred, want, rtol=VALUE_RTOL, atol=VALUE_ATOL):
        return None
    return float(np.abs(pred - want).max())


def _mismatch(scorer: Any, expected: dict[str, Any], X: Any) -> str:
    """What differs, for the record (only called when ``check_same`` said no)."""
    import numpy as np

    try:
        pred = np.asarray(scorer.predict(X))
        if pred.shape != np.asarray(expected["predict"]).shape:
            return f"outputs differ in shape: {pred.shape} vs {np.asarray(expected['predict']).shape}"
        if "proba" in expected:
            d = float(np.abs(scorer.predict_proba(X) - expected["proba"]).max())
            return f"outputs differ: labels or probabilities (max |diff| {d:.3g} > {PROBA_ATOL:g})"
        d = float(np.abs(pred.astype(np.float64) - expected["predict"].astype(np.float64)).max())
        return f"outputs differ: max |diff| {d:.3g} (tolerance {VALUE_ATOL:g} + {VALUE_RTOL:g}*|value|)"
    except Exception as exc:  # noqa: BLE001
        return f"outputs differ: {type(exc).__name__}: {exc}"[:300]


def scorer(data: bytes) -> Any:
    """The serving scorer over ONNX bytes already verified by sha256 (``Registry.get_onnx``)."""
    from mlops.serving.onnxscorer import OnnxScorer

    return OnnxScorer.from_bytes(data)
