"""Drift detection: reference profiles made at registration, vectorized tests per window, reports."""

from mlops.drift.detector import DriftDetector, DriftMonitor, DriftResult, FeatureDrift, persistent_alarm
from mlops.drift.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    build_reference_profile,
    load_profile,
)
from mlops.drift.report import render_html, render_json

__all__ = [
    "CategoricalReference",
    "DriftDetector",
    "DriftMonitor",
    "DriftResult",
    "FeatureDrift",
    "NumericReference",
    "ReferenceProfile",
    "build_reference_profile",
    "load_profile",
    "persistent_alarm",
    "render_html",
    "render_json",
]
