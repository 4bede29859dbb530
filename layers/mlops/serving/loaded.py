"""A loaded model version as serving holds it, where it comes from, and how it scores rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlops.serving.payload import Signature


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    version: int
    signature: Signature
    classes: list | None
    has_proba: bool
    loaded_at: float
    # (rows, features) float64: the training sample stored at registration for model-agnostic
    # explanations (``mlops.serving.sampling_shap``); None when the version has none ...
    background: np.ndarray | None = None
    background_error: str | None = None  # ... and why, when it has one that cannot be used


class ModelSource(Protocol):
    """Where a variant's model comes from (the registry, in production)."""

    def resolve(self) -> int | None: ...
    def load(self, version: int) -> LoadedModel: ...
    def resolve_shadow(self) -> tuple[int, float] | None: ...


def score(m: LoadedModel, X: np.ndarray) -> tuple[list, np.ndarray | None, np.ndarray | None]:
    """(predictions as plain Python values, class probabilities, confidence) of ``m`` on rows ``X``."""
    if m.has_proba:
        proba = m.model.predict_proba(X)
        idx = proba.argmax(axis=1)
        preds = [m.classes[i] for i in idx] if m.classes is not None else idx.tolist()
        confidence = proba.max(axis=1)
    else:
        proba, confidence = None, None
        preds = m.model.predict(X).tolist()
    return [p.item() if isinstance(p, np.generic) else p for p in preds], proba, confidence
