"""Example training project: gradient boosting on scikit-learn's breast-cancer dataset (ships with sklearn).

The training contract ``mlops train`` runs (see ``mlops.runs.training``):

- ``PARAMS``: the parameters and their defaults; ``--param k=v`` values take the type of the
  default, and an unknown name is an error.
- ``load_data(params) -> dict`` with ``X_train``, ``y_train``, ``X_holdout``, ``y_holdout`` and,
  optionally, ``feature_names``, ``target_name``, ``description``, ``class_names`` (the labels'
  names, shown on the model card). It runs first, so that the
  data digest is known before deciding whether to train at all (``--if-changed``).
- ``train(params, data) -> estimator`` (or ``{"model": estimator, "metrics": {...}}`` for extra
  metrics such as training-set scores). The holdout metrics are computed by ``mlops`` itself,
  with the same code ``mlops validate`` uses, so they are comparable across versions.

Run it: ``mlops train pipelines/train/train.py --model breast-cancer --param n_estimators=200``
"""

from __future__ import annotations

from typing import Any

PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "max_depth": 3,
    "subsample": 1.0,
    "holdout_fraction": 0.25,
    "seed": 42,
}


def load_data(params: dict[str, Any]) -> dict[str, Any]:
    """The breast-cancer data, split into train and holdout (stratified, seeded)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    X_train, X_holdout, y_train, y_holdout = train_test_split(
        data.data,
        data.target,
        test_size=params["holdout_fraction"],
        random_state=params["seed"],
        stratify=data.target,
    )
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_holdout": X_holdout,
        "y_holdout": y_holdout,
        "feature_names": names,
        "target_name": "benign",
        "class_names": [str(n) for n in data.target_names],  # label 0 = malignant, 1 = benign
        "description": "Wisconsin diagnostic breast cancer (sklearn.datasets.load_breast_cancer)",
    }


def train(params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Fit a GradientBoostingClassifier; report its training accuracy as an extra metric."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(
        n_estimators=params["n_estimators"],
        learning_rate=params["learning_rate"],
        max_depth=params["max_depth"],
        subsample=params["subsample"],
        random_state=params["seed"],
    )
    model.fit(data["X_train"], data["y_train"])
    return {
        "model": model,
        "metrics": {"train_accuracy": float(model.score(data["X_train"], data["y_train"]))},
    }
