"""Exact Tree SHAP over the compiled trees: additive, equal to the Shapley definition, equal to ``shap``.

The always-on tests check a hand-computed tree, additivity to 1e-9 on every supported kind and
agreement with a brute-force Shapley computation (the paper's Algorithm 1 over all feature
subsets). The cross-check against the real ``shap`` package runs its ``TreeExplainer`` in a
subprocess of its own venv (``.mlops/bench-venvs/shap``, never a project dependency) and skips,
saying how to create it, when that venv is missing.
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from mlops.errors import BadRequestError, ConflictError
from mlops.serving.compiled import CompiledTrees, compile_model
from mlops.serving.explain import leaf_paths, tree_shap, tree_shap_all
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)

from tests.harness import peer_venv_python

ROOT = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(7)
X = RNG.normal(size=(800, 8))
Y2 = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
Y3 = np.digitize(X[:, 0] + 0.5 * X[:, 3], [-0.5, 0.5])
YR = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + 0.1 * RNG.normal(size=len(X))
XT = RNG.normal(size=(300, 8)) * 1.7  # wider than training: every branch gets used

MODELS = {
    "gb-binary": lambda: GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(X, Y2),
    "gb-binary-subsample": lambda: GradientBoostingClassifier(
        n_estimators=30, max_depth=4, subsample=0.7, random_state=0
    ).fit(X, Y2),
    "gb-multiclass": lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(
        X, Y3
    ),
    "gb-regressor": lambda: GradientBoostingRegressor(n_estimators=50, max_depth=4, random_state=0).fit(
        X, YR
    ),
    "rf-binary": lambda: RandomForestClassifier(n_estimators=15, max_depth=8, random_state=0).fit(X, Y2),
    "rf-multiclass": lambda: RandomForestClassifier(n_estimators=10, random_state=0).fit(X, Y3),
    "et-multiclass": lambda: ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=0).fit(X, Y3),
}


def _compiled(model) -> CompiledTrees:
    compiled = compile_model(model)
    assert compiled is not None
    return CompiledTrees.from_npz(compiled.to_npz())  # explain what serving actually loads


# ---------------------------------------------------------------- always on: the definition
def _hand_tree() -> CompiledTrees:
    """x0 <= 0.5 ? (x1 <= 0.5 ? 1 : 3) : 10 with covers 10 -> (6 -> 2, 4), 4; init 0.5."""
    return CompiledTrees(
        kind="gb-regressor",
        feature=np.array([[0, 1, -1, -1, -1]], dtype=np.int32),
        threshold=np.array([[0.5, 0.5, np.inf, np.inf, np.inf]]),
        left=np.array([[1, 3, 2, 3, 4]], dtype=np.int32),
        right=np.array([[2, 4, 2, 3, 4]], dtype=np.int32),
        value=np.array([[[0.0], [0.0], [10.0], [1.0], [3.0]]]),
        tree_output=np.array([0], dtype=np.int32),
        init=np.array([0.5]),
        depth=2,
        classes=None,
        n_features=2,
        cover=np.array([[10.0, 6.0, 4.0, 2.0, 4.0]]),
    )


def test_a_hand_computed_two_feature_tree():
    # Without the init 0.5: E f = .6 (1/3 * 1 + 2/3 * 3) + .4 * 10 = 5.4; E[f | x0 = 0] = 7/3;
    # E[f | x1 = 1] = .6 * 3 + .4 * 10 = 5.8; f(0, 1) = 3. Shapley with two players:
    # phi0 = ((7/3 - 5.4) + (3 - 5.8)) / 2 = -44/15, phi1 = ((5.8 - 5.4) + (3 - 7/3)) / 2 = 8/15
    compiled = _hand_tree()
    base, phi = tree_shap(compiled, np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]))
    assert base == pytest.approx(5.9, abs=1e-12)
    np.testing.assert_allclose(phi[0], [-44 / 15, 8 / 15], rtol=0, atol=1e-12)
    # x = (0, 0) reaches the leaf of value 1; E[f | x1 = 0] = .6 * 1 + .4 * 10
    e1 = 0.6 * 1 + 4.0
    np.testing.assert_allclose(
        phi[1], [((7 / 3 - 5.4) + (1 - e1)) / 2, ((e1 - 5.4) + (1 - 7 / 3)) / 2], rtol=0, atol=1e-12
    )
    # x = (1, 0) goes right at the root: x1 is never used on that path, yet changes E[f | x1]
    np.testing.assert_allclose(
        phi[2], [((10 - 5.4) + (10 - e1)) / 2, ((e1 - 5.4) + (10 - 10)) / 2], atol=1e-12
    )
    np.testing.assert_allclose(
        base + phi.sum(axis=1), compiled.raw(np.array([[0, 1], [0, 0], [1, 0.0]]))[:, 0]
    )


def test_a_tree_without_splits_moves_the_base_value_only():
    one = _hand_tree()
    two = CompiledTrees(
        kind="gb-regressor",
        feature=np.vstack([one.feature, [[-1, -1, -1, -1, -1]]]).astype(np.int32),
        threshold=np.vstack([one.threshold, np.full((1, 5), np.inf)]),
        left=np.vstack([one.left, [[0, 0, 0, 0, 0]]]).astype(np.int32),
        right=np.vstack([one.right, [[0, 0, 0, 0, 0]]]).astype(np.int32),
        value=np.concatenate([one.value, [[[2.0], [0], [0], [0], [0]]]]),
        tree_output=np.array([0, 0], dtype=np.int32),
        init=one.init,
        depth=2,
        classes=None,
        n_features=2,
        cover=np.vstack([one.cover, [[10.0, 0, 0, 0, 0]]]),
    )
    rows = np.array([[0.0, 1.0], [1.0, 0.0]])
    base1, phi1 = tree_shap(one, rows)
    base2, phi2 = tree_shap(two, rows)
    assert base2 == pytest.approx(base1 + 2.0, abs=1e-12)
    np.testing.assert_allclose(phi2, phi1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base2 + phi2.sum(axis=1), two.raw(rows)[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_contributions_plus_base_equal_the_raw_output_of_every_row(name):
    compiled = _compiled(MODELS[name]())
    base, phi = tree_shap_all(compiled, XT)
    assert phi.shape == (len(XT), X.shape[1], compiled.init.shape[0])
    np.testing.assert_allclose(base + phi.sum(axis=1), compiled.raw(XT), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["gb-binary", "rf-multiclass"])
def test_nan_and_infinite_values_follow_the_compiled_walk(name):
    compiled = _compiled(MODELS[name]())
    rows = XT[:60].copy()
    rows[::3, 0] = np.nan
    rows[1::3, 1] = np.inf
    rows[2::3, 2] = -np.inf
    base, phi = tree_shap_all(compiled, rows)
    np.testing.assert_allclose(base + phi.sum(axis=1), compiled.raw(rows), rtol=0, atol=1e-9)


def _expected(c: CompiledTrees, t: int, x: np.ndarray, known: set[int], node: int = 0) -> np.ndarray:
    """E[tree t | x_known] under the cover (the paper's Algorithm 1)."""
    f = int(c.feature[t, node])
    if f < 0:
        return c.value[t, node]
    left, right = int(c.left[t, node]), int(c.right[t, node])
    if f in known:
        goes_left = np.float64(np.float32(x[f])) <= c.threshold[t, node]
        return _expected(c, t, x, known, left if goes_left else right)
    assert c.cover is not None
    cov = c.cover[t]
    return (
        cov[left] * _expected(c, t, x, known, left) + cov[right] * _expected(c, t, x, known, right)
    ) / cov[node]


def _brute_force_shapley(c: CompiledTrees, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    F, T = c.n_features, c.feature.shape[0]

    def value(known: frozenset[int]) -> np.ndarray:
        per_tree = np.array([_expected(c, t, x, set(known)) for t in range(T)])
        if c.kind == "forest":
            return per_tree.mean(axis=0)
        out = c.init.copy()
        for t in range(T):
            out[c.tree_output[t]] += per_tree[t, 0]
        return out

    v = {frozenset(s): value(frozenset(s)) for r in range(F + 1) for s in itertools.combinations(range(F), r)}
    phi = np.zeros((F, c.init.shape[0]))
    for i in range(F):
        for s, vs in v.items():
            if i not in s:
                w = math.factorial(len(s)) * math.factorial(F - len(s) - 1) / math.factorial(F)
                phi[i] += w * (v[s | {i}] - vs)
    return v[frozenset()], phi


@pytest.mark.parametrize(
    "model,y",
    [
        # 3 features and depth 5: paths split on the same feature again (the merged-feature case)
        (GradientBoostingClassifier(n_estimators=8, max_depth=5, random_state=0), Y2),
        (GradientBoostingClassifier(n_estimators=4, max_depth=3, random_state=0), Y3),
        (GradientBoostingRegressor(n_estimators=8, max_depth=4, random_state=0), YR),
        (RandomForestClassifier(n_estimators=4, max_depth=6, random_state=0), Y3),
    ],
)
def test_equal_to_the_shapley_definition_by_brute_force(model, y):
    cols = [0, 1, 2, 3, 5]
    compiled = _compiled(model.fit(X[:300, cols], y[:300]))
    rows = XT[:4, cols]
    base, phi = tree_shap_all(compiled, rows)
    for r, x in enumerate(rows):
        b, p = _brute_force_shapley(compiled, x)
        np.testing.assert_allclose(base, b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(phi[r], p, rtol=0, atol=1e-12)


def test_a_compiled_artifact_without_cover_asks_to_recompile_never_guesses():
    compiled = compile_model(MODELS["gb-binary"]())
    assert compiled is not None and compiled.cover is not None
    assert CompiledTrees.from_npz(compiled.to_npz()).cover is not None
    compiled.cover = None  # what an artifact compiled before the cover was kept loads as
    old = CompiledTrees.from_npz(compiled.to_npz())
    assert old.cover is None
    np.testing.assert_allclose(old.predict_proba(XT), compiled.predict_proba(XT))  # still scores
    with pytest.raises(ConflictError, match="recompile / re-register") as err:
        tree_shap(old, XT[:1])
    assert err.value.code == "recompile_to_explain"


def test_which_output_is_explained():
    binary = _compiled(MODELS["rf-binary"]())
    base, phi = tree_shap(binary, XT[:5])  # a two-class forest: the positive class
    np.testing.assert_allclose(base + phi.sum(axis=1), binary.predict_proba(XT[:5])[:, 1], atol=1e-9)
    multi = _compiled(MODELS["gb-multiclass"]())
    with pytest.raises(BadRequestError, match="3 outputs"):
        tree_shap(multi, XT[:1])
    with pytest.raises(BadRequestError, match="out of range"):
        tree_shap(multi, XT[:1], output=3)
    base, phi = tree_shap(multi, XT[:5], output=2)
    np.testing.assert_allclose(base + phi.sum(axis=1), multi.raw(XT[:5])[:, 2], atol=1e-9)
    with pytest.raises(BadRequestError, match="8 features"):
        tree_shap(multi, XT[:1, :5], output=0)


def test_a_registered_model_is_explainable_from_what_the_registry_stores(tmp_path):
    from mlops.registry import Registry
    from mlops.storage import FileStore

    reg = Registry(FileStore(str(tmp_path / "s")), actor="alice")
    model = MODELS["gb-binary"]()
    rec = reg.register_version("m", model, X, Y2)
    compiled, _ = reg.get_compiled("m", rec["version"])
    assert compiled is not None and compiled.cover is not None
    base, phi = tree_shap(compiled, XT[:20])
    margin = model.decision_function(XT[:20])
    np.testing.assert_allclose(base + phi.sum(axis=1), margin, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["gb-binary", "gb-multiclass", "rf-binary"])
def test_the_lookup_table_the_polynomial_and_chunking_agree(name, monkeypatch):
    import mlops.serving.explain as explain

    compiled = _compiled(MODELS[name]())
    uses_table = leaf_paths(compiled).table is not None
    first = tree_shap_all(compiled, XT)[1]
    monkeypatch.setattr(explain, "_TABLE_LIMIT", 0 if uses_table else 1 << 40)  # the other way
    monkeypatch.setattr(explain, "_CHUNK_ELEMENTS", 1)  # and one row per chunk
    other = _compiled(MODELS[name]())
    assert (leaf_paths(other).table is None) == uses_table
    np.testing.assert_allclose(tree_shap_all(other, XT)[1], first, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- the real shap package, in its own venv


SHAP_SCRIPT = textwrap.dedent(
    """
    import sys
    import joblib, numpy as np, shap
    model = joblib.load(sys.argv[1])
    rows = np.load(sys.argv[2])
    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(rows), dtype=np.float64)
    np.savez(sys.argv[3], base=np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64)),
             values=values, version=np.array(shap.__version__))
    """
)

SHAP_VENV_HOW = "no shap venv: bash .ci/peer-venv shap (or set MLOPS_SHAP_VENV)"


@pytest.mark.parametrize(
    "name", ["gb-binary", "gb-binary-subsample", "gb-regressor", "rf-binary", "et-multiclass"]
)
def test_equal_to_shap_tree_explainer_on_the_same_fitted_model(name, tmp_path):
    python = peer_venv_python("shap")
    if python is None:
        if os.environ.get("CI"):  # .ci/test makes the venv: in CI a missing one is a failure, not a skip
            pytest.fail(SHAP_VENV_HOW)
        pytest.skip(SHAP_VENV_HOW)
    model = MODELS[name]()
    joblib.dump(model, tmp_path / "model.joblib")
    rows = XT[:100]
    np.save(tmp_path / "rows.npy", rows)
    (tmp_path / "explain.py").write_text(SHAP_SCRIPT)
    args = [
        str(python),
        str(tmp_path / "explain.py"),
        str(tmp_path / "model.joblib"),
        str(tmp_path / "rows.npy"),
    ]
    subprocess.run([*args, str(tmp_path / "out.npz")], check=True, timeout=300, cwd=tmp_path)
    theirs = np.load(tmp_path / "out.npz")
    base, phi = tree_shap_all(_compiled(model), rows)
    their_values = theirs["values"].reshape(phi.shape)  # (n, F) for one output, (n, F, V) otherwise
    np.testing.assert_allclose(base, theirs["base"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(phi, their_values, rtol=0, atol=1e-6)
    print(
        f"{name}: shap {theirs['version']} max |diff| {np.abs(phi - their_values).max():.2e}", file=sys.stderr
    )
