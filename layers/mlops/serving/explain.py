"""Feature contributions of a compiled tree ensemble: exact path-dependent Tree SHAP.

``tree_shap(compiled, X)`` returns ``(base_value, contributions)`` with
``base_value + contributions.sum(axis=1) == raw output`` for every row: the margin (log-odds)
of a GradientBoostingClassifier, the prediction of a GradientBoostingRegressor, the class
probabilities of a forest, i.e. what ``shap.TreeExplainer`` reports for the same models
(``model_output="raw"``, ``feature_perturbation="tree_path_dependent"``).

The algorithm is Lundberg et al. 2018 (Algorithm 2), rearranged so numpy can run it over every
leaf of every tree and every row at once. For one leaf with value ``v`` whose path splits on the
unique features ``P`` (``d = |P|``), let ``z_j`` be the fraction of training cover that follows
the path at ``j``'s splits and ``o_j`` (0 or 1) whether the row does. The leaf adds to feature
``i`` in ``P``::

    v * (o_i - z_i) * sum_k  k! (d-1-k)! / d!  *  [t^k] prod_{j in P, j != i} (z_j + o_j t)

which is exactly what EXTEND/UNWIND accumulate in the paper. Here the full product is built once
per leaf and each feature's factor divided back out (the paper's UNWIND), all as array
operations. The leaves' paths (features, intervals, cover fractions) are derived once per model
and cached on it. Since a leaf's contributions depend on the row only through which of its ``d``
features the row follows, shallow ensembles (d <= 8, table small) also get a table of every
leaf's contributions for all ``2**d`` patterns, built on the first explanation: a row is then a
lookup. Comparisons are the compiled walk's own (float32 row, ``x <= threshold`` goes left, NaN
goes right), so the leaf a row reaches here is the leaf it is scored by.

Needs the node cover (``CompiledTrees.cover``); artifacts compiled before it was kept raise
a ``ConflictError`` asking to recompile / re-register, never an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from mlops.errors import BadRequestError, ConflictError
from mlops.serving.compiled import CompiledTrees

_CACHE_KEY = "_leaf_paths_cache"
_CHUNK_ELEMENTS = 1 << 22  # rows are explained in chunks of about this many (row, leaf, slot) cells
_TABLE_LIMIT = 1 << 21  # most cells of a model's table of contributions for every pattern of followed slots
_BITS = (1 << np.arange(8)).astype(np.uint8)  # a table is indexed by one byte: paths of at most 8 features


@dataclass(frozen=True)
class LeafPaths:
    """Every leaf of every tree with the unique features of its path, padded to ``D`` slots.

    A padding slot has ``valid`` False, ``zero`` 1 and is never "followed", so its factor in the
    path polynomial is the constant 1.
    """

    feature: np.ndarray  # (L, D) int64: feature of the slot (0 in padding)
    lo: np.ndarray  # (L, D) float64: the row follows the path iff not (x <= lo) (NaN: no lower bound) ...
    hi: np.ndarray  # (L, D) float64: ... and x <= hi (inf: no upper bound; NaN in padding: never)
    zero: np.ndarray  # (L, D) float64: fraction of the cover that follows the path at this feature
    valid: np.ndarray  # (L, D) bool
    weight: np.ndarray  # (L, D) float64: Shapley weight k! (d-1-k)! / d! of coefficient k, d = path size
    value: np.ndarray  # (L, V) float64: the leaf's addition to every raw output column
    base: np.ndarray  # (V,) float64: the expected raw output under the cover (shap's expected_value)
    # (L * 2**D, D, V): what every slot adds for each pattern of followed slots (bit s = slot s), when
    # that is small (shallow trees): a row then costs a lookup instead of the polynomial arithmetic
    groups: tuple[tuple[int, int, int], ...]  # (first, end, path size) of the leaves, sorted by path size
    table: np.ndarray | None
    scatter: np.ndarray | None  # (L * D, F) float64: slot -> its feature, when small; else bincount


def _tree_leaves(
    feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray, cover: np.ndarray
) -> list[tuple[int, list[tuple[int, float, float, float]]]]:
    """(leaf node, [(feature, lo, hi, zero fraction) per unique feature in order of first split])."""
    out: list[tuple[int, list[tuple[int, float, float, float]]]] = []
    stack: list[tuple[int, dict[int, list[float]]]] = [(0, {})]
    while stack:
        node, path = stack.pop()
        f = int(feature[node])
        if f < 0:
            out.append((node, [(g, lo, hi, z) for g, (lo, hi, z) in path.items()]))
            continue
        thr, c = float(threshold[node]), float(cover[node])
        for child, goes_left in ((int(right[node]), False), (int(left[node]), True)):
            frac = float(cover[child]) / c if c > 0 else 0.0
            lo, hi, z = path.get(f, (np.nan, np.inf, 1.0))
            bound = (lo, min(hi, thr)) if goes_left else ((thr if np.isnan(lo) else max(lo, thr)), hi)
            stack.append((child, {**path, f: [bound[0], bound[1], z * frac]}))
    return out


def _slots(leaves: list[tuple[int, int, list[tuple[int, float, float, float]]]]) -> tuple[np.ndarray, ...]:
    """The per-leaf path lists as padded (L, D) arrays."""
    L, D = len(leaves), max(1, max(len(path) for _t, _n, path in leaves))
    feature = np.zeros((L, D), dtype=np.int64)
    lo = np.full((L, D), np.nan)
    hi = np.full((L, D), np.nan)
    zero = np.ones((L, D))
    valid = np.zeros((L, D), dtype=bool)
    weight = np.zeros((L, D))
    for r, (_t, _n, path) in enumerate(leaves):
        d = len(path)
        for s, (g, a, b, z) in enumerate(path):
            feature[r, s], lo[r, s], hi[r, s], zero[r, s], valid[r, s] = g, a, b, z, True
        for k in range(d):
            weight[r, k] = factorial(k) * factorial(d - 1 - k) / factorial(d)
    return feature, lo, hi, zero, valid, weight


def _unwound(one: np.ndarray, zero: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(m, L, D): ``(o_i - z_i) * sum_k w_k [t^k] prod_{j != i} (z_j + o_j t)`` for followed flags ``one``.

    Computed slot-first ((D, m, L): every step works on contiguous (m, L) planes).
    """
    m, L, D = one.shape
    ones = np.moveaxis(one, -1, 0)  # (D, m, L) bool
    o = ones.astype(np.float64)
    z = np.ascontiguousarray(zero.T)[:, None, :]  # (D, 1, L)
    w = np.ascontiguousarray(weight.T)[:, None, :]
    poly = np.zeros((D + 1, m, L))  # prod_j (z_j + o_j t), coefficient k at [k]
    poly[0] = 1.0
    for j in range(D):  # EXTEND: only coefficients 0..j are non-zero so far
        poly[1 : j + 2] = poly[1 : j + 2] * z[j] + poly[: j + 1] * o[j]
        poly[0] *= z[j]
    # o_i = 0: the factor is the constant z_i, so sum_k w_k [t^k] (poly / z_i) = s0 / z_i
    s0 = (poly[:D] * w).sum(axis=0)
    out = np.empty((m, L, D))
    q = np.empty((D, m, L))
    for i in range(D):  # UNWIND slot i with o_i = 1: q = poly / (z_i + t), from the top coefficient down
        q[D - 1] = poly[D]
        for k in range(D - 1, 0, -1):
            np.multiply(q[k], z[i], out=q[k - 1])
            np.subtract(poly[k], q[k - 1], out=q[k - 1])
        s1 = (q * w).sum(axis=0)
        s = np.where(ones[i], s1, s0 / np.where(z[i] > 0, z[i], 1.0))
        out[..., i] = s * (o[i] - z[i])
    return out


