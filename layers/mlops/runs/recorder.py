"""``mlops train``: run a training project, record the run, register the model version with its lineage.

One call loads the data, decides (with ``if_changed``) whether anything changed since the
model's last registered run, trains, scores the holdout, registers the version (signature,
training-data digest and drift reference profile inferred by the registry from ``X_train``),
and writes the run record with its holdout. A run that fails is recorded too
(``status: failed`` with the error), then the error is raised.

A hyperparameter search (``mlops.tuning``) runs each trial through the same function with a
``RunContext``: the trial's run id, its study's parent run id, extra record fields, extra lineage
for the version's ``source``, the pruning ``report`` hook, and no holdout copy per trial. A pruned
trial is recorded with ``status: pruned`` and ``TrialPruned`` is raised on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import MlopsError, NotFoundError
from mlops.names import validate_name
from mlops.pipeline.variables import git_output
from mlops.quality.training import training_suite
from mlops.registry import Registry
from mlops.registry import signature as sigmod
from mlops.registry.records import iso
from mlops.runs import training as tr
from mlops.runs.store import RunStore, new_run_id, pack_holdout


def _display_path(path: Path) -> str:
    top = git_output(path.parent, "rev-parse", "--show-toplevel")
    try:
        return os.path.relpath(path, top) if top else str(path)
    except ValueError:
        return str(path)


def _same_inputs(last: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between the last run and this one (empty: nothing)."""
    changed = []
    for key, label in (
        ("code_digest", "training code"),
        ("data_digest", "training data"),
        ("holdout_digest", "holdout data"),
    ):
        if last.get(key) != current.get(key):
            changed.append(label)
    if json.dumps(last.get("params"), sort_keys=True, default=str) != json.dumps(
        current.get("params"), sort_keys=True, default=str
    ):
        changed.append("params")
    return changed


@dataclass(frozen=True)
class RunContext:
    """How a run takes part in something larger (a search's trial, or the search's registered best)."""

    run_id: str | None = None
    parent_run_id: str | None = None
    record: Mapping[str, Any] = field(default_factory=dict)  # extra fields of the run record
    source: Mapping[str, Any] = field(default_factory=dict)  # extra lineage in the version's source
    report: tr.Report | None = None
    keep_holdout: bool = True


