"""The drift decision rule: which features of a window drifted, and whether the dataset did.

A feature drifts when its test is Benjamini-Hochberg significant at ``alpha`` across all tests of
the window AND its effect is large enough: effect size >= ``effect_threshold`` or PSI >=
``psi_threshold``. Significance alone fires on any shift once samples are large; the effect gate
keeps a 0.02-standard-deviation shift at a million rows quiet. A feature's missing-value test
(when it has one) joins the same family and drifts it (reason ``"missing"``) when significant and
the change of the missing share is >= ``missing_threshold``. The dataset decision follows
``dataset_rule``:

- ``"strong_or_count"`` (the default): the dataset drifts when one drifted feature is strong
  (effect size, or change of the missing share, >= ``strong_threshold`` = 0.25: a quarter of a
  standard deviation, a quarter of the probability mass, a quarter of the rows) or when at least
  ``count_threshold`` (= 2) features drifted. This is what a user expects: 5 of 20 clearly
  drifted features, or one feature that moved a lot, is a drifted dataset; one feature that just
  passed the effect gate is reported per feature but does not page anyone on its own.
- ``"any"``: any drifted feature.
- ``"count"``: at least ``count_threshold`` drifted features.
- ``"share"``: the share of drifted features among the tested ones >= ``share_threshold``. Kept
  for compatibility; a share rule misses real drift in wide datasets (5 of 20 clearly drifted
  features is a share of 0.25, under the usual 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops.drift import stats
from mlops.drift.result import FeatureDrift, finite

DATASET_RULES = ("strong_or_count", "any", "count", "share")


@dataclass
class Measurement:
    """One feature's tests in one window, before the decision (p-values not yet adjusted)."""

    kind: str
    test: str
    statistic: float = 0.0
    p_value: float = 1.0
    effect_size: float = 0.0
    effect: str = ""
    psi: float = 0.0
    n_ref: int = 0
    n_cur: int = 0
    note: str | None = None
    tested: bool = False
    missing: dict[str, Any] = field(default_factory=dict)
    missing_tested: bool = False
    missing_p: float = 1.0
    missing_effect: float = 0.0
    unseen: tuple[str, ...] = ()


@dataclass
class _Test:
    """One p-value entering the BH family."""

    feature: str
    role: str  # "main" | "missing"
    p: float


@dataclass(frozen=True)
class DecisionRule:
    """The thresholds of the decision (module docstring) and the decision itself."""

    alpha: float
    effect_threshold: float
    psi_threshold: float | None
    missing_threshold: float
    dataset_rule: str
    share_threshold: float
    count_threshold: int
    strong_threshold: float

    def features(self, pending: dict[str, Measurement]) -> dict[str, FeatureDrift]:
        """The verdict per feature, its p-values adjusted over every test of the window."""
        family: list[_Test] = []
        for name, p in pending.items():
            if p.tested:
                family.append(_Test(name, "main", p.p_value))
            if p.missing_tested:
                family.append(_Test(name, "missing", p.missing_p))
        adjusted = stats.benjamini_hochberg(np.array([t.p for t in family]))
        adj: dict[tuple[str, str], float] = {
            (t.feature, t.role): float(a) for t, a in zip(family, adjusted, strict=True)
        }
        return {name: self._feature(name, p, adj) for name, p in pending.items()}

    def _feature(self, name: str, p: Measurement, adj: dict[tuple[str, str], float]) -> FeatureDrift:
        p_adj = adj.get((name, "main"), 1.0)
        reasons: list[str] = []
        if p.tested and p_adj <= self.alpha:
            big = p.effect_size >= self.effect_threshold
            big_psi = self.psi_threshold is not None and p.psi >= self.psi_threshold
            if big or big_psi:
                reasons.append("distribution")
        missing = dict(
            p.missing,
            p_value=None,
            p_adjusted=None,
            effect_size=abs(p.missing["cur_share"] - p.missing["ref_share"]),
        )
        if p.missing_tested:
            m_adj = adj[(name, "missing")]
            missing.update(p_value=p.missing_p, p_adjusted=m_adj)
            if m_adj <= self.alpha and p.missing_effect >= self.missing_threshold:
                reasons.append("missing")
        return FeatureDrift(
            kind=p.kind,
            test=p.test,
            statistic=finite(p.statistic),
            p_value=finite(p.p_value),
            p_adjusted=finite(p_adj),
            effect_size=finite(p.effect_size),
            effect=p.effect,
            psi=finite(p.psi),
            drifted=bool(reasons),
            reasons=tuple(reasons),
            n_ref=p.n_ref,
            n_cur=p.n_cur,
            missing=missing,
            note=p.note,
            unseen=p.unseen,
        )

    def dataset(self, features: dict[str, FeatureDrift], pending: dict[str, Measurement]) -> dict[str, Any]:
        """The dataset verdict (``dataset_rule``) from the feature verdicts."""
        n_tested = sum(1 for f in pending.values() if f.tested or f.missing_tested)
        drifted_names = [n for n, f in features.items() if f.drifted]
        share = len(drifted_names) / n_tested if n_tested else 0.0
        strong_names = [
            n
            for n in drifted_names
            if ("distribution" in features[n].reasons and features[n].effect_size >= self.strong_threshold)
            or ("missing" in features[n].reasons and pending[n].missing_effect >= self.strong_threshold)
        ]
        if self.dataset_rule == "any":
            dataset_drift = bool(drifted_names)
        elif self.dataset_rule == "count":
            dataset_drift = len(drifted_names) >= self.count_threshold
        elif self.dataset_rule == "strong_or_count":
            dataset_drift = bool(strong_names) or len(drifted_names) >= self.count_threshold
        else:
            dataset_drift = n_tested > 0 and share >= self.share_threshold
        return {
            "drifted": dataset_drift,
            "rule": self.dataset_rule,
            "share": share,
            "n_drifted": len(drifted_names),
            "n_tested": n_tested,
            "n_features": len(features),
            "drifted_features": drifted_names,
            "strong_features": strong_names,
        }
