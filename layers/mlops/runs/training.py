"""Running a training project: the entrypoint contract, typed parameters, digests and lineage of a run.

A training entrypoint is a Python file that defines:

- ``PARAMS: dict`` (optional): parameter names and defaults. A ``--param k=v`` value takes the
  type of the default (int, float, bool, str; JSON for lists and dicts); an unknown name is an
  error naming the known ones. Without ``PARAMS`` every value is passed as a string.
- ``load_data(params) -> dict`` with ``X_train``, ``y_train``, ``X_holdout``, ``y_holdout`` and,
  optionally, ``feature_names``, ``target_name``, ``description`` and ``class_names`` (a classifier's
  label names in the order of its sorted labels; kept as the version's ``class_names`` tag).
- ``train(params, data) -> estimator`` or ``{"model": estimator, "metrics": {name: number}}``.
  An iterative model may take a third argument, ``train(params, data, report=None)``: under
  ``mlops train --tune`` it is a callable ``report(step, value)`` to call after each step (epoch,
  boosting stage) with the objective metric measured so far (on ``data["X_holdout"]``, on the
  scale of the study's metric). It raises ``TrialPruned`` when the search prunes the trial; let it
  propagate (it is a ``BaseException``, so ``except Exception`` does not swallow it). Outside a
  search ``report`` is None.

``load_data`` runs first, so the data digest is known before deciding to train
(``--if-changed``). The holdout metrics come from ``mlops.runs.evaluation.evaluate``, the
same function the validation gate uses. The code digest covers every file of the
entrypoint's directory (the training project), except caches and hidden files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mlops.errors import BadRequestError, UnprocessableError
from mlops.pipeline.variables import git_output
from mlops.runs.evaluation import evaluate, is_classifier

REQUIRED_DATA_KEYS = ("X_train", "y_train", "X_holdout", "y_holdout")
BASE_PACKAGES = ("numpy", "scipy", "scikit-learn", "joblib", "oci-mlops")
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}


class TrainingError(UnprocessableError):
    """The training project broke its contract or raised; the message says which part."""

    code = "training_failed"


class TrialPruned(BaseException):
    """Raised by a ``report`` hook to stop an unpromising trial early (see the module doc).

    A ``BaseException`` so that a project's ``except Exception`` does not swallow it."""

    def __init__(self, step: int):
        super().__init__(f"pruned at step {step}")
        self.step = step


Report = Callable[[int, float], None]


def accepts_report(train: Callable[..., Any]) -> bool:
    """Whether a project's ``train`` takes the ``report`` hook (a ``report`` parameter or ``**kwargs``)."""
    try:
        parameters = inspect.signature(train).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "report" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


@dataclass
class TrainingProject:
    """A loaded training entrypoint."""

    entrypoint: Path
    module: ModuleType
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.entrypoint.parent


