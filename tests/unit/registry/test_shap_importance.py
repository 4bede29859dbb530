"""Issue 18 §1: a version's global importances (mean |SHAP|) are computed at registration from the training rows."""

from __future__ import annotations

import numpy as np
import pytest
from mlops.registry import shapimportance
from mlops.serving.explain import tree_shap_all


def _data(n: int, f: int = 6, seed: int = 3) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    y = (2.0 * X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y, [f"f{i}" for i in range(f)]


def test_tree_model_gets_exact_mean_abs_shap_over_the_training_rows(reg):
    from sklearn.ensemble import GradientBoostingClassifier

    X, y, names = _data(400)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
    rec = reg.register_version("m", model, X, y, feature_names=names)
    imp = rec["shap_importance"]
    assert imp["method"] == "tree_shap_exact" and imp["rows"] == 400 and imp["sample"] == "all"
    assert imp["output_space"] == "log-odds"
    assert set(imp["values"]) == set(names)
    values = list(imp["values"].values())
    assert values == sorted(values, reverse=True), "largest first"
    assert next(iter(imp["values"])) == "f0", "the feature that drives y matters most"
    compiled, stored = reg.get_compiled("m", rec["version"])
    assert stored["shap_importance"] == imp, "kept in the version record"
    _, phi = tree_shap_all(compiled, X)
    expected = np.abs(phi[:, :, 0]).mean(axis=0)
    for i, name in enumerate(names):
        assert imp["values"][name] == pytest.approx(expected[i], rel=1e-5, abs=1e-12)


def test_more_rows_than_the_limit_are_sampled_deterministically(reg):
    from sklearn.ensemble import GradientBoostingRegressor

    X, _, names = _data(shapimportance.MAX_ROWS + 700)
    y = X[:, 0] * 3 + X[:, 2]
    model = GradientBoostingRegressor(n_estimators=10, max_depth=2, random_state=0).fit(X, y)
    a = reg.register_version("r", model, X, y, feature_names=names)["shap_importance"]
    b = reg.register_version("r", model, X, y, feature_names=names)["shap_importance"]
    assert a["rows"] == shapimportance.MAX_ROWS and a["rows_total"] == X.shape[0]
    assert a["sample"] == "seeded-0" and a["output_space"] == "prediction"
    assert a == b, "the same training rows give the same importances"
    rows = shapimportance.sample_rows(X.shape[0])
    assert len(set(rows.tolist())) == shapimportance.MAX_ROWS and np.all(np.diff(rows) > 0)


def test_binary_forest_is_explained_in_probability_of_the_positive_class(reg):
    from sklearn.ensemble import RandomForestClassifier

    X, y, names = _data(300)
    labels = np.where(y == 1, "sick", "well")
    model = RandomForestClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, labels)
    imp = reg.register_version("rf", model, X, labels, feature_names=names)["shap_importance"]
    assert imp["output_space"] == "probability of class well"  # sklearn sorts the classes: [sick, well]
    assert next(iter(imp["values"])) == "f0"


def test_other_models_get_mean_abs_sampling_shapley_and_signature_only_versions_none(reg, training):
    X, y, names, model = training  # a LogisticRegression: no compiled tree scorer
    rec = reg.register_version("lr", model, X, y, feature_names=names)
    imp = rec["shap_importance"]
    assert rec["compiled"] is None and imp["method"] == "sampling_shapley"
    assert imp["output_space"] == "probability of class 1" and set(imp["values"]) == set(names)
    assert imp["background_rows"] == min(shapimportance.SAMPLED_BACKGROUND, len(X))
    sig = {"inputs": [{"name": n, "dtype": "float64", "kind": "numeric"} for n in names]}
    rec2 = reg.register_version("lr", model, signature=sig)
    assert rec2["shap_importance"] is None


def test_a_linear_regressor_gets_its_exact_mean_abs_contributions(reg):
    """For a linear model every permutation gives w_j (x_j - mean_b x_j): the sampled importance is exact."""
    from sklearn.linear_model import Ridge

    X, _, names = _data(300)
    y = 3.0 * X[:, 0] - 1.0 * X[:, 2] + 0.1 * X[:, 4]
    model = Ridge(alpha=1e-6).fit(X, y)
    imp = reg.register_version("ridge", model, X, y, feature_names=names)["shap_importance"]
    assert imp["method"] == "sampling_shapley" and imp["output_space"] == "prediction"
    assert list(imp["values"])[:3] == ["f0", "f2", "f4"]
    background = X[shapimportance.sample_rows(len(X), shapimportance.SAMPLED_BACKGROUND)]
    rows = X[shapimportance.sample_rows(len(X), imp["rows"])]
    expected = np.abs(model.coef_ * (rows - background.mean(axis=0))).mean(axis=0)
    for i, name in enumerate(names):
        assert imp["values"][name] == pytest.approx(expected[i], rel=1e-5, abs=1e-9)


def test_models_show_prints_the_top_features_by_mean_abs_shap(tmp_path, capsys):
    from mlops.cli import main
    from mlops.registry import Registry
    from mlops.storage import FileStore
    from sklearn.ensemble import GradientBoostingClassifier

    X, y, names = _data(300, f=8)
    model = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(X, y)
    reg = Registry(FileStore(tmp_path / "store"), actor="alice")
    imp = reg.register_version("m", model, X, y, feature_names=names, tags={"class_names": "no,yes"})[
        "shap_importance"
    ]
    assert main(["models", "show", "m", "--version", "1", f"--store={tmp_path / 'store'}"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("importance (mean |SHAP|"))
    top = list(imp["values"].items())[:5]
    assert line.startswith("importance (mean |SHAP|, log-odds, 300 training rows): f0 ")
    assert all(name in line for name, _ in top) and "(+3 more)" in line
    assert "classes: 0 = no, 1 = yes" in out


def test_costly_models_explain_fewer_rows_within_the_work_budget(reg):
    from mlops.serving.explain import leaf_paths
    from sklearn.ensemble import RandomForestClassifier

    X, y, names = _data(2400, f=10)
    y = (y + (np.random.default_rng(0).random(2400) < 0.3)) % 2  # label noise: fully grown trees get deep
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    rec = reg.register_version("deep", model, X, y, feature_names=names)
    compiled, _ = reg.get_compiled("deep", rec["version"])
    paths = leaf_paths(compiled)
    assert paths.table is None, "deep paths: no lookup table, every row unwinds every leaf's path"
    expected = shapimportance.rows_within_budget(paths)
    assert shapimportance.MIN_ROWS <= expected < shapimportance.MAX_ROWS
    assert expected * shapimportance._row_cost(paths) <= max(
        shapimportance.WORK_BUDGET, shapimportance.MIN_ROWS * shapimportance._row_cost(paths)
    )
    imp = rec["shap_importance"]
    assert imp["rows"] == expected and imp["rows_total"] == 2400 and imp["sample"] == "seeded-0"
