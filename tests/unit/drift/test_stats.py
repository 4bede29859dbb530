"""The drift statistics against scipy: KS bit-equal, p-values, chi-square, PSI, W1, BH."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlops.drift import categorical, kolmogorov, stats
from scipy import stats as sps


def _pairs(seed: int, count: int):
    """Seeded sample pairs: continuous, integer ties, rounded ties, shared values, tiny and 1-row."""
    rng = np.random.default_rng(seed)
    for case in range(count):
        kind = case % 6
        if case % 3 == 0:
            n1, n2 = (int(v) for v in rng.integers(1, 400, size=2))
        else:
            n1, n2 = (int(v) for v in rng.integers(1, 25_000, size=2))
        if kind == 0:
            a, b = rng.normal(size=n1), rng.normal(0.05, 1.0, size=n2)
        elif kind == 1:
            a = rng.integers(0, 20, size=n1).astype(float)
            b = rng.integers(0, 21, size=n2).astype(float)
        elif kind == 2:
            a, b = np.round(rng.normal(size=n1), 1), np.round(rng.normal(0.1, 1.2, size=n2), 1)
        elif kind == 3:
            a, b = rng.exponential(size=n1), rng.exponential(1.1, size=n2)
        elif kind == 4:  # the current window reuses reference values: cross ties everywhere
            a = rng.integers(0, 3, size=n1).astype(float)
            b = np.concatenate([rng.choice(a, size=n2 // 2), rng.normal(size=n2 - n2 // 2)])
        else:  # -0.0 and 0.0 must tie, as they do for scipy
            a = np.where(rng.random(n1) < 0.3, -0.0, rng.normal(size=n1))
            b = np.where(rng.random(n2) < 0.3, 0.0, rng.normal(size=n2))
        yield a, b


def test_ks_statistic_and_pvalue_equal_scipy_bit_for_bit():
    refs, curs, expected = [], [], []
    for a, b in _pairs(seed=7, count=240):
        refs.append(np.sort(a))
        curs.append(np.sort(b))
        expected.append(sps.ks_2samp(a, b))
    stat, pval = stats.ks_many(refs, curs)
    want_stat = np.array([r.statistic for r in expected])
    want_p = np.array([r.pvalue for r in expected])
    assert np.array_equal(stat, want_stat)  # ==, not allclose
    # Same method as scipy; in practice bit-equal too, the documented bound is KS_PVALUE_RTOL.
    assert np.allclose(pval, want_p, rtol=kolmogorov.KS_PVALUE_RTOL, atol=1e-300)
    # both of scipy's paths were exercised
    sizes = [(r.shape[0], c.shape[0]) for r, c in zip(refs, curs, strict=True)]
    assert any(max(s) <= stats.EXACT_MAX_N for s in sizes) and any(max(s) > stats.EXACT_MAX_N for s in sizes)


def test_ks_identical_samples_and_disjoint_samples():
    x = np.sort(np.random.default_rng(1).normal(size=20_000))
    same = stats.ks_2samp_sorted(x, x.copy())
    assert same.statistic == 0.0 and same.pvalue == 1.0 and same.wasserstein == 0.0
    far = stats.ks_2samp_sorted(x, x + 100.0)
    assert far.statistic == 1.0 and far.pvalue == 0.0


def _kstwo_grid(n: int, points: int) -> np.ndarray:
    # Below (1.4/n)**(2/3) (p > 1 - 1e-9) both sides run scipy's Durbin matrix code, which is
    # slow for large n; one such point is enough to check the routing.
    dmin = (1.4 / n) ** (2 / 3) if n <= 100_000 else 1e-4
    return np.concatenate(
        [
            [0.0, 0.4 / n, 0.7 / n, 1.0 / n, 0.9 * dmin],
            np.geomspace(dmin * 1.01, 0.5, points),
            np.linspace(0.5, 1.0, 11),
        ]
    )


@pytest.mark.parametrize(("n", "points"), [(141, 300), (1_000, 300), (5_000, 120), (25_000, 40)])
def test_kstwo_sf_matches_scipy_on_a_grid(n, points):
    d = _kstwo_grid(n, points)
    want = sps.kstwo.sf(d, n)
    got = kolmogorov.kstwo_sf(d, np.full(d.shape, n))
    assert np.allclose(got, want, rtol=kolmogorov.KS_PVALUE_RTOL, atol=1e-300)


@pytest.mark.parametrize("n", [99_999, 100_001, 2_000_000])
def test_kstwo_sf_matches_scipy_for_large_n_where_p_matters(n):
    # scipy's own smirnov costs 0.1-2 s per value at these n, so the grid stays where
    # n * d**2 < 2.2 (Pelz-Good: p above ~0.02), plus one point past scipy's 370 cut-off.
    d = np.concatenate(
        [np.geomspace(2e-3 / math.sqrt(n) * 100, math.sqrt(2.19 / n), 80), [math.sqrt(371 / n)]]
    )
    assert np.allclose(
        kolmogorov.kstwo_sf(d, np.full(d.shape, n)),
        sps.kstwo.sf(d, n),
        rtol=kolmogorov.KS_PVALUE_RTOL,
        atol=0,
    )


def test_smirnov_sum_matches_scipy_smirnov():
    from scipy.special import smirnov

    for n in (501, 5_000, 25_000):
        x = np.sqrt(np.geomspace(2.2, 369, 12) / n)
        x = np.concatenate([x[x < 0.99], [0.5, 0.7, 0.99]])
        got = np.array([kolmogorov._smirnov(n, v) for v in x])
        assert np.allclose(got, smirnov(n, x), rtol=kolmogorov.KS_PVALUE_RTOL, atol=1e-300)


@pytest.mark.parametrize("n", [5_000, 25_000, 99_999])
def test_kstwo_sf_durbin_branch_is_replaced_within_the_bound_from_n_5000(n):
    d = np.linspace(1.01 / n, (1.4 / n) ** (2 / 3), 6)  # scipy's Durbin-matrix branch
    assert np.allclose(kolmogorov.kstwo_sf(d, np.full(d.shape, n)), sps.kstwo.sf(d, n), rtol=1e-10, atol=0)


def test_kstwo_sf_small_n_falls_back_to_scipy():
    d = np.linspace(0.0, 1.0, 101)
    assert np.array_equal(kolmogorov.kstwo_sf(d, np.full(d.shape, 40)), sps.kstwo.sf(d, 40))


def test_chi2_homogeneity_equals_scipy_without_continuity_correction():
    rng = np.random.default_rng(3)
    for _ in range(50):
        k = int(rng.integers(2, 12))
        r = rng.integers(1, 500, size=k)
        c = rng.integers(1, 500, size=k)
        stat, p, dof = categorical.chi2_homogeneity(r, c)
        want = sps.chi2_contingency(np.vstack([r, c]), correction=False)
        assert math.isclose(stat, want.statistic, rel_tol=1e-12)
        assert math.isclose(p, want.pvalue, rel_tol=1e-9, abs_tol=1e-300)
        assert dof == want.dof


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([100, 0], [50, 0]),  # a single category on both sides (constant column)
        ([0, 0], [0, 0]),  # nothing at all
        ([10, 20], [0, 0]),  # empty window
        ([0, 0], [5, 5]),  # empty reference
        ([7], [3]),  # one category
    ],
)
def test_chi2_degenerate_tables_are_defined_not_nan(ref, cur):
    stat, p, dof = categorical.chi2_homogeneity(np.array(ref), np.array(cur))
    assert (stat, p, dof) == (0.0, 1.0, 0)
    assert not math.isnan(categorical.total_variation(np.array(ref), np.array(cur)))


def test_chi2_unseen_category_is_a_real_column():
    stat, p, dof = categorical.chi2_homogeneity(np.array([500, 500, 0]), np.array([40, 40, 20]))
    assert dof == 2 and p < 1e-10 and math.isfinite(stat)
    assert categorical.total_variation(np.array([500, 500, 0]), np.array([40, 40, 20])) == pytest.approx(0.2)


def test_psi_is_zero_on_equal_shares_and_finite_with_empty_bins():
    r = np.full(10, 0.1)
    assert stats.psi(r, r) == 0.0
    c = np.zeros(10)
    c[0] = 1.0
    v = stats.psi(r, c)
    # bins floored at PSI_EPSILON: 9 empty bins + one bin with everything
    eps = stats.PSI_EPSILON
    want = 9 * (eps - 0.1) * math.log(eps / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert v == pytest.approx(want) and math.isfinite(v)


def test_sorted_bin_fractions_use_left_open_bins():
    edges = np.array([1.0, 2.0])
    cur = np.sort(np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]))
    assert stats.sorted_bin_fractions(cur, edges).tolist() == pytest.approx([2 / 6, 2 / 6, 2 / 6])
    assert stats.sorted_bin_fractions(np.empty(0), edges).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("dist", ["normal", "lognormal", "t2", "poisson"])
def test_wasserstein_grid_is_within_its_documented_bound(dist):
    rng = np.random.default_rng(11)
    gen = {
        "normal": lambda n, s: rng.normal(s, 1, n),
        "lognormal": lambda n, s: rng.lognormal(s, 1, n),
        "t2": lambda n, s: rng.standard_t(2, n) + s,
        "poisson": lambda n, s: rng.poisson(3 + s, n) * 1.0,
    }[dist]
    for shift in (0.0, 0.05, 0.5):
        r, c = np.sort(gen(30_000, 0.0)), np.sort(gen(17_000, shift))
        exact = sps.wasserstein_distance(r, c)
        got = stats.wasserstein_grid([r], [c])[0]
        assert abs(got - exact) <= 0.001 * r.std()


def test_benjamini_hochberg_equals_scipy():
    rng = np.random.default_rng(5)
    for m in (1, 2, 7, 50):
        p = rng.random(m) ** 3
        assert np.allclose(stats.benjamini_hochberg(p), sps.false_discovery_control(p), rtol=1e-12)
    assert stats.benjamini_hochberg(np.array([])).shape == (0,)