def load_project(entrypoint: str | Path) -> TrainingProject:
    """Import the entrypoint file and check it defines ``load_data`` and ``train``."""
    path = Path(entrypoint)
    if not path.is_file() or path.suffix != ".py":
        raise BadRequestError(f"training entrypoint {path} is not a .py file")
    path = path.resolve()
    name = f"mlops_training_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadRequestError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code; report it as a training error
        raise TrainingError(f"importing {path.name} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    missing = [f for f in ("load_data", "train") if not callable(getattr(module, f, None))]
    if missing:
        raise TrainingError(
            f"{path.name} must define {' and '.join(f + '(...)' for f in missing)} (see mlops.runs.training)"
        )
    defaults = getattr(module, "PARAMS", {})
    if not isinstance(defaults, Mapping):
        raise TrainingError(f"{path.name}: PARAMS must be a dict of name -> default")
    return TrainingProject(path, module, dict(defaults))


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if isinstance(default, (list, dict)):
            value = json.loads(raw)
            if not isinstance(value, type(default)):
                raise ValueError
            return value
    except ValueError:
        kind = type(default).__name__
        raise BadRequestError(
            f"--param {name}={raw!r}: expected a {kind} like the default {default!r}"
        ) from None
    return raw


def resolve_params(defaults: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """The defaults with ``overrides`` (strings from the command line) applied and typed."""
    params = dict(defaults)
    for name, raw in overrides.items():
        if defaults and name not in defaults:
            raise BadRequestError(f"--param {name}: unknown parameter; known: {', '.join(sorted(defaults))}")
        params[name] = (
            _coerce(name, raw, defaults[name]) if name in defaults and defaults[name] is not None else raw
        )
    return params


def parse_param_args(items: Sequence[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a malformed item is a 400 naming it."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadRequestError(f"--param {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def project_digest(directory: Path) -> str:
    """``sha256:<hex>`` over the relative paths and bytes of the project's files."""
    h = hashlib.sha256()
    root = Path(directory)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part in _SKIP_DIRS or part.startswith(".") for part in p.relative_to(root).parts)
        and p.suffix not in (".pyc", ".pyo")
    )
    for p in files:
        rel = p.relative_to(root).as_posix().encode()
        data = p.read_bytes()
        h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big"))
        h.update(data)
    return "sha256:" + h.hexdigest()


def params_digest(params: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def package_versions(model: Any = None, extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of Python, the base ML packages and the package the model's class comes from."""
    out = {"python": platform.python_version()}
    names = list(BASE_PACKAGES) + list(extra)
    if model is not None:
        top = type(model).__module__.split(".")[0]
        names.append({"sklearn": "scikit-learn"}.get(top, top))
    for name in dict.fromkeys(names):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def code_lineage(directory: Path) -> dict[str, Any]:
    """The git commit of the project and whether its files differ from that commit."""
    commit = git_output(directory, "rev-parse", "HEAD")
    dirty = bool(git_output(directory, "status", "--porcelain", "--", ".")) if commit else False
    return {"code_commit": commit or None, "code_dirty": dirty}


@dataclass
class LoadedData:
    X_train: Any
    y_train: Any
    X_holdout: Any
    y_holdout: Any
    feature_names: list[str] | None
    target_name: str | None
    description: str | None
    class_names: list[str] | None = None  # a classifier's label names, in the order of its sorted labels

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_holdout(self) -> int:
        return len(self.y_holdout)


def load_data(project: TrainingProject, params: Mapping[str, Any]) -> LoadedData:
    """Call the project's ``load_data`` and check what it returned."""
    name = project.entrypoint.name
    try:
        data = project.module.load_data(dict(params))
    except Exception as exc:  # noqa: BLE001 - the user's code
        raise TrainingError(f"{name}: load_data raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise TrainingError(f"{name}: load_data must return a dict with {', '.join(REQUIRED_DATA_KEYS)}")
    missing = [k for k in REQUIRED_DATA_KEYS if k not in data]
    if missing:
        raise TrainingError(f"{name}: load_data did not return {', '.join(missing)}")
    for x, y in (("X_train", "y_train"), ("X_holdout", "y_holdout")):
        if len(data[x]) != len(data[y]):
            raise TrainingError(f"{name}: {x} has {len(data[x])} rows but {y} has {len(data[y])}")
        if len(data[y]) == 0:
            raise TrainingError(f"{name}: {y} is empty")
    names = data.get("feature_names")
    return LoadedData(
        data["X_train"],
        data["y_train"],
        data["X_holdout"],
        data["y_holdout"],
        [str(n) for n in names] if names is not None else None,
        data.get("target_name"),
        data.get("description"),
        _class_names(name, data.get("class_names")),
    )


def _class_names(name: str, given: Any) -> list[str] | None:
    """``load_data``'s optional ``class_names``: short strings without commas (they are kept in the version's
    ``class_names`` tag, comma-separated, and shown on its model card)."""
    if given is None:
        return None
    names = [str(n) for n in given] if isinstance(given, (list, tuple)) or hasattr(given, "tolist") else None
    if not names or any(not n or "," in n or len(n) > 100 for n in names) or len(",".join(names)) > 1024:
        raise TrainingError(
            f"{name}: class_names must be a list of 1-100 character names without commas (1024 in all)"
        )
    return names


def fit(
    project: TrainingProject, params: Mapping[str, Any], data: LoadedData, report: Report | None = None
) -> tuple[Any, dict[str, float]]:
    """Call the project's ``train`` (with ``report`` when given and accepted); the model and any extra
    metrics it reported. ``TrialPruned`` from the hook passes through."""
    name = project.entrypoint.name
    payload = {
        "X_train": data.X_train,
        "y_train": data.y_train,
        "X_holdout": data.X_holdout,
        "y_holdout": data.y_holdout,
        "feature_names": data.feature_names,
        "target_name": data.target_name,
    }
    kwargs = {"report": report} if report is not None and accepts_report(project.module.train) else {}
    try:
        result = project.module.train(dict(params), payload, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's code
        raise TrainingError(f"{name}: train raised {type(exc).__name__}: {exc}") from exc
    extra: dict[str, float] = {}
    if isinstance(result, Mapping):
        if "model" not in result:
            raise TrainingError(f"{name}: train returned a dict without 'model'")
        model = result["model"]
        for k, v in (result.get("metrics") or {}).items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TrainingError(f"{name}: metric {k!r} is not a number")
            extra[str(k)] = float(v)
    else:
        model = result
    if not callable(getattr(model, "predict", None)):
        raise TrainingError(
            f"{name}: train must return a fitted estimator with predict(), got {type(model).__name__}"
        )
    return model, extra


def holdout_metrics(model: Any, data: LoadedData, extra: Mapping[str, float], name: str) -> dict[str, float]:
    """The evaluation metrics on the holdout plus the project's extra ones (which may not clash)."""
    metrics = evaluate(model, data.X_holdout, data.y_holdout)
    clash = sorted(set(metrics) & set(extra))
    if clash:
        raise TrainingError(
            f"{name}: train reported {', '.join(clash)}, which mlops computes on the holdout; "
            "rename them (e.g. train_{name})"
        )
    return {**metrics, **extra}


def task_of(model: Any) -> str:
    return "classification" if is_classifier(model) else "regression"


class Stopwatch:
    """Wall-clock seconds between two points (injectable clock for tests)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.t0 = clock()

    def elapsed(self) -> float:
        return self.clock() - self.t0
