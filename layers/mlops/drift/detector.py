"""Drift decisions for a window of production data against a reference profile, and their persistence.

Which features drifted and whether the dataset did is the decision rule of
``mlops.drift.decision`` (BH-adjusted significance and an effect gate per feature; the dataset by
``dataset_rule``, default ``"strong_or_count"``); ``mlops.drift.persistence`` turns a history of
window decisions into an alarm (k drifted windows out of the last n). This module measures.

Tests and effect sizes per kind (see ``mlops.drift.stats`` for the exact definitions):

- numeric: two-sample KS (statistic bit-equal to ``scipy.stats.ks_2samp``, scipy's ``auto``
  p-value); effect = Wasserstein-1 / reference standard deviation (if the reference is constant:
  / max(|reference value|, 1)); PSI on the reference decile bins. Missing values (NaN, +-inf, None)
  are left out of KS and tested on their own: a 2 x 2 chi-square on (present, missing) counts,
  with effect |missing share now - missing share in the reference| against ``missing_threshold``.
  This test joins the BH family only when either side has missing values. An all-missing window
  of a feature that had values therefore drifts (reason ``"missing"``) instead of being silent.
- categorical: chi-square homogeneity over the categories of both sides plus a missing slot
  (unseen categories are columns with reference count 0), after pooling the columns whose
  expected count is below 5 into cells of similar frequency (``categorical.pool_sparse_cells``; many rare
  categories otherwise break the chi-square approximation); effect (``"tvd"``) = total variation
  distance of the pooled table less the part sampling noise adds, or the largest change of one
  category's share less sqrt(2 ln K) standard errors if that is larger (both floored at 0, both
  lower bounds of the distance, ``mlops.drift.stats``); PSI over
  the same pooled cells minus its null expectation. Both corrections keep two samples of the same
  distribution near 0 whatever the number of categories and the sample sizes.

A feature with fewer than ``min_rows`` current values (or no reference values) is not tested: its
statistic is 0, p-values 1, effect 0 and ``note`` says why (``"too_few_rows"``,
``"all_missing"``, ``"no_reference"``; it can still drift through its missing-value test); a
feature missing from the window's columns gets ``"absent"`` and is treated as all-missing.
Nothing in a result is NaN or infinite. ``n_ref`` counts the reference values the test used (for
numeric features the profile's sample), ``n_cur`` the window's non-missing values; the window
meta lists columns that are not in the profile as ``ignored_columns``.

The result (``DriftResult``, its JSON shape) is documented in ``mlops.drift.result``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlops.drift import categorical, stats
from mlops.drift.decision import DATASET_RULES, DecisionRule, Measurement
from mlops.drift.persistence import DriftMonitor, persistent_alarm
from mlops.drift.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    count_categories,
    load_profile,
    numeric_values,
)
from mlops.drift.result import RESULT_FORMAT, DriftResult, FeatureDrift, finite
from mlops.errors import BadRequestError

MISSING_KEY = "\x00missing"  # internal slot for missing categorical values; never a real key

__all__ = [
    "DATASET_RULES",
    "MISSING_KEY",
    "RESULT_FORMAT",
    "DriftDetector",
    "DriftMonitor",
    "DriftResult",
    "FeatureDrift",
    "persistent_alarm",
]


class DriftDetector:
    """Compare windows of production data with one reference profile (load it once, reuse)."""

    def __init__(
        self,
        profile: Mapping[str, Any] | ReferenceProfile,
        *,
        alpha: float = 0.05,
        effect_threshold: float = 0.1,
        psi_threshold: float | None = 0.2,
        missing_threshold: float = 0.1,
        dataset_rule: str = "strong_or_count",
        share_threshold: float = 0.5,
        count_threshold: int = 2,
        strong_threshold: float = 0.25,
        min_rows: int = 50,
    ):
        if not 0 < alpha < 1:
            raise BadRequestError("alpha must be in (0, 1)")
        if dataset_rule not in DATASET_RULES:
            raise BadRequestError(f"dataset_rule must be one of {DATASET_RULES}, not {dataset_rule!r}")
        if (
            effect_threshold < 0
            or missing_threshold < 0
            or strong_threshold < 0
            or (psi_threshold is not None and psi_threshold < 0)
        ):
            raise BadRequestError("thresholds must be >= 0")
        if not 0 < share_threshold <= 1:
            raise BadRequestError("share_threshold must be in (0, 1]")
        if count_threshold < 1 or min_rows < 1:
            raise BadRequestError("count_threshold and min_rows must be >= 1")
        self.profile = load_profile(profile)
        self.alpha = float(alpha)
        self.effect_threshold = float(effect_threshold)
        self.psi_threshold = None if psi_threshold is None else float(psi_threshold)
        self.missing_threshold = float(missing_threshold)
        self.dataset_rule = dataset_rule
        self.share_threshold = float(share_threshold)
        self.count_threshold = int(count_threshold)
        self.strong_threshold = float(strong_threshold)
        self.min_rows = int(min_rows)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "effect_threshold": self.effect_threshold,
            "psi_threshold": self.psi_threshold,
            "missing_threshold": self.missing_threshold,
            "dataset_rule": self.dataset_rule,
            "share_threshold": self.share_threshold,
            "count_threshold": self.count_threshold,
            "strong_threshold": self.strong_threshold,
            "min_rows": self.min_rows,
        }

    # ------------------------------------------------------------------ compare

    def compare(self, current: Mapping[str, Any], *, window: Mapping[str, Any] | None = None) -> DriftResult:
        """Test one window (columns by feature name, equal lengths) against the reference."""
        n_rows = self._row_count(current)
        pending: dict[str, Measurement] = {}
        num = [(n, f) for n, f in self.profile.features.items() if isinstance(f, NumericReference)]
        self._numeric(num, current, n_rows, pending)
        for name, ref in self.profile.features.items():
            if isinstance(ref, CategoricalReference):
                pending[name] = self._categorical(ref, current.get(name), n_rows)
        ordered = {name: pending[name] for name in self.profile.features}
        return self._decide(ordered, current, n_rows, window)

    def _row_count(self, current: Mapping[str, Any]) -> int:
        lengths: dict[str, int] = {}
        for name, col in current.items():
            if np.ndim(col) != 1:
                raise BadRequestError(f"window column {str(name)[:80]!r} must be one-dimensional")
            lengths[name] = int(np.shape(col)[0])
        distinct = set(lengths.values())
        if len(distinct) > 1:
            raise BadRequestError(f"window columns have different lengths: {dict(sorted(lengths.items()))}")
        return distinct.pop() if distinct else 0

    def _numeric(
        self,
        num: list[tuple[str, NumericReference]],
        current: Mapping[str, Any],
        n_rows: int,
        pending: dict[str, Measurement],
    ) -> None:
        if not num:
            return
        matrix = np.empty((len(num), n_rows))
        absent: set[str] = set()
        for j, (name, _) in enumerate(num):
            if name in current:
                matrix[j] = numeric_values(current[name])
            else:
                matrix[j] = np.nan
                absent.add(name)
        matrix.sort(axis=1)  # the only sort of the window, all features at once
        # sorted rows read [-inf..., finite..., +inf..., NaN...]: the finite part is found by bisection
        lo = [int(np.searchsorted(row, -np.inf, side="right")) for row in matrix]
        hi = [int(np.searchsorted(row, np.inf, side="left")) for row in matrix]
        refs, samples, curs, grids, tested = [], [], [], [], []
        for j, (name, ref) in enumerate(num):
            n2 = hi[j] - lo[j]
            p = self._numeric_missing(ref, n2, n_rows, "absent" if name in absent else None)
            if ref.sample.shape[0] == 0:
                p.note = p.note or "no_reference"
            elif n2 < self.min_rows:
                p.note = p.note or ("all_missing" if n2 == 0 and n_rows > 0 else "too_few_rows")
            else:
                p.tested = True
                cur = matrix[j, lo[j] : hi[j]]
                refs.append(ref.ks)
                samples.append(ref.sample)
                curs.append(cur)
                grids.append(ref.quantiles)
                tested.append(name)
                p.psi = stats.psi(ref.bin_fractions, stats.sorted_bin_fractions(cur, ref.bin_edges))
            pending[name] = p
        if not tested:
            return
        stat, pval = stats.ks_many(refs, curs)
        w1 = stats.wasserstein_grid(samples, curs, grids)
        scales = {name: _scale(ref) for name, ref in num}
        for i, name in enumerate(tested):
            p = pending[name]
            p.statistic, p.p_value = float(stat[i]), float(pval[i])
            p.effect_size = finite(w1[i] / scales[name])

    def _numeric_missing(self, ref: NumericReference, n2: int, n_rows: int, note: str | None) -> Measurement:
        """A numeric feature's measurement and its missing-value test (``n2`` finite of ``n_rows``)."""
        missing_cur = n_rows - n2
        p = Measurement(
            kind="numeric",
            test="ks",
            effect="wasserstein/std",
            n_ref=int(ref.sample.shape[0]),
            n_cur=n2,
            note=note,
        )
        p.missing = {
            "ref_share": ref.missing_share,
            "cur_share": (missing_cur / n_rows) if n_rows else 0.0,
        }
        if n_rows >= self.min_rows and (ref.n_missing > 0 or missing_cur > 0):
            _, mp, _ = categorical.chi2_homogeneity(
                np.array([ref.n, ref.n_missing]), np.array([n2, missing_cur])
            )
            p.missing_tested, p.missing_p = True, mp
            p.missing_effect = abs(p.missing["cur_share"] - p.missing["ref_share"])
        return p

    def _categorical(self, ref: CategoricalReference, column: Any, n_rows: int) -> Measurement:
        p = Measurement(kind="categorical", test="chi2", effect="tvd", n_ref=ref.n)
        counts: dict[str, int]
        if column is None:
            counts, n_missing = {}, n_rows
            p.note = "absent"
        else:
            counts, n_missing = count_categories(column)
        unseen = sorted(k for k in counts if k not in ref.index)
        p.unseen = tuple(unseen)
        p.n_cur = int(sum(counts.values()))
        p.missing = {
            "ref_share": ref.n_missing / (ref.n + ref.n_missing) if ref.n + ref.n_missing else 0.0,
            "cur_share": n_missing / n_rows if n_rows else 0.0,
        }
        k = len(ref.categories)
        ref_counts = np.zeros(k + len(unseen) + 1, dtype=np.int64)
        cur_counts = np.zeros_like(ref_counts)
        ref_counts[:k] = ref.counts
        ref_counts[-1] = ref.n_missing
        slot = {key: k + i for i, key in enumerate(unseen)}
        for key, c in counts.items():
            cur_counts[ref.index[key] if key in ref.index else slot[key]] = c
        cur_counts[-1] = n_missing
        if ref.n + ref.n_missing == 0:
            p.note = p.note or "no_reference"
            return p
        if n_rows < self.min_rows:
            p.note = p.note or "too_few_rows"
            return p
        p.tested = True
        pooled_r, pooled_c = categorical.pool_sparse_cells(ref_counts, cur_counts)
        p.statistic, p.p_value, _ = categorical.chi2_homogeneity(pooled_r, pooled_c)
        p.effect_size = max(
            categorical.debiased_total_variation(pooled_r, pooled_c),
            categorical.largest_share_change(ref_counts, cur_counts),
        )
        p.psi = categorical.debiased_psi(pooled_r, pooled_c)
        return p

    # ------------------------------------------------------------------ decide

    def _decide(
        self,
        pending: dict[str, Measurement],
        current: Mapping[str, Any],
        n_rows: int,
        window: Mapping[str, Any] | None,
    ) -> DriftResult:
        rule = DecisionRule(
            alpha=self.alpha,
            effect_threshold=self.effect_threshold,
            psi_threshold=self.psi_threshold,
            missing_threshold=self.missing_threshold,
            dataset_rule=self.dataset_rule,
            share_threshold=self.share_threshold,
            count_threshold=self.count_threshold,
            strong_threshold=self.strong_threshold,
        )
        features = rule.features(pending)
        dataset = rule.dataset(features, pending)
        meta: dict[str, Any] = {"n_rows": n_rows}
        ignored = sorted(set(current) - set(self.profile.features))
        if ignored:
            meta["ignored_columns"] = ignored
        if window:
            meta.update(window)
        return DriftResult(features=features, dataset=dataset, window=meta, config=self.config)


def _scale(ref: NumericReference) -> float:
    """Reference standard deviation; for a constant reference max(|value|, 1)."""
    if ref.std is not None and ref.std > 0:
        return ref.std
    return max(abs(ref.mean or 0.0), 1.0)
