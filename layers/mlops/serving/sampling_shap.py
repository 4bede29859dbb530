"""Model-agnostic Shapley values: antithetic permutation sampling over a background sample.

For a model that is not a compiled tree ensemble, ``/explain`` estimates the *interventional*
Shapley values of ``f`` at a row ``x`` against a background sample ``B`` (at most 100 training
rows stored at registration, ``mlops.registry.background``): the value of a coalition ``S`` is
``v(S) = mean_b f(x_S, b_rest)``. The estimator is Štrumbelj & Kononenko's (2014) permutation
sampling: for a permutation ``π``, feature ``π_k`` gets ``v(π_1..π_k) - v(π_1..π_{k-1})``; the
estimate is the mean over permutations. Permutations come in antithetic pairs (``π`` and its
reverse), which cancels much of the variance, and are drawn from a fixed seed, so the same row
gets the same answer every time.

Additivity holds exactly, by construction: every permutation's marginal contributions telescope to
``f(x) - mean_b f(b)``, so ``base_value + sum(contributions) == f(x)`` up to float rounding (the
base value is ``mean_b f(b)``). What is approximate is how the difference is shared; the standard
error of each contribution (over the antithetic pairs) is returned with it. For a linear model
every permutation gives ``w_j (x_j - mean_b b_j)``: exact, standard error 0.

Cost: one batched model call per row on ``permutations * (features - 1) * background`` rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BACKGROUND_FORMAT = "mlops-background/1"
BACKGROUND_ROWS = 100
DEFAULT_PERMUTATIONS = 16
MAX_PERMUTATIONS = 256
SEED = 0


@dataclass(frozen=True)
class SampledShapley:
    """Per row ``i``: ``base[i] + phi[i].sum() == output[i]``; ``stderr`` per contribution."""

    base: np.ndarray  # (n,)
    output: np.ndarray  # (n,)
    phi: np.ndarray  # (n, F)
    stderr: np.ndarray  # (n, F)
    permutations: int
    background_rows: int


def antithetic_permutations(n_features: int, count: int, seed: int = SEED) -> np.ndarray:
    """``count`` (even) permutations of the features: ``count / 2`` random ones, each followed by its reverse."""
    rng = np.random.default_rng(seed)
    half = np.stack([rng.permutation(n_features) for _ in range(count // 2)])
    return np.stack([half, half[:, ::-1]], axis=1).reshape(count, n_features)


def _coalition_masks(perms: np.ndarray) -> np.ndarray:
    """(P, F - 1, F) bool: step ``s`` (1..F-1) of permutation ``p`` takes its first ``s`` features from x."""
    P, F = perms.shape
    rank = np.argsort(perms, axis=1)  # rank[p, j]: position of feature j in permutation p
    steps = np.arange(1, F)[None, :, None]
    return rank[:, None, :] < steps


def sampling_shapley(
    f: Callable[[np.ndarray, int], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = SEED,
) -> SampledShapley:
    """Shapley values of ``f(rows, i)`` (the output explained for row ``i``: a ``(k,)`` array) for every
    row ``i`` of ``X``, interventional over ``background``; ``permutations`` is even and >= 4."""
    if permutations < 4 or permutations % 2:
        raise ValueError("permutations must be an even number >= 4")
    X = np.asarray(X, dtype=np.float64)
    B = np.asarray(background, dtype=np.float64)
    n, F = X.shape
    m = B.shape[0]
    perms = antithetic_permutations(F, permutations, seed)
    masks = _coalition_masks(perms)  # (P, F-1, F)
    P = permutations
    base, output = np.empty(n), np.empty(n)
    phi, stderr = np.zeros((n, F)), np.zeros((n, F))
    rows_p = np.arange(P)[:, None]
    for i in range(n):
        x = X[i]
        mixed = np.where(masks[:, :, None, :], x, B[None, None, :, :]).reshape(-1, F)  # (P*(F-1)*m, F)
        y = np.asarray(f(np.concatenate([mixed, B, x[None, :]]), i), dtype=np.float64)
        mid = y[: mixed.shape[0]].reshape(P, F - 1, m).mean(axis=2)
        b0, fx = y[mixed.shape[0] : -1].mean(), y[-1]
        values = np.concatenate([np.full((P, 1), b0), mid, np.full((P, 1), fx)], axis=1)  # (P, F+1)
        per_perm = np.empty((P, F))
        per_perm[rows_p, perms] = np.diff(values, axis=1)  # the feature added at each step gets the change
        phi[i] = per_perm.mean(axis=0)
        pairs = per_perm.reshape(P // 2, 2, F).mean(axis=1)  # antithetic pairs are the independent draws
        stderr[i] = pairs.std(axis=0, ddof=1) / np.sqrt(P // 2)
        base[i], output[i] = b0, fx
    return SampledShapley(base, output, phi, stderr, P, m)


def background_to_npz(rows: np.ndarray, names: list[str]) -> bytes:
    """The background sample as ``.npz`` (no pickle): float64 rows in signature order and their names."""
    buf = io.BytesIO()
    np.savez(
        buf,
        format=np.array(BACKGROUND_FORMAT),
        rows=np.asarray(rows, dtype=np.float64),
        names=np.array([str(n) for n in names]),
    )
    return buf.getvalue()


def background_from_npz(data: bytes) -> tuple[np.ndarray, list[str]]:
    """(rows, feature names) of a stored background sample; ``ValueError`` if it is not one."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if str(z["format"]) != BACKGROUND_FORMAT:
            raise ValueError(f"not a {BACKGROUND_FORMAT} file: {z['format']}")
        rows = np.asarray(z["rows"], dtype=np.float64)
        names = [str(n) for n in z["names"]]
    if rows.ndim != 2 or rows.shape[1] != len(names) or rows.shape[0] < 1:
        raise ValueError(f"a background sample of shape {rows.shape} for {len(names)} features")
    return rows, names
