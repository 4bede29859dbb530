"""Two-sample statistics for drift, vectorized over features: KS, PSI, chi-square, effect sizes, BH.

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
    ``kstwo.sf(d, round(n1*n2/(n1+n2)))``, computed by ``kstwo_sf``: the branches of scipy's
    ``_kolmogn`` ported to arrays (Ruben-Gambino, Pelz-Good - bit-equal in tests), scipy's
    ``2*smirnov`` evaluated by the same Birnbaum-Tingey sum as one vectorized log-space expression
    (scipy sums it term by term: 27 ms per value at n = 25,000, 1.6 s at n = 1,000,000), and
    ``scipy.stats.kstwo.sf`` itself for n <= 140 and for its Durbin matrix branch while n < 5000
    (from n = 5000 on that branch only covers p > 0.99998, where Pelz-Good agrees with it to
    < 1e-10 relative and costs no O(n) Python loop).
    Documented bound: relative difference to scipy <= ``KS_PVALUE_RTOL`` = 1e-9 (tested; the
    sum differs by ~1e-11, everything else by 0).
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
Chi-square homogeneity (categoricals)
    Pearson's statistic on the 2 x K table (reference counts, current counts) over the categories
    seen on either side, without continuity correction (equal to
    ``scipy.stats.chi2_contingency(table, correction=False)``). Defined results, never NaN: a side
    with no values, or fewer than two categories in total (a constant column), gives statistic 0,
    p-value 1 and effect 0. A category never seen in the reference is one more column with
    reference count 0.
    Sparse cells are pooled first (``pool_sparse_cells``): the chi-square approximation needs
    expected counts of about 5 or more (Cochran's rule), and a feature with thousands of rare
    categories otherwise fails the test on identical distributions (21-34% of null windows for a
    Zipf law over 1,000-100,000 categories). Columns are ranked by their combined count; those
    whose expected count in the smaller sample is below ``MIN_EXPECTED`` = 5 are merged, in rank
    order, into cells of consecutive columns that each just reach 5 (cells of similar frequency,
    not one "other" cell, so that a surge into a rare or new category is not diluted by the whole
    tail), keeping at least two cells. Pooling looks at the table's margins only (reference +
    current), so under "no change" the pooled table is a valid homogeneity table; nothing about
    it may depend on which side a column's rows came from (ties in rank are broken in a fixed
    pseudo-random order: breaking them by position grouped the window-only categories, listed
    last, into cells of their own, and every null window of a 10,000-category Zipf feature was
    significant).
    The effect size is the total variation distance of the pooled table (half the L1 distance of
    the two distributions) minus the part sampling noise adds to it,
    ``0.5 * sqrt(2/pi) * sum_j sqrt(r_j (1 - r_j) / n_ref + c_j (1 - c_j) / n_cur)`` (r_j, c_j the
    shares of cell j), floored at 0 (``debiased_total_variation``): the raw distance between two
    samples of the same distribution grows with the number of cells and shrinks with the sample
    sizes (0.24 - 0.45 for the Zipf case), so without the correction the effect gate would not
    separate noise from change. The correction is conservative: where each cell's change is only
    a few standard errors it removes part of the change too. Pooling can still blur a surge into categories too rare to get a cell of their
    own, so the effect size is the larger of that corrected distance and ``largest_share_change``
    on the raw table (the largest change of one category's share, less sqrt(2 ln K) standard
    errors). Both are lower bounds of the total variation distance, near 0 when nothing changed.
    Categorical PSI is taken on the same pooled cells, minus its null expectation
    ``(K - 1) (1/n_ref + 1/n_cur)``, floored at 0 (``debiased_psi``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXACT_MAX_N = 10_000          # scipy's MAX_AUTO_N: exact p-values when max(n1, n2) <= this
PSI_EPSILON = 1e-4            # share floor for PSI bins
KS_PVALUE_RTOL = 1e-9         # documented bound of kstwo_sf against scipy.stats.kstwo.sf (tested)
MIN_EXPECTED = 5.0            # chi-square cells: pool columns whose expected count is below this


@dataclass(frozen=True)
class KSResult:
    """Two-sample KS of one feature: statistic, p-value, and W1 between the two samples."""

    statistic: float
    pvalue: float
    wasserstein: float
    n_ref: int
    n_cur: int


# ----------------------------------------------------------------------------- KS statistic

KS_GRID = 2048                 # grid points on the reference for the bounded KS search
_MARGIN = 1e-12                # slack when pruning intervals: float rounding is ~1e-16, slack only widens the search


@dataclass(frozen=True)
class SortedReference:
    """A reference sample prepared once for many KS windows.

    ``grid`` holds up to ``KS_GRID`` distinct sample values, evenly spaced by rank; the intervals
    between consecutive grid values are what a window's KS search prunes.
    """

    values: np.ndarray      # sorted finite float64
    right: np.ndarray       # #values <= values[j]
    grid: np.ndarray        # distinct ascending grid values
    grid_le: np.ndarray     # #values <= grid[k]
    grid_lt: np.ndarray     # #values < grid[k]

    @classmethod
    def prepare(cls, sorted_values: np.ndarray, grid_size: int = KS_GRID) -> SortedReference:
        v = np.asarray(sorted_values, dtype=np.float64)
        n = v.shape[0]
        if n == 0:
            empty = np.empty(0, dtype=np.int64)
            return cls(v, empty, np.empty(0), empty, empty)
        right = np.searchsorted(v, v, side="right")
        grid = np.unique(v[np.linspace(0, n - 1, min(grid_size, n)).astype(np.int64)])
        return cls(v, right, grid, np.searchsorted(v, grid, side="right"), np.searchsorted(v, grid, side="left"))


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
        idx = idx[ref.right[idx] == idx + 1]     # one point per run of equal values (same counts)
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
            idx = idx[last]                      # one point per run of equal values (same counts)
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
    return KSResult(float(stat[0]), float(p[0]), float(w1[0]), int(ref.values.shape[0]),
                    int(cur_sorted.shape[0]))


def ks_many(refs: Sequence[SortedReference | np.ndarray],
            curs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
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
W1_TAIL = 0.01                 # share of u at each end integrated at the samples' own resolution
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


def wasserstein_grid(refs: Sequence[np.ndarray], curs: Sequence[np.ndarray],
                     ref_grids: Sequence[np.ndarray] | None = None) -> np.ndarray:
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


# ----------------------------------------------------------------------------- KS p-value

_LOG_2PI = math.log(2 * math.pi)
_SQRT2PI = math.sqrt(2 * math.pi)
_SQRT3 = math.sqrt(3)
_PI2 = math.pi ** 2
_PI4 = math.pi ** 4
_PI6 = math.pi ** 6
_MIN_LOG = -708
_STIRLING = [-2.955065359477124183e-2, 6.4102564102564102564e-3,
             -1.9175269175269175269e-3, 8.4175084175084175084e-4,
             -5.952380952380952381e-4, 7.9365079365079365079e-4,
             -2.7777777777777777778e-3, 8.3333333333333333333e-2]


def _log_nfact_div_n_pow_n(n: np.ndarray) -> np.ndarray:
    rn = 1.0 / n
    return np.log(n) / 2 - n + _LOG_2PI / 2 + rn * np.polyval(_STIRLING, rn / n)


def _pelz_good_cdf(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pelz-Good approximation of P(D_n <= x), vectorized (scipy's ``_kolmogn_PelzGood``)."""
    z = np.sqrt(n) * x
    z2, z3, z4, z6 = z ** 2, z ** 3, z ** 4, z ** 6
    qlog = -_PI2 / 8 / z2
    tiny = qlog < _MIN_LOG
    q = np.exp(np.where(tiny, 0.0, qlog))
    k1a = -z2
    k1b = _PI2 / 4
    k2a = 6 * z6 + 2 * z4
    k2b = (2 * z4 - 5 * z2) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * z2) / 16
    k3d = _PI6 * (5 - 30 * z2) / 64
    k3c = _PI4 * (-60 * z2 + 212 * z4) / 16
    k3b = _PI2 * (135 * z4 - 96 * z6) / 4
    k3a = -30 * z6 - 90 * z ** 8
    maxk = np.ceil(16 * z / np.pi).astype(np.int64)
    kk = np.zeros((4,) + z.shape)
    top = int(maxk.max()) if maxk.size else 0
    for k in range(top, 0, -1):
        live = maxk >= k
        m = 2 * k - 1
        m2, m4, m6 = m ** 2, m ** 4, m ** 6
        qp = np.power(q, 8 * k)
        coeffs = np.stack([np.ones_like(z), k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                           k3a + k3b * m2 + k3c * m4 + k3d * m6])
        kk = np.where(live, kk * qp + coeffs, kk)
    kk *= q
    kk *= _SQRT2PI
    kk /= np.stack([z, 6 * z4, 72 * z ** 7, 6480 * z ** 10])
    q2 = np.exp(-_PI2 / 2 / z2)
    s2 = np.zeros_like(z)
    s3 = np.zeros_like(z)
    sqrt3z = _SQRT3 * z
    for k in range(top, 0, -1):
        live = maxk >= k
        kpi = np.pi * k
        qk = q2 ** (k * k)
        s2 = np.where(live, s2 + (k * k) * qk, s2)
        s3 = np.where(live, s3 + (sqrt3z + kpi) * (sqrt3z - kpi) * (k * k) * qk, s3)
    kk[2] += s2 * (_PI2 * _SQRT2PI / (-36 * z3))
    kk[3] += s3 * (_PI2 * _SQRT2PI / (216 * z6))
    kk[1] /= np.power(n, 0.5)
    kk[2] /= np.power(n, 1.0)
    kk[3] /= np.power(n, 1.5)
    cdf = ((kk[0] + kk[1]) + kk[2]) + kk[3]
    return np.where(tiny, 0.0, cdf)


