"""The search-space file of ``mlops train --tune``: a small YAML file, checked with errors naming the line.

::

    params:                       # required: what to search, each a parameter of the project's PARAMS
      max_depth: {type: int, low: 2, high: 12}                   # step: optional (int default 1)
      learning_rate: {type: float, low: 0.001, high: 0.3, log: true}
      subsample: {type: float, low: 0.5, high: 1.0, step: 0.1}
      criterion: {type: categorical, choices: [gini, entropy]}
    objective:                    # optional
      metric: f1                  # default: f1 for classifiers, rmse for regressors
      direction: maximize         # default: minimize for rmse, mae, log_loss; else maximize
    sampler: {type: tpe, seed: 42}                               # tpe (default) or random; seed optional
    pruner: {type: median, startup_trials: 5, warmup_steps: 0}   # median (default) or none

``log`` and ``step`` cannot be combined (Optuna's rule); a ``log`` range must be positive. Every
searched parameter must be in the project's ``PARAMS`` with a default that is not None (the default's
type types the trial's value): a float parameter needs a float default, an int parameter an int or
float one, and every categorical choice must have the default's type. Bounds written like ``1e-3`` (which YAML
reads as text) are accepted as numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.errors import BadRequestError
from mlops.runs.evaluation import LOWER_IS_BETTER

TOP_KEYS = ("params", "objective", "sampler", "pruner")
PARAM_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")


class SpaceError(BadRequestError):
    """The search-space file is malformed; the message names the file, the line and the entry."""

    code = "invalid_search_space"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # float | int | categorical
    line: int
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"type": self.kind, "choices": list(self.choices)}
        return {"type": self.kind, "low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class SearchSpace:
    """A parsed, checked search space."""

    params: tuple[Param, ...]
    metric: str | None = None
    direction: str | None = None
    sampler: str = "tpe"
    seed: int | None = None
    pruner: str = "median"
    startup_trials: int = 5
    warmup_steps: int = 0
    source: str = "<space>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": {p.name: p.to_dict() for p in self.params},
            "objective": {"metric": self.metric, "direction": self.direction},
            "sampler": {"type": self.sampler, "seed": self.seed},
            "pruner": {
                "type": self.pruner,
                "startup_trials": self.startup_trials,
                "warmup_steps": self.warmup_steps,
            },
        }

    @property
    def digest(self) -> str:
        """``sha256:`` of the parsed space (comments and layout do not count)."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()

    def direction_for(self, metric: str) -> str:
        return self.direction or ("minimize" if metric in LOWER_IS_BETTER else "maximize")

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's values for every parameter (``trial`` is an ``optuna.Trial``)."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                out[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                out[p.name] = trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
            else:
                out[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
        return out

    def check_against(self, defaults: Mapping[str, Any], project: str) -> None:
        """Every parameter must be one of the project's ``PARAMS`` and fit its default's type."""
        for p in self.params:
            where = f"{self.source}:{p.line}: params.{p.name}"
            if p.name not in defaults:
                known = ", ".join(sorted(defaults)) or "none: define PARAMS with a default for each"
                raise SpaceError(f"{where}: not a parameter of {project} (its PARAMS: {known})")
            default = defaults[p.name]
            if default is None:  # without a typed default the trial's value would reach train() as text
                raise SpaceError(f"{where}: its default in {project} is None; give it a typed default")
            problem = _type_problem(p, default)
            if problem:
                raise SpaceError(f"{where}: {problem} (the default in {project} is {default!r})")


def _type_problem(p: Param, default: Any) -> str | None:
    numeric = isinstance(default, int | float) and not isinstance(default, bool)
    if p.kind == "float" and not isinstance(default, float):
        return "a float range needs a float default"
    if p.kind == "int" and not numeric:
        return "an int range needs a number default"
    if p.kind == "categorical":
        for c in p.choices:
            same = isinstance(c, type(default)) or (isinstance(default, float) and isinstance(c, int))
            if not same or (isinstance(c, bool) != isinstance(default, bool)):
                return f"choice {c!r} is not a {type(default).__name__} like the default"
    return None


def as_param_string(value: Any) -> str:
    """A sampled value as a ``--param`` string (``mlops.runs.training.resolve_params`` types it back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


# ------------------------------------------------------------------ parsing


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a space file; ``SpaceError`` naming the file and line on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"search-space file {p} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"search-space file {p}: cannot read it ({exc})") from None
    return parse_space(text, p.name)


def parse_space(text: str, source: str = "<space>") -> SearchSpace:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise SpaceError(f"{source}{at}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(root, yaml.MappingNode):
        raise SpaceError(f"{source}:1: expected a mapping with 'params' (see mlops.tuning.space)")
    top = _mapping(root, source, "the file")
    for key, (_node, line) in top.items():
        if key not in TOP_KEYS:
            raise SpaceError(f"{source}:{line}: unknown key {key!r}; expected {', '.join(TOP_KEYS)}")
    if "params" not in top:
        raise SpaceError(f"{source}:1: 'params' is required: the parameters to search")
    params = _params(top["params"], source)
    options: dict[str, Any] = {}
    options.update(_objective(top.get("objective"), source))
    options.update(_sampler(top.get("sampler"), source))
    options.update(_pruner(top.get("pruner"), source))
    return SearchSpace(params=params, source=source, **options)


def _mapping(node: yaml.Node, source: str, what: str) -> dict[str, tuple[yaml.Node, int]]:
    """A mapping node's entries as ``key -> (value node, 1-based line)``."""
    if not isinstance(node, yaml.MappingNode):
        raise SpaceError(f"{source}:{node.start_mark.line + 1}: {what} must be a mapping")
    out: dict[str, tuple[yaml.Node, int]] = {}
    for k, v in node.value:
        line = k.start_mark.line + 1
        if not isinstance(k, yaml.ScalarNode) or not k.value:
            raise SpaceError(f"{source}:{line}: {what}: keys must be names")
        if k.value in out:
            raise SpaceError(f"{source}:{line}: {what}: {k.value!r} appears twice")
        out[k.value] = (v, line)
    return out


def _values(node: yaml.Node) -> Any:
    return yaml.SafeLoader(yaml.serialize(node)).get_single_data()


def _options(entry: tuple[yaml.Node, int] | None, source: str, what: str, allowed: set[str]) -> dict:
    if entry is None:
        return {}
    node, line = entry
    if isinstance(node, yaml.ScalarNode) and what in ("sampler", "pruner"):
        return {"type": _values(node), "_line": line}  # the short form: `pruner: none`
    values = {k: _values(n) for k, (n, _) in _mapping(node, source, what).items()}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise SpaceError(
            f"{source}:{line}: {what}: unknown key {unknown[0]!r}; expected {', '.join(sorted(allowed))}"
        )
    return {**values, "_line": line}


def _objective(entry: tuple[yaml.Node, int] | None, source: str) -> dict[str, Any]:
    v = _options(entry, source, "objective", {"metric", "direction"})
    line = v.get("_line")
    metric, direction = v.get("metric"), v.get("direction")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise SpaceError(f"{source}:{line}: objective.metric must be a metric name like f1 or rmse")
    if direction is not None and direction not in ("maximize", "minimize"):
        raise SpaceError(f"{source}:{line}: objective.direction must be maximize or minimize")
    return {"metric": metric, "direction": direction}


def _sampler(entry: tuple[yaml.Node, int] | None, source: str) -> dict[str, Any]:
    v = _options(entry, source, "sampler", {"type", "seed"})
    line = v.get("_line")
    kind, seed = v.get("type", "tpe"), v.get("seed")
    if kind not in SAMPLERS:
        raise SpaceError(f"{source}:{line}: sampler.type must be one of {', '.join(SAMPLERS)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise SpaceError(f"{source}:{line}: sampler.seed must be a non-negative integer")
    return {"sampler": kind, "seed": seed}


def _pruner(entry: tuple[yaml.Node, int] | None, source: str) -> dict[str, Any]:
    v = _options(entry, source, "pruner", {"type", "startup_trials", "warmup_steps"})
    line = v.get("_line")
    kind = v.get("type", "median")
    if kind is False or kind is None:
        kind = "none"
    if kind not in PRUNERS:
        raise SpaceError(f"{source}:{line}: pruner.type must be one of {', '.join(PRUNERS)}")
    out: dict[str, Any] = {"pruner": kind}
    for key, default in (("startup_trials", 5), ("warmup_steps", 0)):
        n = v.get(key, default)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SpaceError(f"{source}:{line}: pruner.{key} must be a non-negative integer")
        out[key] = n
    return out


def _params(entry: tuple[yaml.Node, int], source: str) -> tuple[Param, ...]:
    node, line = entry
    items = _mapping(node, source, "params")
    if not items:
        raise SpaceError(f"{source}:{line}: params is empty: name at least one parameter to search")
    return tuple(_param(name, n, ln, source) for name, (n, ln) in items.items())


def _param(name: str, node: yaml.Node, line: int, source: str) -> Param:
    where = f"{source}:{line}: params.{name}"
    values = {k: _values(n) for k, (n, _) in _mapping(node, source, f"params.{name}").items()}
    kind = values.get("type")
    if kind not in PARAM_KEYS:
        raise SpaceError(f"{where}: type must be float, int or categorical (got {kind!r})")
    unknown = sorted(set(values) - PARAM_KEYS[kind])
    if unknown:
        raise SpaceError(f"{where}: unknown key {unknown[0]!r} for a {kind}")
    if kind == "categorical":
        choices = values.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{where}: choices must be a non-empty list")
        for c in choices:
            if c is None or not isinstance(c, str | int | float | bool):
                raise SpaceError(f"{where}: choice {c!r} is not a string, number or boolean")
        return Param(name, kind, line, choices=tuple(choices))
    return _range(name, kind, line, values, where)


def _number(value: Any, kind: str, what: str, where: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as text
        try:
            value = float(value)
        except ValueError:
            raise SpaceError(f"{where}: {what} must be a number (got {value!r})") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpaceError(f"{where}: {what} must be a finite number (got {value!r})")
    if kind == "int":
        if float(value) != int(value):
            raise SpaceError(f"{where}: {what} must be a whole number for an int (got {value!r})")
        return int(value)
    return float(value)


def _range(name: str, kind: str, line: int, values: dict[str, Any], where: str) -> Param:
    if "low" not in values or "high" not in values:
        raise SpaceError(f"{where}: a {kind} needs low and high")
    low = _number(values["low"], kind, "low", where)
    high = _number(values["high"], kind, "high", where)
    step = _number(values.get("step"), kind, "step", where)
    log = values.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}: log must be true or false")
    assert low is not None and high is not None
    if not low < high:
        raise SpaceError(f"{where}: low ({low}) must be less than high ({high})")
    if step is not None and step <= 0:
        raise SpaceError(f"{where}: step must be positive")
    if log and step is not None:
        raise SpaceError(f"{where}: log and step cannot be combined")
    if log and low <= 0:
        raise SpaceError(f"{where}: a log range needs low > 0")
    return Param(name, kind, line, low=low, high=high, log=log, step=step)