def _table(zero: np.ndarray, valid: np.ndarray, weight: np.ndarray, value: np.ndarray) -> np.ndarray | None:
    """Every slot's contribution for all 2**D patterns of followed slots, or None when too big."""
    L, D = zero.shape
    P, V = 1 << D, value.shape[1]
    if D > _BITS.shape[0] or L * P * D * V > _TABLE_LIMIT:
        return None
    bits = ((np.arange(P)[:, None] >> np.arange(D)) & 1).astype(bool)  # (P, D)
    g = _unwound(bits[:, None, :] & valid, zero, weight) * valid  # (P, L, D)
    return (g.transpose(1, 0, 2)[..., None] * value[:, None, None, :]).reshape(L * P, D, V)


def leaf_paths(compiled: CompiledTrees) -> LeafPaths:
    """The leaves' paths of ``compiled`` (cached on it): what every explanation of the model reuses."""
    cached = compiled.__dict__.get(_CACHE_KEY)
    if isinstance(cached, LeafPaths):
        return cached
    if compiled.cover is None:
        raise ConflictError(
            "this model's compiled trees were stored without node cover (compiled before explanations "
            "existed): recompile / re-register the model to explain it",
            code="recompile_to_explain",
        )
    leaves: list[tuple[int, int, list[tuple[int, float, float, float]]]] = []
    for t in range(compiled.feature.shape[0]):
        args = (
            compiled.feature[t],
            compiled.threshold[t],
            compiled.left[t],
            compiled.right[t],
            compiled.cover[t],
        )
        leaves.extend((t, node, path) for node, path in _tree_leaves(*args))
    leaves.sort(key=lambda leaf: len(leaf[2]))  # by path size: the polynomial runs per size, without padding
    sizes = np.array([len(path) for _t, _n, path in leaves])
    starts = np.flatnonzero(np.diff(sizes, prepend=-1))
    groups = tuple(
        (int(a), int(b), int(sizes[a])) for a, b in zip(starts, [*starts[1:], len(leaves)], strict=True)
    )
    feature, lo, hi, zero, valid, weight = _slots(leaves)
    tree = np.array([t for t, _n, _p in leaves], dtype=np.int64)
    node = np.array([n for _t, n, _p in leaves], dtype=np.int64)
    n_out = compiled.init.shape[0]
    value = np.zeros((len(leaves), n_out))
    if compiled.kind == "forest":  # the raw output is the mean of the trees' class fractions
        value[:] = compiled.value[tree, node, :] / compiled.feature.shape[0]
        init = np.zeros(n_out)
    else:  # boosting: every tree adds its (learning-rate scaled) leaf to one output column
        value[np.arange(len(leaves)), compiled.tree_output[tree]] = compiled.value[tree, node, 0]
        init = np.asarray(compiled.init, dtype=np.float64)
    base = init + (value * zero.prod(axis=1)[:, None]).sum(axis=0)
    table = _table(zero, valid, weight, value)
    scatter = None
    if feature.size * compiled.n_features <= _TABLE_LIMIT:  # slots -> features as a matrix product
        scatter = np.zeros((feature.size, compiled.n_features))
        scatter[np.arange(feature.size), feature.ravel()] = valid.ravel()
    paths = LeafPaths(feature, lo, hi, zero, valid, weight, value, base, groups, table, scatter)
    compiled.__dict__[_CACHE_KEY] = paths
    return paths


