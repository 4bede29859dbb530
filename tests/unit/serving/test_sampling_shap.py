"""Sampling Shapley values (the model-agnostic explanation): exact additivity, exact on linear models, close
to the Shapley definition computed by brute force over every coalition, deterministic."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from mlops.serving.sampling_shap import (
    antithetic_permutations,
    background_from_npz,
    background_to_npz,
    sampling_shapley,
)

RNG = np.random.default_rng(3)
B = RNG.normal(size=(40, 5))
X = RNG.normal(size=(4, 5)) * 1.5


def nonlinear(Z: np.ndarray, i: int = 0) -> np.ndarray:
    """Three-way interactions: antithetic pairs alone are not exact for it (they are for pairwise ones)."""
    return Z[:, 0] * Z[:, 1] * Z[:, 2] + np.tanh(Z[:, 3] * Z[:, 4] * Z[:, 0] + Z[:, 1]) + 0.3 * Z[:, 4] ** 2


def brute_force(f, x: np.ndarray, background: np.ndarray) -> tuple[float, np.ndarray]:
    """Interventional Shapley values by the definition: every coalition S, v(S) = mean_b f(x_S, b_rest)."""
    F = x.shape[0]

    def v(S: tuple[int, ...]) -> float:
        Z = background.copy()
        Z[:, list(S)] = x[list(S)]
        return float(f(Z).mean())

    phi = np.zeros(F)
    for j in range(F):
        others = [k for k in range(F) if k != j]
        for size in range(F):
            for S in itertools.combinations(others, size):
                w = math.factorial(size) * math.factorial(F - size - 1) / math.factorial(F)
                phi[j] += w * (v((*S, j)) - v(S))
    return v(()), phi


def test_contributions_add_up_to_the_output_exactly():
    r = sampling_shapley(nonlinear, X, B, permutations=8)
    np.testing.assert_allclose(r.base + r.phi.sum(axis=1), r.output, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.output, nonlinear(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.base, nonlinear(B).mean(), rtol=0, atol=1e-12)
    assert (r.permutations, r.background_rows) == (8, 40)


def test_a_linear_model_gets_w_times_x_minus_the_background_mean_with_no_error():
    w = np.array([0.5, -2.0, 0.0, 3.0, 1.25])
    r = sampling_shapley(lambda Z, i: Z @ w + 7.0, X, B, permutations=4)
    np.testing.assert_allclose(r.phi, w * (X - B.mean(axis=0)), rtol=0, atol=1e-9)
    assert r.stderr.max() < 1e-9


def test_close_to_the_exact_shapley_values_of_a_nonlinear_model():
    r = sampling_shapley(nonlinear, X, B, permutations=256)
    for i, x in enumerate(X):
        base, exact = brute_force(nonlinear, x, B)
        assert r.base[i] == pytest.approx(base, abs=1e-12)
        err = np.abs(r.phi[i] - exact)
        # the standard error says how far off an estimate may be; well inside 5 of them (and absolutely small)
        assert (err <= 5 * r.stderr[i] + 1e-9).all(), (err, r.stderr[i])
        assert err.max() <= 0.05 * np.abs(exact).max() + 1e-9
    # and more permutations get closer: the error is an honest sampling error, not a bias
    few = sampling_shapley(nonlinear, X, B, permutations=8)
    exact_all = np.array([brute_force(nonlinear, x, B)[1] for x in X])
    assert np.abs(r.phi - exact_all).mean() < np.abs(few.phi - exact_all).mean()
    assert r.stderr.mean() < few.stderr.mean()


def test_the_same_row_gets_the_same_answer_and_permutations_are_antithetic():
    a = sampling_shapley(nonlinear, X, B, permutations=16)
    b = sampling_shapley(nonlinear, X[::-1], B, permutations=16)
    np.testing.assert_array_equal(a.phi, b.phi[::-1])
    perms = antithetic_permutations(6, 10)
    assert perms.shape == (10, 6)
    np.testing.assert_array_equal(perms[1::2], perms[0::2, ::-1])
    assert all(sorted(p) == list(range(6)) for p in perms.tolist())


def test_one_model_call_per_row():
    calls: list[int] = []

    def f(Z, i):
        calls.append(len(Z))
        return nonlinear(Z)

    sampling_shapley(f, X, B, permutations=6)
    assert calls == [6 * 4 * 40 + 40 + 1] * len(X)  # P * (F - 1) * background + background + the row


def test_permutations_must_be_even_and_at_least_four():
    for bad in (2, 5, 0):
        with pytest.raises(ValueError, match="even"):
            sampling_shapley(nonlinear, X, B, permutations=bad)


def test_background_npz_round_trip_without_pickle():
    rows, names = background_from_npz(background_to_npz(B, list("abcde")))
    np.testing.assert_array_equal(rows, B)
    assert names == list("abcde")
    with pytest.raises(ValueError):
        background_from_npz(background_to_npz(B, list("abc")))
