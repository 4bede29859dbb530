"""``POST /v1/endpoints/E/explain``: what each feature contributed to the served model's output.

The body is a predict payload (``mlops.serving.payload``, same batch limit), optionally with
``"class"`` (a class label: explain that class's output for every row) and ``"permutations"``
(model-agnostic method only). Each row gets ``base_value + sum(contributions) == output``.

What is explained (``output_space``), as ``shap.TreeExplainer``'s default ``model_output="raw"``:

- ``log_odds``: a binary GradientBoostingClassifier's margin, the log-odds of the class named in
  ``class`` (the positive class, ``classes[1]``, by default; the other class's is its negation);
- ``raw_margin``: a multi-class GradientBoostingClassifier's raw score (softmax input) of one class;
- ``probability``: a forest's, or any other classifier's, probability of one class;
- ``prediction``: a regressor's prediction.

Which class: ``"class"`` when given; else the positive class (``classes[1]``) of a two-class
classifier and the predicted class, row by row, of a multi-class one.

Methods: ``tree_shap_exact`` (path-dependent Tree SHAP over the compiled trees,
``mlops.serving.explain``) for the tree ensembles the registry compiles; ``sampling_shapley``
(``mlops.serving.sampling_shap``: interventional, against the version's background sample, with a
standard error per contribution) for any other model. Explanations print no prediction records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.errors import ConflictError, MlopsError, UnprocessableError
from mlops.http import Request, Response
from mlops.jsonbody import parse_json
from mlops.serving.compiled import CompiledTrees
from mlops.serving.explain import tree_shap_all
from mlops.serving.loaded import LoadedModel, score
from mlops.serving.payload import parse_payload
from mlops.serving.sampling_shap import DEFAULT_PERMUTATIONS, MAX_PERMUTATIONS, SEED, sampling_shapley

TREE_SHAP = "tree_shap_exact"
SAMPLING = "sampling_shapley"
# model rows one request may cost the sampling method (rows x permutations x (features-1) x background)
MAX_EVALUATIONS = 2_000_000
_DEFAULT = object()  # no "class" in the body


@dataclass(frozen=True)
class Explained:
    """Per row ``i``: ``base[i] + phi[i].sum() == output[i]``, the explained class label ``labels[i]``."""

    method: str
    output_space: str
    base: np.ndarray  # (n,)
    phi: np.ndarray  # (n, F)
    output: np.ndarray  # (n,)
    labels: list | None  # None for a regressor
    stderr: np.ndarray | None = None  # (n, F), sampling only
    permutations: int | None = None
    background_rows: int | None = None


def _class_index(m: LoadedModel, want: Any, proba: np.ndarray | None, n: int) -> np.ndarray | None:
    """The column of the class explained for every row (None for a regressor)."""
    if proba is None:
        if want is not _DEFAULT:
            raise UnprocessableError('"class" applies to classifiers only; this model is a regressor')
        return None
    K = proba.shape[1]
    if want is _DEFAULT:
        return np.full(n, 1) if K == 2 else proba.argmax(axis=1)
    labels = m.classes if m.classes is not None else list(range(K))
    for k, label in enumerate(labels):
        if isinstance(want, bool) != isinstance(label, (bool, np.bool_)):
            continue  # true is not the class 1, nor 1 the class true
        if want == label or str(want) == str(label):
            return np.full(n, k)
    raise UnprocessableError(
        f'"class" {str(want)[:80]!r} is not a class of this model ({labels[:20]})', code="unknown_class"
    )


def _labels(m: LoadedModel, idx: np.ndarray | None) -> list | None:
    if idx is None:
        return None
    out = [m.classes[k] if m.classes is not None else int(k) for k in idx]
    return [v.item() if isinstance(v, np.generic) else v for v in out]


def explain_trees(m: LoadedModel, X: np.ndarray, idx: np.ndarray | None) -> Explained:
    """Exact Tree SHAP of compiled trees for the classes ``idx`` (see the module doc for the spaces)."""
    c: CompiledTrees = m.model
    base, phi_all = tree_shap_all(c, X)  # (V,), (n, F, V)
    raw = c.raw(X)  # (n, V): the outputs the contributions add up to
    rows = np.arange(X.shape[0])
    sign = np.ones(X.shape[0])
    if c.kind in ("gb-regressor", "gb-binary"):
        col = np.zeros(X.shape[0], dtype=np.int64)
        if c.kind == "gb-binary" and idx is not None:
            sign = np.where(idx == 1, 1.0, -1.0)  # log-odds of class 0 = -(log-odds of class 1)
    else:
        assert idx is not None
        col = idx
    space = {"gb-regressor": "prediction", "gb-binary": "log_odds", "gb-multiclass": "raw_margin"}
    return Explained(
        TREE_SHAP,
        space.get(c.kind, "probability"),
        sign * base[col],
        sign[:, None] * phi_all[rows, :, col],
        sign * raw[rows, col],
        _labels(m, idx),
    )


def explain_sampled(
    m: LoadedModel, X: np.ndarray, idx: np.ndarray | None, permutations: int = DEFAULT_PERMUTATIONS
) -> Explained:
    """Sampling Shapley values against the version's background sample (see ``sampling_shap``)."""
    if any(m.signature.text):
        raise ConflictError(
            "this model has text features; explanations need numeric features", code="cannot_explain"
        )
    if m.background is None:
        raise ConflictError(
            m.background_error
            or f"v{m.version} was registered without a background sample, which explaining a model that "
            "is not a tree ensemble needs: re-register the model to explain it",
            code="reregister_to_explain",
        )
    if idx is None and m.classes is not None:
        raise ConflictError(
            "this classifier has no predict_proba: there is no probability to explain", code="cannot_explain"
        )
    n, F = X.shape
    cost = n * permutations * max(1, F - 1) * m.background.shape[0]
    if cost > MAX_EVALUATIONS:
        raise UnprocessableError(
            f"explaining {n} rows with {permutations} permutations over {m.background.shape[0]} background "
            f"rows costs {cost} model evaluations; the limit is {MAX_EVALUATIONS}: send fewer rows "
            "(or fewer permutations)",
            code="explain_too_costly",
        )
    model = m.model
    if idx is None:

        def f(Z: np.ndarray, i: int) -> np.ndarray:
            return np.asarray(model.predict(Z), dtype=np.float64)
    else:

        def f(Z: np.ndarray, i: int) -> np.ndarray:
            return np.asarray(model.predict_proba(Z), dtype=np.float64)[:, idx[i]]

    r = sampling_shapley(f, X, m.background, permutations=permutations, seed=SEED)
    space = "prediction" if idx is None else "probability"
    return Explained(
        SAMPLING, space, r.base, r.phi, r.output, _labels(m, idx), r.stderr, r.permutations, r.background_rows
    )


