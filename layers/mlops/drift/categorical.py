"""Two-sample tests and effect sizes on category counts: chi-square homogeneity, sparse-cell pooling,
(debiased) total variation, largest share change and debiased PSI.

Chi-square homogeneity
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

import numpy as np

from mlops.drift.stats import psi

MIN_EXPECTED = 5.0  # chi-square cells: pool columns whose expected count is below this


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


def _nonempty_columns(
    ref_counts: np.ndarray, cur_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def pool_sparse_cells(
    ref_counts: np.ndarray, cur_counts: np.ndarray, *, min_expected: float = MIN_EXPECTED
) -> tuple[np.ndarray, np.ndarray]:
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
    k = int(np.count_nonzero(expected >= min_expected))  # a prefix: expected falls along the ranking
    if k == total.shape[0]:
        return r, c
    cum = np.cumsum(expected[k:])
    ends: list[int] = []  # last tail column of each pooled cell
    base = 0.0
    while True:  # one step per cell: at most N / min_expected
        j = int(np.searchsorted(cum, base + min_expected, side="left"))
        if j >= cum.shape[0]:
            break
        ends.append(j)
        base = float(cum[j])
    if ends:
        ends[-1] = cum.shape[0] - 1  # the remainder joins the last cell
        starts = [k] + [k + e + 1 for e in ends[:-1]]
    elif k > 1:
        k -= 1  # too little for one cell: the last kept column joins
        starts = [k]
    else:
        starts = [k]
    if k + len(starts) < 2:  # keep two cells: the most frequent column and the rest
        k, starts = 1, [1]
    return (
        np.concatenate([r[:k], np.add.reduceat(r, starts)]),
        np.concatenate([c[:k], np.add.reduceat(c, starts)]),
    )


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
