"""Drift detection: reference profiles made at registration, vectorized tests per window, reports."""

from mlops.drift.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    build_reference_profile,
    load_profile,
)

__all__ = [
    "CategoricalReference",
    "NumericReference",
    "ReferenceProfile",
    "build_reference_profile",
    "load_profile",
]
