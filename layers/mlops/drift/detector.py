"""Drift decisions for a window of production data against a reference profile, and their persistence.

A feature drifts when its test is Benjamini-Hochberg significant at ``alpha`` across all tests of
the window AND its effect is large enough: effect size >= ``effect_threshold`` or PSI >=
``psi_threshold``. Significance alone fires on any shift once samples are large; the effect gate
keeps a 0.02-standard-deviation shift at a million rows quiet. The dataset decision follows
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
``DriftMonitor`` / ``persistent_alarm`` turn a history of window decisions into an alarm that
needs k drifted windows out of the last n, so that one noisy window does not page anyone.

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

Result shape (``DriftResult.to_dict()``, JSON-serializable)::

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
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops.drift import categorical, stats
from mlops.drift.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    count_categories,
    load_profile,
    numeric_values,
)
from mlops.errors import BadRequestError

RESULT_FORMAT = "mlops-drift-result/1"
DATASET_RULES = ("strong_or_count", "any", "count", "share")
MISSING_KEY = "\x00missing"  # internal slot for missing categorical values; never a real key


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


@dataclass
class _Test:
    """One p-value entering the BH family."""

    feature: str
    role: str  # "main" | "missing"
    p: float


@dataclass
class _Pending:
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


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else (0.0 if math.isnan(x) else math.copysign(1.7976931348623157e308, x))


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
        pending: dict[str, _Pending] = {}
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
        pending: dict[str, _Pending],
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
            missing_cur = n_rows - n2
            p = _Pending(
                kind="numeric",
                test="ks",
                effect="wasserstein/std",
                n_ref=int(ref.sample.shape[0]),
                n_cur=n2,
                note="absent" if name in absent else None,
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
            p.effect_size = _finite(w1[i] / scales[name])

    def _categorical(self, ref: CategoricalReference, column: Any, n_rows: int) -> _Pending:
        p = _Pending(kind="categorical", test="chi2", effect="tvd", n_ref=ref.n)
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
        pending: dict[str, _Pending],
        current: Mapping[str, Any],
        n_rows: int,
        window: Mapping[str, Any] | None,
    ) -> DriftResult:
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
        features: dict[str, FeatureDrift] = {}
        for name, p in pending.items():
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
            features[name] = FeatureDrift(
                kind=p.kind,
                test=p.test,
                statistic=_finite(p.statistic),
                p_value=_finite(p.p_value),
                p_adjusted=_finite(p_adj),
                effect_size=_finite(p.effect_size),
                effect=p.effect,
                psi=_finite(p.psi),
                drifted=bool(reasons),
                reasons=tuple(reasons),
                n_ref=p.n_ref,
                n_cur=p.n_cur,
                missing=missing,
                note=p.note,
                unseen=p.unseen,
            )
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
        dataset = {
            "drifted": dataset_drift,
            "rule": self.dataset_rule,
            "share": share,
            "n_drifted": len(drifted_names),
            "n_tested": n_tested,
            "n_features": len(features),
            "drifted_features": drifted_names,
            "strong_features": strong_names,
        }
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


# ----------------------------------------------------------------------------- persistence


def persistent_alarm(history: Sequence[bool], *, k: int = 3, n: int = 5) -> bool:
    """True when at least ``k`` of the last ``n`` window decisions (oldest first) drifted."""
    if not 1 <= k <= n:
        raise BadRequestError("persistence needs 1 <= k <= n")
    return sum(1 for d in list(history)[-n:] if d) >= k


class DriftMonitor:
    """Keeps the last ``n`` window decisions; the alarm is on while ``k`` of them drifted.

    State is plain JSON (``to_dict``/``from_dict``) so a stateless function can keep it in the store.
    """

    def __init__(self, *, k: int = 3, n: int = 5, history: Iterable[bool] = ()):
        if not 1 <= k <= n:
            raise BadRequestError("persistence needs 1 <= k <= n")
        self.k, self.n = int(k), int(n)
        self.history: deque[bool] = deque((bool(h) for h in history), maxlen=self.n)

    def observe(self, decision: bool | DriftResult) -> bool:
        """Record one window decision; return whether the alarm is now on."""
        self.history.append(decision.drifted if isinstance(decision, DriftResult) else bool(decision))
        return self.alarm

    @property
    def alarm(self) -> bool:
        return persistent_alarm(self.history, k=self.k, n=self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "history": list(self.history), "alarm": self.alarm}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftMonitor:
        return cls(k=int(d.get("k", 3)), n=int(d.get("n", 5)), history=d.get("history", ()))