_DMTW_SCIPY_BELOW = 5_000      # Durbin matrix branch: scipy below this n, Pelz-Good from it
_SMIRNOV_SCIPY_MAX_N = 500     # up to here scipy.special.smirnov itself (O(n) in C, cheap)
_log_factorials = np.zeros(1)


def _log_factorial_table(n: int) -> np.ndarray:
    """log(j!) for j = 0..n, grown on demand and kept (module-level, read-only after growth)."""
    global _log_factorials
    if _log_factorials.shape[0] <= n:
        from scipy.special import gammaln

        _log_factorials = gammaln(np.arange(max(n + 1, 2 * _log_factorials.shape[0])) + 1.0)
    return _log_factorials


def _smirnov(n: int, x: float) -> float:
    """One-sided ``P(D+_n >= x)`` by the Birnbaum-Tingey sum, the formula scipy's ``smirnov`` sums.

    scipy sums it term by term in C (about 1 microsecond per term: 27 ms at n = 25,000 and 1.6 s at
    n = 1,000,000 per value); here the terms are one vectorized log-space expression.
    """
    if n <= _SMIRNOV_SCIPY_MAX_N:
        from scipy.special import smirnov

        return float(smirnov(n, x))
    jmax = int(math.floor(n * (1.0 - x)))
    if jmax < 0:
        return 0.0
    lf = _log_factorial_table(n)
    j = np.arange(jmax + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        terms = (lf[n] - lf[: jmax + 1] - lf[n - jmax: n + 1][::-1]
                 + (n - j) * np.log1p(-x - j / n) + (j - 1) * np.log(x + j / n))
    top = float(terms.max())
    if not math.isfinite(top):
        return 0.0
    return math.exp(math.log(x) + top + math.log(float(np.exp(terms - top).sum())))


def kstwo_sf(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``scipy.stats.kstwo.sf(d, n)`` for arrays, without scipy's per-element Python loop.

    Same branches as scipy's ``_kolmogn(n, x, cdf=False)``; n must be integral and >= 1.
    """
    x = np.asarray(d, dtype=np.float64)
    n = np.broadcast_to(np.asarray(n, dtype=np.float64), x.shape).copy()
    out = np.full(x.shape, np.nan)
    todo = np.ones(x.shape, dtype=bool)

    def take(mask: np.ndarray) -> np.ndarray:
        nonlocal todo
        m = mask & todo
        todo = todo & ~m
        return m

    out[take(x >= 1.0)] = 0.0
    out[take(x <= 0.0)] = 1.0
    t = n * x
    m = take(t <= 0.5)
    out[m] = 1.0
    fallback = take((t <= 1.0) & (n <= 140))
    m = take(t <= 1.0)
    if m.any():
        prob = np.exp(_log_nfact_div_n_pow_n(n[m]) + n[m] * np.log(2 * t[m] - 1))
        out[m] = 1.0 - prob
    m = take(t >= n - 1)
    out[m] = 2 * (1.0 - x[m]) ** n[m]
    m = take(x >= 0.5)
    out[m] = [2 * _smirnov(int(nn), xx) for nn, xx in zip(n[m], x[m], strict=True)]
    fallback |= take(n <= 140)
    nx2 = t * x
    out[take(nx2 >= 370.0)] = 0.0
    m = take(nx2 >= 2.2)
    out[m] = [2 * _smirnov(int(nn), xx) for nn, xx in zip(n[m], x[m], strict=True)]
    out[take(nx2 >= 18.0)] = 0.0  # unreachable after the 2.2 branch; kept to mirror scipy
    # scipy's Durbin matrix branch (p > 1 - 1e-9 for large n) costs an O(n) Python loop per value;
    # from n >= 5000 Pelz-Good agrees with it to < 1e-10 relative (tested), so only smaller n go to scipy.
    fallback |= take((n < _DMTW_SCIPY_BELOW) & (n <= 100000) & (n * x ** 1.5 <= 1.4))
    m = take(np.ones(x.shape, dtype=bool))
    if m.any():
        out[m] = 1.0 - _pelz_good_cdf(n[m], x[m])
    if fallback.any():
        from scipy.stats import kstwo

        out[fallback] = kstwo.sf(x[fallback], n[fallback])
    return np.clip(out, 0.0, 1.0)


# ----------------------------------------------------------------------------- PSI


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


# ----------------------------------------------------------------------------- categoricals


def chi2_homogeneity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float, int]:
    """Pearson chi-square homogeneity of two count vectors over the same categories.

    Returns (statistic, p-value, degrees of freedom); categories empty on both sides are dropped.
    Defined as (0.0, 1.0, 0) when either side is empty or fewer than two categories remain.
    """
    r, c, total = _nonempty_columns(ref_counts, cur_counts)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0 or total.shape[0] < 2:
        return 0.0, 1.0, 0
    grand = nr + nc
    er = total * (nr / grand)
    ec = total * (nc / grand)
    stat = float(np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec))
    dof = int(total.shape[0] - 1)
    from scipy.special import chdtrc

    return stat, float(np.clip(chdtrc(dof, stat), 0.0, 1.0)), dof


def _nonempty_columns(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (reference, current, total) counts as floats, without the columns empty on both sides."""
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    total = r + c
    keep = total > 0
    return r[keep], c[keep], total[keep]


def total_variation(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Half the L1 distance of the two count vectors as distributions (0 if either is empty)."""
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return 0.0
    return float(0.5 * np.abs(r / nr - c / nc).sum())


def pool_sparse_cells(ref_counts: np.ndarray, cur_counts: np.ndarray, *,
                      min_expected: float = MIN_EXPECTED) -> tuple[np.ndarray, np.ndarray]:
    """Merge the columns of a 2 x K table whose expected count is below ``min_expected``.

    Columns empty on both sides are dropped. The rest are ranked by combined count (most frequent
    first; ties in a fixed pseudo-random order that does not depend on which side a column came
    from). A column keeps its own cell when its expected count in the
    smaller sample, ``min(n_ref, n_cur) * total_j / N``, is at least ``min_expected``; the sparse
    columns after it are merged, in rank order, into cells of consecutive columns that each just
    reach ``min_expected`` (a remainder below it joins the last such cell, or the least frequent
    kept column when there is none). At least two cells are kept when the table has two columns.
    Returns the (reference, current) counts of the pooled table.

    Only the margins decide the cells, so under "no change" the pooled table is as valid a
    homogeneity table as the original. Cells of similar frequency (rather than one "other" cell)
    keep the power to see a surge into categories that were rare: a brand-new category with 20%
    of a 1,000-row window shares its cell with a few columns of similar total instead of being
    diluted by the whole tail.
    """
    r, c, total = _nonempty_columns(ref_counts, cur_counts)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0 or total.shape[0] < 3:
        return r, c
    # ties (many columns share a total of 1, 2, ...) are broken in a fixed pseudo-random order,
    # never by position: callers list the reference's categories first and unseen ones last, and a
    # positional tie-break would put the window-only singletons into cells of their own
    tiebreak = np.random.default_rng(total.shape[0]).permutation(total.shape[0])
    order = np.lexsort((tiebreak, -total))
    r, c, total = r[order], c[order], total[order]
    expected = min(nr, nc) * total / (nr + nc)
    k = int(np.count_nonzero(expected >= min_expected))   # a prefix: expected falls along the ranking
    if k == total.shape[0]:
        return r, c
    cum = np.cumsum(expected[k:])
    ends: list[int] = []                                  # last tail column of each pooled cell
    base = 0.0
    while True:                                           # one step per cell: at most N / min_expected
        j = int(np.searchsorted(cum, base + min_expected, side="left"))
        if j >= cum.shape[0]:
            break
        ends.append(j)
        base = float(cum[j])
    if ends:
        ends[-1] = cum.shape[0] - 1                       # the remainder joins the last cell
        starts = [k] + [k + e + 1 for e in ends[:-1]]
    elif k > 1:
        k -= 1                                            # too little for one cell: the last kept column joins
        starts = [k]
    else:
        starts = [k]
    if k + len(starts) < 2:                               # keep two cells: the most frequent column and the rest
        k, starts = 1, [1]
    return (np.concatenate([r[:k], np.add.reduceat(r, starts)]),
            np.concatenate([c[:k], np.add.reduceat(c, starts)]))


def debiased_total_variation(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Total variation distance minus the part sampling noise adds to it, floored at 0.

    The noise part is ``0.5 * sqrt(2/pi) * sum_j sqrt(r_j (1 - r_j) / n_ref + c_j (1 - c_j) / n_cur)``
    (r_j, c_j the two samples' shares of column j): E|p_ref,j - p_cur,j| for two samples of one
    distribution, by the normal approximation (meant for a table pooled by ``pool_sparse_cells``,
    where every column has a few expected rows). Under "no change" it is the expected distance;
    where the two sides differ for sure (a category only one side has, in bulk) the shares' own
    variances shrink it toward 0, so a complete change keeps distance 1. 0 if either side is empty.
    """
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return 0.0
    pr, pc = r / nr, c / nc
    noise = 0.5 * math.sqrt(2 / math.pi) * float(np.sqrt(pr * (1 - pr) / nr + pc * (1 - pc) / nc).sum())
    return max(0.0, total_variation(r, c) - noise)


def largest_share_change(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """The largest change of one category's share, less ``sqrt(2 ln K)`` standard errors, floored at 0.

    Over the K non-empty columns of the raw (unpooled) table: ``max_j |r_j - c_j| - z * se_j`` with
    ``se_j = sqrt(r_j (1 - r_j) / n_ref + c_j (1 - c_j) / n_cur)`` and ``z = sqrt(2 ln K)`` (at
    least 1), the usual size of the largest of K standard normal deviations, so that under "no
    change" the maximum is about 0 however many categories there are. Any single category's change
    is a lower bound of the total variation distance; this one sees a surge into a category too
    rare in the reference to get its own pooled cell (20% of a window in a brand-new category).
    0 if either side is empty.
    """
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return 0.0
    keep = (r + c) > 0
    pr, pc = r[keep] / nr, c[keep] / nc
    z = math.sqrt(2 * math.log(max(int(keep.sum()), 2)))
    se = np.sqrt(pr * (1 - pr) / nr + pc * (1 - pc) / nc)
    return max(0.0, float((np.abs(pr - pc) - max(z, 1.0) * se).max()))


def debiased_psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """PSI of two count vectors minus its expectation under "same distribution",
    ``(K - 1) (1/n_ref + 1/n_cur)`` over the K non-empty columns, floored at 0.

    Raises ``ValueError`` when either side is empty (see ``psi``).
    """
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    nr, nc = r.sum(), c.sum()
    if not (nr > 0 and nc > 0):
        raise ValueError("PSI is undefined for an empty sample")
    k = int(np.count_nonzero(r + c))
    return max(0.0, psi(r / nr, c / nc) - max(k - 1, 0) * (1 / nr + 1 / nc))


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
