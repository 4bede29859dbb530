"""Two-sample statistics for drift on numeric features, vectorized over features: KS, Wasserstein-1,
PSI, and Benjamini-Hochberg across features.

(The Kolmogorov distribution behind large-sample KS p-values is ``mlops.drift.kolmogorov``; the
tests and effect sizes on category counts are ``mlops.drift.categorical``.)

Kolmogorov-Smirnov
    ``ks_many`` takes each reference sample sorted and prepared once (``SortedReference``: counts
    and a 2048-point grid, held by the loaded profile) and the current data sorted (all features
    in one 2-D sort by the caller), so a window never sorts the reference. scipy evaluates
    ``k1/n1 - k2/n2`` (counts with ``<=``) at every value of both samples; its maximum lies at a
    reference value (or is the 0 at the top) and its minimum at a current value. Exact values at
    the grid points bound the extremes, monotonicity bounds each interval between grid points, and
    only intervals that could still hold an extreme are evaluated point by point - with scipy's
    counts and float expression. So the statistic is bit-equal to scipy's (ties and -0.0
    included, and scipy's rounding of ``d`` to a multiple of ``1/lcm(n1, n2)`` on its exact path),
    and a window costs its own sort plus O(grid log n) searches per feature.
    P-values follow scipy's ``method="auto"``. When both samples have at most 10,000 values the
    exact p-value is scipy's own (``ks_2samp`` is called for those features). Otherwise it is
    ``kstwo.sf(d, round(n1*n2/(n1+n2)))``, computed by ``mlops.drift.kolmogorov.kstwo_sf`` to a
    documented relative bound of ``KS_PVALUE_RTOL`` = 1e-9 against scipy.
Wasserstein-1
    ``wasserstein_grid``: the integral of |Q_ref(u) - Q_cur(u)| between the quantile functions of
    the two samples by the midpoint rule: 4096 cells in the middle 98%, cells as fine as the
    samples' own steps in the outer 1% at each end (error <= 0.001 reference standard deviations
    in tests). The effect size of a numeric feature is W1 divided by the reference standard
    deviation: a mean shift of s standard deviations gives s; 0.1 means the mass moved on average
    a tenth of a standard deviation.
PSI
    On the reference decile bins of the profile, ``sum((c - r) * ln(c / r))`` where shares are
    floored at ``PSI_EPSILON`` = 1e-4 so that an empty bin contributes a finite amount. The bin
    edges lie halfway between distinct reference values (``mlops.drift.profile.psi_bin_edges``),
    so no reference value sits on an edge and a tiny shift of an integer-valued feature does not
    move every value into the next bin. An empty sample has no PSI: ``psi`` raises ``ValueError``
    when either share vector has no mass (0 would claim "stable" and the floored formula, 6.9 on
    ten equal deciles, would claim "drifted", both from no data); the detector never gets there,
    because a window below ``min_rows`` is not tested and says so in its ``note``.
    Categorical PSI (``mlops.drift.categorical.debiased_psi``) uses ``psi`` on pooled cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlops.drift.kolmogorov import kstwo_sf

EXACT_MAX_N = 10_000  # scipy's MAX_AUTO_N: exact p-values when max(n1, n2) <= this
PSI_EPSILON = 1e-4  # share floor for PSI bins


@dataclass(frozen=True)
class KSResult:
    """Two-sample KS of one feature: statistic, p-value, and W1 between the two samples."""

    statistic: float
    pvalue: float
    wasserstein: float
    n_ref: int
    n_cur: int


# ----------------------------------------------------------------------------- KS statistic

KS_GRID = 2048  # grid points on the reference for the bounded KS search
_MARGIN = 1e-12  # slack when pruning intervals: float rounding is ~1e-16, slack only widens the search


@dataclass(frozen=True)
class SortedReference:
    """A reference sample prepared once for many KS windows.

    ``grid`` holds up to ``KS_GRID`` distinct sample values, evenly spaced by rank; the intervals
    between consecutive grid values are what a window's KS search prunes.
    """

    values: np.ndarray  # sorted finite float64
    right: np.ndarray  # #values <= values[j]
    grid: np.ndarray  # distinct ascending grid values
    grid_le: np.ndarray  # #values <= grid[k]
    grid_lt: np.ndarray  # #values < grid[k]

    @classmethod
    def prepare(cls, sorted_values: np.ndarray, grid_size: int = KS_GRID) -> SortedReference:
        v = np.asarray(sorted_values, dtype=np.float64)
        n = v.shape[0]
        if n == 0:
            empty = np.empty(0, dtype=np.int64)
            return cls(v, empty, np.empty(0), empty, empty)
        right = np.searchsorted(v, v, side="right")
        grid = np.unique(v[np.linspace(0, n - 1, min(grid_size, n)).astype(np.int64)])
        return cls(
            v, right, grid, np.searchsorted(v, grid, side="right"), np.searchsorted(v, grid, side="left")
        )


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(starts[i], ends[i]) for all i (ends >= starts), vectorized."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


def _ks_sides(ref: SortedReference, cur: np.ndarray) -> tuple[float, float]:
    """(max(F_ref - F_cur), max(F_cur - F_ref)) exactly as scipy evaluates them, bit-equal.

    scipy evaluates ``k1/n1 - k2/n2`` (counts with ``<=``) at every value of either sample. The
    maximum of F_ref - F_cur is attained at a reference value (or is the 0 at the top), the
    minimum at a current value. Exact values at the grid points (reference values) give a lower
    bound of the maximum and an upper bound of the minimum; monotonicity bounds every interval
    between grid points (e.g. for [a, b): F_ref < F_ref(b-) and F_cur >= F_cur(a)). Only the
    intervals whose bound can reach the best value are evaluated point by point, with scipy's
    counts and float expression; everything pruned provably cannot hold the extreme.
    """
    r, n1, n2 = ref.values, ref.values.shape[0], cur.shape[0]
    c_le = np.searchsorted(cur, ref.grid, side="right")
    c_lt = np.searchsorted(cur, ref.grid, side="left")
    at_grid = ref.grid_le / n1 - c_le / n2
    best_plus = max(0.0, float(at_grid.max()))
    best_minus = min(0.0, float(at_grid.min()))
    # max over reference points; interval k = [grid[k], grid[k+1]) holds r[grid_lt[k]:lt_next[k]]
    lt_next = np.append(ref.grid_lt[1:], n1)
    upper = lt_next / n1 - c_le / n2
    keep = upper >= best_plus - _MARGIN
    if keep.any():
        idx = _ranges(ref.grid_lt[keep], lt_next[keep])
        idx = idx[ref.right[idx] == idx + 1]  # one point per run of equal values (same counts)
        if idx.shape[0]:
            vals = ref.right[idx] / n1 - np.searchsorted(cur, r[idx], side="right") / n2
            best_plus = max(best_plus, float(vals.max()))
    # min over current points; intervals (-inf, grid[0]) and [grid[k], grid[k+1])
    c_starts = np.concatenate(([0], c_lt))
    c_ends = np.append(c_lt, n2)
    lower = np.concatenate(([0.0], ref.grid_le / n1)) - c_ends / n2
    keep = lower <= best_minus + _MARGIN
    if keep.any():
        idx = _ranges(c_starts[keep], c_ends[keep])
        if idx.shape[0]:
            last = idx + 1 == n2
            np.logical_or(last, cur[np.minimum(idx + 1, n2 - 1)] != cur[idx], out=last)
            idx = idx[last]  # one point per run of equal values (same counts)
            pts = cur[idx]
            vals = np.searchsorted(r, pts, side="right") / n1 - np.searchsorted(cur, pts, side="right") / n2
            best_minus = min(best_minus, float(vals.min()))
    return best_plus, float(np.clip(-best_minus, 0, 1))


def _scipy_statistic(dplus: float, dminus: float, n1: int, n2: int) -> float:
    """scipy's choice of d (two-sided) and its rounding on the exact path."""
    d = dminus if dminus > dplus else dplus
    if max(n1, n2) <= EXACT_MAX_N:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = int(np.round(d * lcm))
        d = h * 1.0 / lcm
    return float(np.float64(d))