def train_and_register(
    entrypoint: str | Path,
    model: str,
    *,
    registry: Registry,
    runs: RunStore,
    params: Mapping[str, str] | None = None,
    if_changed: bool = False,
    register: bool = True,
    description: str | None = None,
    context: RunContext | None = None,
    expectations: str | Path | None = None,
    infer_expectations: bool = False,
    clock: Callable[[], float] = time.time,
    stopwatch: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Train ``entrypoint`` as ``model``; returns the run record plus ``trained`` and ``reason``."""
    validate_name(model, "model")
    ctx = context or RunContext()
    project = tr.load_project(entrypoint)
    resolved = tr.resolve_params(project.defaults, params or {})
    watch = tr.Stopwatch(stopwatch)
    record = _new_record(ctx, model, project, resolved, registry, clock)
    holdout: bytes | None = None
    why = ""
    try:
        data = tr.load_data(project, resolved)
        suite = _describe_data(record, data, project.directory, expectations, infer_expectations)
        if if_changed:
            reused, why = _reuse(model, record, registry=registry, runs=runs)
            if reused is not None:
                record["status"] = "reused"  # nothing new happened: no run is recorded
                return reused

        fitted, extra = tr.fit(project, resolved, data, ctx.report)
        metrics = tr.holdout_metrics(fitted, data, extra, project.entrypoint.name)
        record.update(metrics=metrics, task=tr.task_of(fitted), packages=tr.package_versions(fitted))
        if ctx.keep_holdout:
            holdout = pack_holdout(data.X_holdout, data.y_holdout)
        if register:
            version = _register(registry, model, fitted, data, record, description, ctx.source, suite)
            record.update(version=version["version"], status="registered")
        else:
            record["status"] = "trained"
    except (tr.TrialPruned, KeyboardInterrupt) as exc:
        _stopped(record, exc)
        raise
    except MlopsError as exc:
        record["error"] = exc.message
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then re-raised unchanged
        record["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        record["finished_at"] = iso(clock())
        record["duration_s"] = round(watch.elapsed(), 3)
        if record.get("status") != "reused":
            saved = runs.save(record, holdout)
            record.update(saved)
    return {**record, "trained": True, "reason": _trained_reason(model, record) + why}


def _stopped(record: dict[str, Any], exc: BaseException) -> None:
    """A run stopped from outside: pruned by a search (its own status), or interrupted (Ctrl-C)."""
    if isinstance(exc, tr.TrialPruned):
        record.update(status="pruned", pruned_at_step=exc.step)
    else:
        record["error"] = "interrupted"


def _describe_data(
    record: dict[str, Any], data: tr.LoadedData, directory: Path, expectations: str | Path | None, infer: bool
) -> Any:
    """Record the training and holdout data's digests, their sizes and the feature names; check the training
    columns against the project's expectations (``mlops.quality.training``) and return its suite or None."""
    names, columns = sigmod.to_columns(data.X_train, data.feature_names)
    record["data_digest"] = sigmod.data_digest(names, columns, data.y_train)
    h_names, h_columns = sigmod.to_columns(data.X_holdout, names)
    record["holdout_digest"] = sigmod.data_digest(h_names, h_columns, data.y_holdout)
    record.update(n_train=data.n_train, n_holdout=data.n_holdout, feature_names=names)
    return training_suite(directory, columns, path=expectations, infer_suite=infer)


def _trained_reason(model: str, record: Mapping[str, Any]) -> str:
    """What a run that trained did: registered which version, or only trained."""
    if record["status"] == "registered":
        return f"registered {model} v{record['version']}"
    return "trained (not registered)"


def _new_record(
    ctx: RunContext,
    model: str,
    project: tr.TrainingProject,
    resolved: dict[str, Any],
    registry: Registry,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """The run record before training: inputs and lineage known, outcome fields empty, status "failed"
    (plus, for a search's trial, its ``parent_run_id`` and the context's extra fields)."""
    record = {
        "run_id": ctx.run_id or new_run_id(clock),
        "model": model,
        "status": "failed",
        "entrypoint": _display_path(project.entrypoint),
        "params": resolved,
        "metrics": {},
        "started_at": iso(clock()),
        "finished_at": None,
        "duration_s": None,
        "code_digest": tr.project_digest(project.directory),
        **tr.code_lineage(project.directory),
        "data_digest": None,
        "holdout_digest": None,
        "packages": tr.package_versions(),
        "task": None,
        "n_train": None,
        "n_holdout": None,
        "version": None,
        "created_by": registry.actor,
        "error": None,
    }
    if ctx.parent_run_id is not None:
        record["parent_run_id"] = ctx.parent_run_id
    record.update(ctx.record)
    return record


def _reuse(
    model: str, record: Mapping[str, Any], *, registry: Registry, runs: RunStore
) -> tuple[dict[str, Any] | None, str]:
    """``(result, why)``: the last registered run's result when its inputs equal ``record``'s and its
    version still exists (else None), and why training again ("" when there is no earlier run)."""
    last = runs.latest(model, status="registered")
    if last is None:
        return None, ""
    changed = _same_inputs(last, record)
    if not changed and last.get("version") is not None:
        try:
            registry.get_version(model, last["version"])
        except NotFoundError:
            changed = [f"version {last['version']} is gone from the registry"]
    if changed:
        return None, f" ({', '.join(changed)} changed since run {last['run_id']})"
    reason = (
        f"training code, data and params unchanged since run {last['run_id']}; "
        f"reusing {model} v{last['version']}"
    )
    return {**last, "trained": False, "reason": reason}, ""


def _register(
    registry: Registry,
    model: str,
    fitted: Any,
    data: tr.LoadedData,
    record: Mapping[str, Any],
    description: str | None,
    lineage: Mapping[str, Any],
    suite: Any = None,
) -> dict[str, Any]:
    """Register the fitted model as a new version of ``model``, with the run's lineage (and ``lineage``,
    e.g. the summary of the search whose best trial this is)."""
    run_id = record["run_id"]
    return registry.register_version(
        model,
        fitted,
        data.X_train,
        data.y_train,
        feature_names=record["feature_names"],
        target_name=data.target_name,
        params=record["params"],
        metrics=record["metrics"],
        training_data_digest=record["data_digest"],
        code_commit=record["code_commit"],
        description=description or data.description or f"trained by {record['entrypoint']}",
        tags={"run_id": run_id, **({"class_names": ",".join(data.class_names)} if data.class_names else {})},
        source={
            "run_id": run_id,
            "entrypoint": record["entrypoint"],
            "code_digest": record["code_digest"],
            "code_dirty": record["code_dirty"],
            **lineage,
        },
        expectations=suite,
    )
