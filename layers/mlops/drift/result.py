"""The drift result: the verdict on one feature (``FeatureDrift``) and on one window (``DriftResult``).

Nothing in a result is NaN or infinite (``finite``). Shape of ``DriftResult.to_dict()``
(JSON-serializable)::

    {"format": "mlops-drift-result/1",
     "dataset": {"drifted": true, "rule": "strong_or_count", "share": 0.25, "n_drifted": 5,
                 "n_tested": 20, "n_features": 20, "drifted_features": ["f3", ...],
                 "strong_features": ["f3"]},
     "features": {
       "f3": {"kind": "numeric", "test": "ks", "statistic": 0.21, "p_value": 1e-40,
              "p_adjusted": 2e-39, "effect_size": 0.52, "effect": "wasserstein/std",
              "psi": 0.31, "drifted": true, "reasons": ["distribution"],
              "n_ref": 50000, "n_cur": 4980,
              "missing": {"ref_share": 0.0, "cur_share": 0.004, "p_value": 0.001,
                          "p_adjusted": 0.01, "effect_size": 0.004},   # p_* null if not tested
              "note": null},
       "c1": {"kind": "categorical", "test": "chi2", ..., "effect": "tvd",
              "unseen": ["new-category"], ...}},
     "window": {"n_rows": 5000, ...caller's metadata (endpoint, model, version, start, end)},
     "config": {"alpha": 0.05, "effect_threshold": 0.1, "psi_threshold": 0.2,
                "missing_threshold": 0.1, "dataset_rule": "strong_or_count", "share_threshold": 0.5,
                "count_threshold": 2, "strong_threshold": 0.25, "min_rows": 50}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESULT_FORMAT = "mlops-drift-result/1"


def finite(x: float) -> float:
    """``x`` as a float with NaN as 0 and +-inf as the largest finite float of its sign."""
    x = float(x)
    return x if math.isfinite(x) else (0.0 if math.isnan(x) else math.copysign(1.7976931348623157e308, x))


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one feature in one window."""

    kind: str
    test: str
    statistic: float
    p_value: float
    p_adjusted: float
    effect_size: float
    effect: str
    psi: float
    drifted: bool
    reasons: tuple[str, ...]
    n_ref: int
    n_cur: int
    missing: Mapping[str, float | None]
    note: str | None = None
    unseen: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "effect_size": self.effect_size,
            "effect": self.effect,
            "psi": self.psi,
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "missing": dict(self.missing),
            "note": self.note,
        }
        if self.kind == "categorical":
            out["unseen"] = list(self.unseen)
        return out


@dataclass(frozen=True)
class DriftResult:
    """The verdict on one window: per feature, for the dataset, and what was compared."""

    features: Mapping[str, FeatureDrift]
    dataset: Mapping[str, Any]
    window: Mapping[str, Any]
    config: Mapping[str, Any]

    @property
    def drifted(self) -> bool:
        return bool(self.dataset["drifted"])

    @property
    def drifted_features(self) -> list[str]:
        return [n for n, f in self.features.items() if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (module docstring)."""
        return {
            "format": RESULT_FORMAT,
            "dataset": dict(self.dataset),
            "features": {n: f.to_dict() for n, f in self.features.items()},
            "window": dict(self.window),
            "config": dict(self.config),
        }