def _asymp_n(n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    m = np.maximum(n1, n2).astype(np.float64)
    n = np.minimum(n1, n2).astype(np.float64)
    return np.round(m * n / (m + n))


def ks_2samp_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> KSResult:
    """KS test of one feature; both inputs sorted and finite (scipy's ``method="auto"`` p-value)."""
    ref = SortedReference.prepare(ref_sorted)
    cur_sorted = np.asarray(cur_sorted, dtype=np.float64)
    stat, p = ks_many([ref], [cur_sorted])
    w1 = wasserstein_grid([ref.values], [cur_sorted])
    return KSResult(
        float(stat[0]), float(p[0]), float(w1[0]), int(ref.values.shape[0]), int(cur_sorted.shape[0])
    )


def ks_many(
    refs: Sequence[SortedReference | np.ndarray], curs: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """KS statistics and p-values for many features: ``refs[i]`` vs ``curs[i]``, all sorted, finite.

    A reference is best a ``SortedReference`` prepared once (the loaded profile holds one per
    feature); a plain sorted array is prepared on the fly. Empty pairs get statistic 0 and
    p-value 1 (callers skip them before deciding).
    """
    prepared = [r if isinstance(r, SortedReference) else SortedReference.prepare(r) for r in refs]
    k = len(prepared)
    stat = np.zeros(k)
    pval = np.ones(k)
    n1 = np.array([r.values.shape[0] for r in prepared], dtype=np.int64)
    n2 = np.array([c.shape[0] for c in curs], dtype=np.int64)
    exact: list[int] = []
    for i in range(k):
        if n1[i] == 0 or n2[i] == 0:
            continue
        dplus, dminus = _ks_sides(prepared[i], curs[i])
        stat[i] = _scipy_statistic(dplus, dminus, int(n1[i]), int(n2[i]))
        if max(n1[i], n2[i]) <= EXACT_MAX_N:
            exact.append(i)
    asymp = (n1 > 0) & (n2 > 0)
    asymp[exact] = False
    if asymp.any():
        pval[asymp] = np.clip(kstwo_sf(stat[asymp], _asymp_n(n1[asymp], n2[asymp])), 0.0, 1.0)
    if exact:
        from scipy.stats import ks_2samp  # exact path: scipy's own recursion, small samples only

        for i in exact:
            pval[i] = float(ks_2samp(prepared[i].values, curs[i]).pvalue)
    return stat, pval


# ----------------------------------------------------------------------------- Wasserstein

W1_GRID = 4096
W1_TAIL = 0.01  # share of u at each end integrated at the samples' own resolution
_U = (np.arange(W1_GRID) + 0.5) / W1_GRID
_MID = slice(round(W1_TAIL * W1_GRID), W1_GRID - round(W1_TAIL * W1_GRID))


def quantile_grid(sorted_values: np.ndarray) -> np.ndarray:
    """Empirical quantiles of a sorted sample at the W1 grid's midpoints (empty -> empty)."""
    n = sorted_values.shape[0]
    if n == 0:
        return np.empty(0)
    return sorted_values[(_U * n).astype(np.int64)]


def _w1_tail(ref: np.ndarray, cur: np.ndarray, a: float, b: float) -> float:
    """Integral of |Q_ref(u) - Q_cur(u)| over [a, b] by the midpoint rule on cells no wider than
    one step of either quantile function (1 / max(n1, n2))."""
    n1, n2 = ref.shape[0], cur.shape[0]
    cells = max(1, math.ceil((b - a) * max(n1, n2)))
    u = a + (np.arange(cells) + 0.5) * ((b - a) / cells)
    q1 = ref[np.minimum((u * n1).astype(np.int64), n1 - 1)]
    q2 = cur[np.minimum((u * n2).astype(np.int64), n2 - 1)]
    return float(np.abs(q1 - q2).sum()) * ((b - a) / cells)


def wasserstein_grid(
    refs: Sequence[np.ndarray], curs: Sequence[np.ndarray], ref_grids: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """Wasserstein-1 distance per feature: the integral of |Q_ref(u) - Q_cur(u)| over u in [0, 1].

    The middle 98% by the midpoint rule on a 4096-cell grid; the outer 1% at each end (where heavy
    tails live) on cells as fine as the samples' own steps. Tests bound the error against the exact
    W1 (``scipy.stats.wasserstein_distance``) to 0.001 reference standard deviations on normal,
    lognormal, Student-t(2) and Poisson data. Empty pairs give 0.
    """
    out = np.zeros(len(refs))
    lo, hi = _MID.start / W1_GRID, _MID.stop / W1_GRID
    umid = _U[_MID]
    for i, (r, c) in enumerate(zip(refs, curs, strict=True)):
        if r.shape[0] == 0 or c.shape[0] == 0:
            continue
        qr = ref_grids[i] if ref_grids is not None else quantile_grid(r)
        middle = float(np.abs(qr[_MID] - c[(umid * c.shape[0]).astype(np.int64)]).sum()) / W1_GRID
        out[i] = middle + _w1_tail(r, c, 0.0, lo) + _w1_tail(r, c, hi, 1.0)
    return out


def psi(ref_fractions: np.ndarray, cur_fractions: np.ndarray, *, eps: float = PSI_EPSILON) -> float:
    """Population stability index of two share vectors over the same bins (shares floored at eps).

    Raises ``ValueError`` when either side has no mass: an empty sample has no PSI (module docstring).
    """
    r = np.asarray(ref_fractions, dtype=np.float64)
    c = np.asarray(cur_fractions, dtype=np.float64)
    if not (r.sum() > 0 and c.sum() > 0):
        raise ValueError("PSI is undefined for an empty sample")
    r = np.maximum(r, eps)
    c = np.maximum(c, eps)
    return float(np.sum((c - r) * np.log(c / r)))


def sorted_bin_fractions(cur_sorted: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of already-sorted values per bin (edges[i-1] < x <= edges[i]); O(bins log n).

    All zeros for an empty sample (no distribution; ``psi`` refuses it)."""
    n = cur_sorted.shape[0]
    if n == 0:
        return np.zeros(edges.shape[0] + 1)
    cum = np.searchsorted(cur_sorted, edges, side="right")
    return np.diff(np.concatenate(([0], cum, [n]))) / n


# ----------------------------------------------------------------------------- multiple testing


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up), in the input order, clipped to [0, 1]."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.shape[0]
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(adj, 0.0, 1.0)
    return out
