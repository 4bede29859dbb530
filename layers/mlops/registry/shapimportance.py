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
``/explain`` use). Any other model gets None for now: ``_model_agnostic`` is the single place where a
sampling explainer plugs in.
"""

from __future__ import annotations

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


def _model_agnostic(model_obj: Any, names: list[str], columns: Mapping[str, Any]) -> dict[str, Any] | None:
    """Models without a compiled tree scorer: the model-agnostic (sampling) explainer goes here."""
    return None


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
    order = np.argsort(-per_feature, kind="stable")
    return {
        "method": METHOD_TREE,
        "rows": int(rows.shape[0]),
        "rows_total": int(n),
        "sample": "all" if rows.shape[0] == n else f"seeded-{SEED}",
        "output_space": space,
        "values": {names[i]: float(f"{per_feature[i]:.6g}") for i in order},
    }


def _label(classes: Any, index: int) -> str:
    if classes is None or len(classes) <= index:
        return str(index)
    c = classes[index]
    return str(c.item() if hasattr(c, "item") else c)
