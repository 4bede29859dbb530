"""Global feature importance of a version, computed once at registration while the training rows are at hand.

``version_importance`` returns the small dict stored as the version record's ``shap_importance``::

    {"method": "tree_shap_exact", "rows": 2000, "rows_total": 5000, "sample": "seeded-0",
     "output_space": "log-odds", "values": {"income": 0.41, "age": 0.12, ...}}

``values`` is every input feature's mean absolute SHAP value over the rows (up to ``MAX_ROWS``, a
seeded sample when there are more; fewer, down to ``MIN_ROWS``, for a model so large that explaining
a row costs more than ``WORK_BUDGET / MAX_ROWS``: a forest of fully grown trees, whose exact Tree
SHAP costs about (leaves x path length squared) per row), largest first: the average size of what the feature moves the
model's raw output, in the units of ``output_space``. A tree ensemble with a compiled scorer is
explained exactly by ``mlops.serving.explain.tree_shap_all`` on that scorer (the one serving and
``/explain`` use). Any other model with numeric features gets the mean |sampling Shapley value|
(``mlops.serving.sampling_shap``, what ``/explain`` uses for it) on fewer rows, sized to a budget of
model evaluations; text features get None.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlops.registry import artifacts

MAX_ROWS = 2000
MIN_ROWS = 50
# what registration may spend, in units of ``_row_cost``: measured at 2-3e7 units/s on a loaded core for
# every kind of ensemble (lookup tables and unwinding alike), so at most a few seconds, usually well under one
WORK_BUDGET = 50_000_000
SEED = 0
METHOD_TREE = "tree_shap_exact"

# the raw output Tree SHAP decomposes, by compiled kind (``mlops.serving.compiled.CompiledTrees.kind``)
_OUTPUT_SPACE = {
    "gb-binary": "log-odds",
    "gb-multiclass": "log-odds, summed over classes",
    "gb-regressor": "prediction",
    "forest": "probability",
}


def sample_rows(n: int, limit: int = MAX_ROWS, seed: int = SEED) -> np.ndarray:
    """Indices of the rows to explain: all of them up to ``limit``, else a seeded sample in row order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _row_cost(paths: Any) -> int:
    """What explaining one row costs: a lookup per leaf slot with a table of patterns, else the path
    polynomial's unwinding, about d * d per leaf of path length d (``mlops.serving.explain``)."""
    if paths.table is not None:
        return int(paths.feature.size)
    return int(sum((end - first) * (d + 1) * (d + 1) for first, end, d in paths.groups))