def _contributions(p: LeafPaths, X: np.ndarray) -> np.ndarray:
    """(n, L * D, V): what every path slot of every leaf adds to every output for every row of ``X``.

    ``X`` has no NaN (they are +inf: both go right at every split, as in the compiled walk).
    """
    xs = X[:, p.feature]  # (n, L, D)
    one = np.greater(xs <= p.hi, xs <= p.lo)  # followed: x <= hi and not x <= lo (False in padding)
    n, (L, D), V = X.shape[0], p.feature.shape, p.value.shape[1]
    if p.table is not None:
        code = (one.view(np.uint8) @ _BITS[:D]).astype(np.int64)  # bit s = slot s followed
        code += np.arange(L, dtype=np.int64) * (1 << D)
        return p.table.take(code, axis=0).reshape(n, L * D, V)
    g = np.zeros((n, L, D))
    for a, b, d in p.groups:  # a leaf without splits (a one-node tree) adds nothing to any feature
        if d:
            g[:, a:b, :d] = _unwound(one[:, a:b, :d], p.zero[a:b, :d], p.weight[a:b, :d])
    return (g[..., None] * p.value[:, None, :]).reshape(n, L * D, V)


def tree_shap_all(compiled: CompiledTrees, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(base (V,), contributions (n, n_features, V))`` for every raw output column ``V``."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != compiled.n_features:
        raise BadRequestError(f"expected rows of {compiled.n_features} features, got shape {X.shape}")
    p = leaf_paths(compiled)
    Xf = X.astype(np.float32).astype(np.float64)  # float32 comparisons, as the compiled walk does
    Xf[np.isnan(Xf)] = np.inf
    n, F = Xf.shape
    L, D = p.feature.shape
    V = p.value.shape[1]
    phi = np.zeros((n, F, V))
    step = max(1, _CHUNK_ELEMENTS // (L * (D + 1) * V))
    for start in range(0, n, step):
        g = _contributions(p, Xf[start : start + step])  # (m, L * D, V)
        m = g.shape[0]
        for v in range(V):
            if p.scatter is not None:
                phi[start : start + m, :, v] = g[..., v] @ p.scatter
                continue
            idx = (np.arange(m, dtype=np.int64)[:, None] * F + p.feature.ravel()).ravel()
            phi[start : start + m, :, v] = np.bincount(
                idx, weights=g[..., v].ravel(), minlength=m * F
            ).reshape(m, F)
    return p.base.copy(), phi


def tree_shap(compiled: CompiledTrees, X: np.ndarray, output: int | None = None) -> tuple[float, np.ndarray]:
    """``(base_value, contributions (n, n_features))`` of one raw output column.

    ``output`` defaults to the only column (GradientBoosting binary / regressor) or, for a
    two-class forest, to the positive class (column 1); a model with more outputs needs it.
    """
    n_out = compiled.init.shape[0]
    if output is None:
        if n_out > 2 or (n_out == 2 and compiled.kind != "forest"):
            raise BadRequestError(f"the model has {n_out} outputs: say which one to explain (0..{n_out - 1})")
        output = n_out - 1
    if not 0 <= output < n_out:
        raise BadRequestError(f"output {output} out of range: the model has {n_out} outputs")
    base, phi = tree_shap_all(compiled, X)
    return float(base[output]), phi[:, :, output]
