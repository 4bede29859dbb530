"""Per-feature chart data of a drift window (the console draws it): histogram shares and ECDFs of
reference vs window for numeric features, category shares for categorical ones.

The drift job stores it with the window's JSON result (``plots``), because the window's values are not
kept anywhere else; the shapes are small and fixed (``HIST_BINS`` bins, ``ECDF_POINTS`` grid points,
``MAX_CATEGORIES`` categories), so a report stays a few kilobytes per feature at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlops.drift.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    count_categories,
    split_finite,
)

HIST_BINS = 30
ECDF_POINTS = 61
MAX_CATEGORIES = 20


def _round(values: Any) -> list[float]:
    return [round(float(v), 6) for v in values]


def numeric_plot(ref: np.ndarray, cur: np.ndarray, name: str) -> dict[str, Any]:
    """Histogram shares on shared edges (0.5%..99.5% quantiles of both) and ECDFs on a shared grid."""
    both = np.concatenate((ref, cur)) if ref.shape[0] and cur.shape[0] else (ref if ref.shape[0] else cur)
    if both.shape[0] == 0:
        return {"kind": "numeric", "x_label": name, "edges": [], "reference": [], "current": [], "ecdf": None}
    lo, hi = (float(v) for v in np.quantile(both, [0.005, 0.995]))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)

    def shares(x: np.ndarray) -> list[float]:
        if x.shape[0] == 0:
            return [0.0] * HIST_BINS
        h, _ = np.histogram(np.clip(x, lo, hi), bins=edges)
        return _round(h / x.shape[0])

    grid = np.linspace(lo, hi, ECDF_POINTS)

    def ecdf(x: np.ndarray) -> list[float]:
        if x.shape[0] == 0:
            return []
        return _round(np.searchsorted(np.sort(x), grid, side="right") / x.shape[0])

    return {
        "kind": "numeric",
        "x_label": name,
        "y_label_hist": "share of rows",
        "y_label_ecdf": "cumulative share",
        "edges": _round(edges),
        "reference": shares(ref),
        "current": shares(cur),
        "ecdf": {"x": _round(grid), "reference": ecdf(ref), "current": ecdf(cur)},
    }


def categorical_plot(ref: CategoricalReference, column: Any, name: str) -> dict[str, Any]:
    """Shares of the most frequent categories (reference order), window share of each, and the rest."""
    cur_counts, _missing = count_categories(column if column is not None else [])
    cur_total = sum(cur_counts.values()) or 1
    ref_total = int(ref.counts.sum()) or 1
    order = [ref.categories[i] for i in np.argsort(-ref.counts, kind="stable")][:MAX_CATEGORIES]
    unseen = sorted((c for c in cur_counts if c not in ref.index), key=lambda c: -cur_counts[c])
    cats = order + unseen[: max(0, MAX_CATEGORIES - len(order))]
    return {
        "kind": "categorical",
        "x_label": name,
        "y_label": "share of rows",
        "categories": cats,
        "reference": _round(
            (int(ref.counts[ref.index[c]]) if c in ref.index else 0) / ref_total for c in cats
        ),
        "current": _round(cur_counts.get(c, 0) / cur_total for c in cats),
    }


def plot_data(profile: ReferenceProfile, current: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{feature: plot}`` for every feature of the profile."""
    out: dict[str, dict[str, Any]] = {}
    for name, ref in profile.features.items():
        col = current.get(name)
        if isinstance(ref, NumericReference):
            cur = split_finite(col)[0] if col is not None else np.empty(0)
            out[name] = numeric_plot(ref.sample, cur, name)
        elif isinstance(ref, CategoricalReference):
            out[name] = categorical_plot(ref, col, name)
    return out