def rows_within_budget(paths: Any) -> int:
    """How many rows to explain: ``MAX_ROWS``, or fewer (not under ``MIN_ROWS``) when rows are costly."""
    return max(MIN_ROWS, min(MAX_ROWS, WORK_BUDGET // max(1, _row_cost(paths))))


def version_importance(
    store: Any,
    compiled_ref: Mapping[str, Any] | None,
    model_obj: Any,
    sig: Mapping[str, Any],
    columns: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The ``shap_importance`` of a version being registered (see the module doc), or None when there are
    no training rows or no explainer for the model."""
    if columns is None:
        return None
    names = [f["name"] for f in sig["inputs"]]
    if compiled_ref:
        return _tree_importance(store, compiled_ref, names, columns)
    return _model_agnostic(model_obj, names, columns)


# sampling Shapley at registration: a coarser estimate than ``/explain``'s (8 permutations over 25 background
# rows rather than 16 over 100) so that the model evaluations it spends (rows x permutations x (features - 1)
# x background) stay within ``SAMPLED_BUDGET``: 1.7-3 s at load 12 for a scaled logistic regression on 30 features,
# which gets 172 rows (a mean over 431 rows with /explain's settings took 37 s on the loaded 2-core machine)
SAMPLED_BUDGET = 1_000_000
SAMPLED_MIN_ROWS = 20
SAMPLED_PERMUTATIONS = 8
SAMPLED_BACKGROUND = 25
METHOD_SAMPLED = "sampling_shapley"


def _model_agnostic(model_obj: Any, names: list[str], columns: Mapping[str, Any]) -> dict[str, Any] | None:
    """Models without a compiled tree scorer: mean |sampling Shapley| (``mlops.serving.sampling_shap``, the
    method ``/explain`` uses for them) over a seeded background of ``SAMPLED_BACKGROUND`` training rows, on a
    seeded sample of rows sized to ``SAMPLED_BUDGET``. A classifier's output is the probability of its positive class (two
    classes) or of each row's predicted class; a regressor's its prediction. None for text features."""
    from mlops.serving.sampling_shap import sampling_shapley

    if model_obj is None or not names:
        return None
    try:
        X_all = np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in names])
    except (TypeError, ValueError, KeyError):
        return None  # text features: not explained
    n, F = X_all.shape
    if n == 0 or F < 2:
        return None
    background = X_all[sample_rows(n, SAMPLED_BACKGROUND)]
    per_row = SAMPLED_PERMUTATIONS * (F - 1) * background.shape[0]
    rows = sample_rows(n, max(SAMPLED_MIN_ROWS, min(MAX_ROWS, SAMPLED_BUDGET // per_row)))
    X = X_all[rows]
    with warnings.catch_warnings():  # a model fitted on a frame warns about plain arrays on every call
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        f, space = _output_of(model_obj, X)
        if f is None:
            return None
        phi = sampling_shapley(f, X, background, permutations=SAMPLED_PERMUTATIONS).phi  # (rows, features)
    return _summary(
        METHOD_SAMPLED,
        rows,
        n,
        space,
        names,
        np.abs(phi).mean(axis=0),
        permutations=SAMPLED_PERMUTATIONS,
        background_rows=int(background.shape[0]),
    )


def _summary(
    method: str, rows: np.ndarray, n: int, space: str, names: list[str], per_feature: np.ndarray, **extra: Any
) -> dict[str, Any]:
    """The stored ``shap_importance``: how it was computed, and each feature's mean |SHAP|, largest first."""
    order = np.argsort(-per_feature, kind="stable")
    return {
        "method": method,
        "rows": int(rows.shape[0]),
        "rows_total": int(n),
        "sample": "all" if rows.shape[0] == n else f"seeded-{SEED}",
        "output_space": space,
        **extra,
        "values": {names[i]: float(f"{per_feature[i]:.6g}") for i in order},
    }


def _output_of(model: Any, X: np.ndarray) -> tuple[Any, str]:
    """(f(rows, i) -> the output explained for row i, its name) for ``sampling_shapley``."""
    if hasattr(model, "predict_proba") and getattr(model, "classes_", None) is not None:
        classes = list(model.classes_)
        if len(classes) == 2:
            return (
                lambda Z, i: np.asarray(model.predict_proba(Z))[:, 1]
            ), f"probability of class {classes[1]}"
        picked = np.asarray(model.predict_proba(X)).argmax(axis=1)
        return (
            lambda Z, i: np.asarray(model.predict_proba(Z))[:, picked[i]]
        ), "probability of the predicted class"
    if hasattr(model, "predict") and not hasattr(model, "classes_"):
        return (lambda Z, i: np.asarray(model.predict(Z), dtype=np.float64).reshape(-1)), "prediction"
    return None, ""


def _tree_importance(
    store: Any, compiled_ref: Mapping[str, Any], names: list[str], columns: Mapping[str, Any]
) -> dict[str, Any]:
    """Exact mean |SHAP| of the compiled scorer just stored, over (a sample of) the training rows."""
    from mlops.serving.compiled import CompiledTrees
    from mlops.serving.explain import leaf_paths, tree_shap_all

    data = artifacts.fetch_verified(
        store, compiled_ref["sha256"], size=compiled_ref.get("size"), what="compiled scorer"
    )
    compiled = CompiledTrees.from_npz(data)
    n = len(columns[names[0]]) if names else 0
    rows = sample_rows(n, rows_within_budget(leaf_paths(compiled)))
    X = np.column_stack([np.asarray(columns[name], dtype=np.float64)[rows] for name in names])
    _base, phi = tree_shap_all(compiled, X)  # (rows, features, outputs)
    mean_abs = np.abs(phi).mean(axis=0)  # (features, outputs)
    space = _OUTPUT_SPACE.get(compiled.kind, "raw")
    if compiled.kind == "forest" and mean_abs.shape[1] == 2:
        per_feature = mean_abs[:, 1]  # two classes: class 0's contributions mirror class 1's
        space = f"probability of class {_label(compiled.classes, 1)}"
    else:
        per_feature = mean_abs.sum(axis=1)
        if compiled.kind == "forest":
            space = "probability, summed over classes"
    return _summary(METHOD_TREE, rows, n, space, names, per_feature)


def _label(classes: Any, index: int) -> str:
    if classes is None or len(classes) <= index:
        return str(index)
    c = classes[index]
    return str(c.item() if hasattr(c, "item") else c)