def explain_rows(
    m: LoadedModel,
    X: np.ndarray,
    proba: np.ndarray | None,
    want: Any = _DEFAULT,
    permutations: int = DEFAULT_PERMUTATIONS,
) -> Explained:
    idx = _class_index(m, want, proba, X.shape[0])
    if isinstance(m.model, CompiledTrees):
        return explain_trees(m, X, idx)
    return explain_sampled(m, X, idx, permutations)


def _options(body: bytes) -> tuple[Any, int]:
    """(``"class"`` or the default, ``"permutations"``) of an explain body (already a valid payload)."""
    doc = parse_json(body)
    want = doc.get("class", _DEFAULT)
    if want is not _DEFAULT and not isinstance(want, (str, int, float, bool)):
        raise UnprocessableError('"class" must be a class label (a string, number or boolean)')
    p = doc.get("permutations", DEFAULT_PERMUTATIONS)
    if isinstance(p, bool) or not isinstance(p, int) or p < 4 or p > MAX_PERMUTATIONS or p % 2:
        raise UnprocessableError(
            f'"permutations" must be an even integer from 4 to {MAX_PERMUTATIONS}',
            code="invalid_permutations",
        )
    return want, p


def explain(
    request: Request,
    m: LoadedModel,
    variant: str,
    fallback: dict[str, Any] | None,
    *,
    model_name: str,
    max_batch: int,
) -> Response:
    """The explain answer for ``request`` from model ``m`` (served as ``variant``)."""
    t0 = time.perf_counter()
    X, _ = parse_payload(request.body, m.signature, max_batch)
    want, permutations = _options(request.body)
    preds, proba, _ = score(m, X)
    ex = explain_rows(m, X, proba, want, permutations)
    names = m.signature.names
    rows: list[dict[str, Any]] = []
    for i in range(X.shape[0]):
        row: dict[str, Any] = {
            "prediction": preds[i],
            "output": float(ex.output[i]),
            "base_value": float(ex.base[i]),
            "contributions": dict(zip(names, ex.phi[i].tolist(), strict=True)),
        }
        if ex.labels is not None:
            row["class"] = ex.labels[i]
        if ex.stderr is not None:
            row["standard_errors"] = dict(zip(names, ex.stderr[i].tolist(), strict=True))
        rows.append(row)
    body: dict[str, Any] = {
        "explanations": rows,
        "model": model_name,
        "version": m.version,
        "variant": variant,
        "method": ex.method,
        "output_space": ex.output_space,
        "request_id": request.request_id,
    }
    if ex.method == SAMPLING:
        body["approximation"] = {
            "permutations": ex.permutations,
            "antithetic": True,
            "seed": SEED,
            "background_rows": ex.background_rows,
        }
    if fallback is not None:
        body["fallback"] = fallback
    body["explain_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return Response(body=body, headers={"x-model-version": str(m.version), "x-variant": variant})


def top_contributions(
    m: LoadedModel, X: np.ndarray, proba: np.ndarray | None, k: int
) -> list[dict[str, Any] | None] | None:
    """Per row, the ``k`` largest contributions by magnitude for its prediction record; exact Tree SHAP
    only (the sampling method costs too much per prediction), so None for other models."""
    if not isinstance(m.model, CompiledTrees):
        return None
    try:
        ex = explain_trees(m, X, _class_index(m, _DEFAULT, proba, X.shape[0]))
    except MlopsError:  # e.g. compiled without cover: the records go without
        return None
    names = m.signature.names
    order = np.argsort(-np.abs(ex.phi), axis=1, kind="stable")[:, :k]
    return [
        {
            "method": ex.method,
            "output_space": ex.output_space,
            "base_value": float(ex.base[i]),
            "top": [[names[j], float(ex.phi[i, j])] for j in order[i]],
        }
        for i in range(X.shape[0])
    ]
