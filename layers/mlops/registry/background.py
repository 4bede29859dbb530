"""A version's explanation background: a sample of at most 100 training rows, stored at registration.

Model-agnostic explanations (``mlops.serving.sampling_shap``) need a background to replace "absent"
features with. The sample is drawn with a fixed seed from the training frame, written as ``.npz``
(no pickle) under its sha256 like an artifact, and verified by sha256 when serving loads it. Only
all-numeric signatures get one (text features are not explained).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlops.registry import artifacts
from mlops.serving.payload import TEXT_DTYPES
from mlops.serving.sampling_shap import BACKGROUND_FORMAT, BACKGROUND_ROWS, background_to_npz


def store_background(
    store: Any, sig: Mapping[str, Any], columns: Mapping[str, Any] | None, *, rows: int = BACKGROUND_ROWS
) -> dict[str, Any] | None:
    """Store a seeded sample of at most ``rows`` training rows; its reference for the version record, or
    None (no training frame, or a text feature)."""
    if columns is None:
        return None
    inputs = list(sig.get("inputs") or [])
    if not inputs or any(str(f.get("dtype", "float64")) in TEXT_DTYPES for f in inputs):
        return None
    names = [str(f["name"]) for f in inputs]
    try:
        X = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])
    except (TypeError, ValueError, KeyError):
        return None
    n = X.shape[0]
    if n == 0:
        return None
    pick = np.sort(np.random.default_rng(0).choice(n, size=min(rows, n), replace=False))
    up = artifacts.upload(store, background_to_npz(X[pick], names))
    return {
        "sha256": up["sha256"],
        "size": up["size"],
        "key": up["key"],
        "format": BACKGROUND_FORMAT,
        "rows": len(pick),
    }
