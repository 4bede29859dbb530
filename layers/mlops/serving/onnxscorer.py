"""An ONNX export of a non-tree model, scored with onnxruntime: no pickle, no scikit-learn at serving time.

Why: a logistic-regression pipeline served from joblib makes a cold function import scikit-learn
(~1 s) before its first answer; onnxruntime is a single extension module. The registry exports the
model with skl2onnx when the version is registered (``mlops.registry.onnxexport``), runs it through
this very class on training rows against the model, and stores it by sha256; serving verifies
the bytes before onnxruntime parses them (``Registry.get_onnx``).

The file carries what scoring needs in its metadata (``mlops`` key, JSON): how rows are fed
(``layout`` ``matrix``, one ``[n, d]`` tensor, or ``columns``, one ``[n, 1]`` tensor per feature
so string features stay strings), each input's dtype, the task, the output names and the classes.
``ZipMap`` is off, so outputs are plain tensors. Sessions run on one thread (a function has a
1-OCPU slice) with onnxruntime's telemetry off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "onnx"
META_KEY = "mlops"
_NP = {"double": np.float64, "float": np.float32}


def session_of(data: bytes) -> Any:
    """An onnxruntime session over verified ONNX bytes: CPU, one thread, quiet, no telemetry."""
    import onnxruntime as ort

    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])


@dataclass
class OnnxScorer:
    """``predict`` / ``predict_proba`` / ``classes`` / ``has_proba`` over an onnxruntime session, fed
    the rows serving validated (float64, or object with str cells for string features)."""

    session: Any
    layout: str  # "matrix" | "columns"
    dtypes: tuple[str, ...]  # per input: "double" | "float" | "string"
    task: str  # "classifier" | "regressor"
    outputs: tuple[str, ...]  # classifier: (label, probabilities); regressor: (values,)
    classes: list[Any] | None
    has_proba: bool

    @classmethod
    def from_bytes(cls, data: bytes) -> OnnxScorer:
        """Parse verified bytes (``Registry.get_onnx`` checks the sha256 first); ``ValueError`` if the file
        is not one of ours."""
        sess = session_of(data)
        raw = sess.get_modelmeta().custom_metadata_map.get(META_KEY)
        if raw is None:
            raise ValueError("not an mlops ONNX export (no 'mlops' metadata)")
        return cls.from_session(sess, json.loads(raw))

    @classmethod
    def from_session(cls, sess: Any, meta: dict[str, Any]) -> OnnxScorer:
        if meta.get("format") != FORMAT or meta.get("layout") not in ("matrix", "columns"):
            raise ValueError(f"unknown ONNX export metadata {meta!r:.200}")
        return cls(
            session=sess,
            layout=str(meta["layout"]),
            dtypes=tuple(meta["dtypes"]),
            task=str(meta["task"]),
            outputs=tuple(meta["outputs"]),
            classes=list(meta["classes"]) if meta.get("classes") is not None else None,
            has_proba=bool(meta["has_proba"]),
        )

    def _feeds(self, X: Any) -> dict[str, np.ndarray]:
        names = [i.name for i in self.session.get_inputs()]
        if self.layout == "matrix":
            return {names[0]: np.ascontiguousarray(X, dtype=_NP[self.dtypes[0]])}
        X = np.asarray(X, dtype=object) if self.dtypes.count("string") else np.asarray(X)
        feeds = {}
        for j, (name, dt) in enumerate(zip(names, self.dtypes, strict=True)):
            col = X[:, j : j + 1]
            feeds[name] = col.astype(str) if dt == "string" else np.ascontiguousarray(col, dtype=_NP[dt])
        return feeds

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.has_proba:
            raise AttributeError("this model has no predict_proba")
        out = self.session.run([self.outputs[1]], self._feeds(X))[0]
        return np.asarray(out, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        out = np.asarray(self.session.run([self.outputs[0]], self._feeds(X))[0])
        if self.task == "regressor":
            out = out.astype(np.float64)
            return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out
        return out.ravel()
