"""Loading a skops file (MLflow 3's default sklearn serialization) without trusting it blindly.

skops loads only the types it trusts by default (scikit-learn estimators, numpy arrays and scalars,
the builtin containers); any other type the file names is reported by ``skops.io.get_untrusted_types``.
Those must all be on ``ALLOWED_TYPES``, an explicit list of scikit-learn and numpy internals that fitted
estimators hold (tree structures, loss and link objects, random states); a file naming anything else
is refused with the names, before anything is constructed. skops is imported only here, lazily.
"""

from __future__ import annotations

from typing import Any

from mlops.errors import BadRequestError, UnprocessableError

# The types skops does not trust by default that this import does: numpy's random states (plain state) and
# scikit-learn's tree structure, whose node arrays ``check_trees`` bounds-checks before anything predicts
# (skops warns that a forged Tree can make predict read out of bounds). HistGradientBoosting's TreePredictor
# is not here: nothing checks its nodes yet, so a skops file holding one is refused (use cloudpickle).
ALLOWED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._generator.Generator",
        "numpy.random.bit_generator.SeedSequence",
    }
)
MAX_WALK = 1_000_000  # objects visited looking for trees (a 1000-tree forest is ~10k)


def _named_types(data: bytes, where: str) -> list[str]:
    """Every type in ``data`` skops does not trust by default (nothing is constructed to find them)."""
    sio = _skops_io(where)
    try:
        return [str(t) for t in sio.get_untrusted_types(data=data)]
    except Exception as exc:  # noqa: BLE001 - a corrupt archive raises zipfile/json/KeyError alike
        raise BadRequestError(
            f"{where}: not a readable skops file ({type(exc).__name__}: {str(exc)[:120]})",
            code="not_mlflow_model",
        ) from None


def load_skops(data: bytes, where: str) -> Any:
    """The model in the skops bytes ``data`` (read from ``where``), loaded trusting only skops' defaults and
    ``ALLOWED_TYPES``; a 422 naming the types when the file holds anything else."""
    named = sorted(set(_named_types(data, where)))
    refused = [t for t in named if t not in ALLOWED_TYPES]
    if refused:
        raise UnprocessableError(
            f"{where}: the skops file holds types that are not trusted: {', '.join(refused[:20])}"
            f"{' ...' if len(refused) > 20 else ''}; only scikit-learn and numpy types are loaded",
            code="untrusted_types",
            details={"untrusted_types": refused},
        )
    sio = _skops_io(where)
    try:
        model = sio.loads(data, trusted=named)  # named: every one is on ALLOWED_TYPES
    except ModuleNotFoundError as exc:
        raise BadRequestError(
            f"{where}: cannot load the skops file, module {exc.name!r} is not installed",
            code="unsupported_flavor",
        ) from None
    except Exception as exc:  # noqa: BLE001 - skops raises its own and the estimators' errors
        raise BadRequestError(
            f"{where}: not a loadable skops file ({type(exc).__name__}: {str(exc)[:120]})",
            code="not_mlflow_model",
        ) from None
    check_trees(model, where)
    return model


def check_trees(model: Any, where: str) -> None:
    """Refuse (422) a model holding a scikit-learn ``Tree`` whose node arrays could make predict index out
    of bounds or loop: every split must name a feature below the input width its estimators check (the
    smallest ``n_features_in_`` above it, up to a Pipeline) and children after itself inside the tree."""
    from sklearn.tree._tree import Tree

    stack: list[tuple[Any, int | None]] = [(model, None)]
    seen: set[int] = set()
    while stack:
        obj, width = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
            continue
        seen.add(id(obj))
        if len(seen) > MAX_WALK:
            raise UnprocessableError(f"{where}: the model holds too many objects", code="untrusted_types")
        if isinstance(obj, Tree):
            _check_tree(obj, width, where)
            continue
        stack.extend((child, _width_below(obj, width)) for child in _children(obj))


def _width_below(obj: Any, width: int | None) -> int | None:
    """The input width the objects inside ``obj`` are bounded by: a Pipeline or column transformer feeds
    its parts transformed columns (each part checks its own), any other estimator its own ``n_features_in_``."""
    if hasattr(obj, "steps") or hasattr(obj, "transformers") or hasattr(obj, "transformer_list"):
        return None
    n = getattr(obj, "__dict__", {}).get("n_features_in_")
    if isinstance(n, int) and not isinstance(n, bool):
        return n if width is None else min(n, width)
    return width


def _children(obj: Any) -> list[Any]:
    import numpy as np

    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, np.ndarray):
        return list(obj.ravel()) if obj.dtype == object else []
    return list(getattr(obj, "__dict__", {}).values())


def _check_tree(tree: Any, width: int | None, where: str) -> None:
    import numpy as np

    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    limit = int(tree.n_features) if width is None else min(int(tree.n_features), width)
    problem = None
    if n < 1 or left.shape != (n,) or right.shape != (n,) or feature.shape != (n,):
        problem = "its node arrays do not match its node count"
    elif np.asarray(tree.value).shape[0] != n:
        problem = "its values do not match its node count"
    else:
        leaf = left == -1
        split = ~leaf
        idx = np.arange(n)
        if np.any(leaf != (right == -1)):
            problem = "a node has one child"
        elif np.any((left[split] <= idx[split]) | (right[split] <= idx[split])):
            problem = "a child comes before its parent"
        elif np.any((left[split] >= n) | (right[split] >= n)):
            problem = "a child is past the last node"
        elif np.any((feature[split] < 0) | (feature[split] >= limit)):
            problem = f"a split names a feature outside 0..{limit - 1}"
    if problem is not None:
        raise UnprocessableError(
            f"{where}: a decision tree in the skops file is malformed ({problem}); it was not loaded",
            code="untrusted_types",
        )


def _skops_io(where: str) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise BadRequestError(
            f"{where} is a skops file and the skops package is not installed (pip install skops)",
            code="unsupported_flavor",
        ) from None
    return sio
