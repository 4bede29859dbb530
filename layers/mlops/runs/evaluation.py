"""Holdout metrics: one function computes them for training runs and for the validation gate alike.

Classifiers get ``accuracy``, ``f1``, ``precision``, ``recall`` (binary: of the positive
class, the larger label; more classes: macro averages) and ``roc_auc`` when the model has
``predict_proba``; regressors get ``rmse``, ``mae`` and ``r2``. ``rmse``, ``mae`` and
``log_loss`` are better when lower, every other metric when higher.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops.errors import BadRequestError

LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})


def is_classifier(model: Any) -> bool:
    """True for a scikit-learn style classifier (``_estimator_type`` or fitted ``classes_``)."""
    if getattr(model, "_estimator_type", None) == "classifier":
        return True
    try:
        from sklearn.base import is_classifier as sk_is_classifier

        if sk_is_classifier(model):
            return True
    except Exception:  # noqa: BLE001 - not an sklearn object; fall back to duck typing
        pass
    return hasattr(model, "classes_")


def evaluate(model: Any, X: Any, y: Any) -> dict[str, float]:
    """The holdout metrics of ``model`` on ``(X, y)`` (see module doc)."""
    from sklearn import metrics as skm

    y_true = np.asarray(y)
    if len(y_true) == 0:
        raise BadRequestError("cannot evaluate on an empty holdout")
    y_pred = np.asarray(model.predict(X))
    if not is_classifier(model):
        err = y_pred.astype(float) - y_true.astype(float)
        return {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(np.abs(err))),
            "r2": float(skm.r2_score(y_true, y_pred)),
        }
    classes = list(getattr(model, "classes_", np.unique(y_true)))
    out: dict[str, float] = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    if len(classes) == 2:
        positive = classes[1]
        kw: dict[str, Any] = {"average": "binary", "pos_label": positive}
    else:
        kw = {"average": "macro"}
    out["f1"] = float(skm.f1_score(y_true, y_pred, zero_division=0, **kw))
    out["precision"] = float(skm.precision_score(y_true, y_pred, zero_division=0, **kw))
    out["recall"] = float(skm.recall_score(y_true, y_pred, zero_division=0, **kw))
    if hasattr(model, "predict_proba") and len(np.unique(y_true)) > 1:
        proba = np.asarray(model.predict_proba(X))
        try:
            if len(classes) == 2:
                out["roc_auc"] = float(skm.roc_auc_score(y_true == classes[1], proba[:, 1]))
            else:
                out["roc_auc"] = float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
        except ValueError:
            pass  # a class absent from the holdout: no AUC rather than a wrong one
    return out


def improvement(metric: str, candidate: float, baseline: float) -> float:
    """How much better ``candidate`` is than ``baseline`` on ``metric`` (positive = better)."""
    return baseline - candidate if metric in LOWER_IS_BETTER else candidate - baseline
