"""The end of a study: its summary, the best trial registered, and the parent run record.

The parent run record (``runs/<parent_run_id>/run.json``, ``kind: study``) carries::

    "study": {"study": <parent_run_id>, "metric": "f1", "direction": "maximize", "n_trials": 20,
              "trials_complete": 17, "trials_pruned": 2, "trials_failed": 1, "trials_interrupted": 0,
              "best_trial": 11, "best_value": 0.953, "best_params": {...}, "best_run_id": ...,
              "sampler": "tpe(seed=42)", "pruner": "median", "space_digest": "sha256:...",
              "space_file": "space.yaml", "stopped_by": "trials" | "timeout",
              "registered": {"version": 4, "run_id": ..., "value": 0.953, "matches_best_trial": true}}

``status`` is ``tuned`` when a trial completed, ``failed`` when none did. The registered version's
``source`` holds the scalar part of the summary under ``study_*`` keys (``study_run_id``,
``study_best_trial``, ``study_best_value``, ``study_metric``, ...), next to the usual run lineage.
"""

from __future__ import annotations

import math
import time
from typing import Any

import optuna
from optuna.trial import TrialState

from mlops.errors import UnprocessableError
from mlops.registry import Registry
from mlops.registry.records import iso
from mlops.runs import training as tr
from mlops.runs.recorder import RunContext, train_and_register
from mlops.runs.store import RunStore
from mlops.tuning.space import as_param_string
from mlops.tuning.trials import TrialSetup, TuneRequest, sampler_label

LINEAGE_KEYS = (
    "metric",
    "direction",
    "n_trials",
    "trials_complete",
    "trials_pruned",
    "trials_failed",
    "best_trial",
    "best_value",
    "best_run_id",
    "sampler",
    "pruner",
    "space_digest",
)


def summarize(req: TuneRequest, setup: TrialSetup, study: optuna.Study) -> dict[str, Any]:
    """Counts by state, the best trial, and how the search was set up."""
    trials = study.get_trials(deepcopy=False)
    counted = [t for t in trials if not t.user_attrs.get("interrupted")]

    def count(state: TrialState) -> int:
        return sum(1 for t in counted if t.state == state)

    done = count(TrialState.COMPLETE) + count(TrialState.PRUNED) + count(TrialState.FAIL)
    summary: dict[str, Any] = {
        "study": setup.parent,
        "metric": setup.metric,
        "direction": setup.direction,
        "n_trials": setup.n_trials,
        "trials_complete": count(TrialState.COMPLETE),
        "trials_pruned": count(TrialState.PRUNED),
        "trials_failed": count(TrialState.FAIL),
        "trials_interrupted": len(trials) - len(counted),
        "best_trial": None,
        "best_value": None,
        "best_params": None,
        "best_run_id": None,
        "sampler": sampler_label(setup.space),
        "pruner": setup.space.pruner,
        "space_digest": setup.space.digest,
        "space_file": setup.space.source,
        "parallel": req.parallel,
        "timeout_s": req.timeout_s,
        "stopped_by": "trials" if done >= setup.n_trials else "timeout",
        "registered": None,
    }
    if summary["trials_complete"]:
        best = study.best_trial
        summary.update(
            best_trial=best.number,
            best_value=best.value,
            best_params=dict(best.params),
            best_run_id=best.user_attrs.get("run_id"),
        )
    return summary


def lineage(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's scalars as ``study_*`` keys for a version's ``source``."""
    out = {"study_run_id": summary["study"]}
    out.update({f"study_{k}": summary[k] for k in LINEAGE_KEYS})
    return out


def register_best(
    req: TuneRequest, setup: TrialSetup, summary: dict[str, Any], registry: Registry, runs: RunStore
) -> dict[str, Any]:
    """Refit the best trial's params with ``mlops train``'s own code path and register that version."""
    params = {**setup.fixed, **{k: as_param_string(v) for k, v in summary["best_params"].items()}}
    context = RunContext(
        parent_run_id=setup.parent,
        record={
            "trial": {
                "study": setup.parent,
                "number": summary["best_trial"],
                "refit_of": summary["best_run_id"],
            }
        },
        source=lineage(summary),
    )
    rec = train_and_register(
        setup.entrypoint,
        req.model,
        registry=registry,
        runs=runs,
        params=params,
        register=True,
        description=req.description
        or f"best of study {setup.parent}: trial {summary['best_trial']}, {setup.metric}={summary['best_value']:.6g}",
        context=context,
        expectations=setup.expectations,
    )
    value = rec["metrics"].get(setup.metric)
    return {
        "version": rec["version"],
        "run_id": rec["run_id"],
        "value": value,
        "matches_best_trial": value is not None
        and math.isclose(value, summary["best_value"], rel_tol=1e-9, abs_tol=1e-12),
    }


def finish_study(
    req: TuneRequest,
    setup: TrialSetup,
    study: optuna.Study,
    project: tr.TrainingProject,
    registry: Registry,
    runs: RunStore,
) -> dict[str, Any]:
    """Summarise, register the best (if asked and there is one), write the parent run record."""
    summary = summarize(req, setup, study)
    best = runs.get(summary["best_run_id"]) if summary["best_run_id"] else None
    error = None
    if best is None:
        error = f"no trial completed ({summary['trials_pruned']} pruned, {summary['trials_failed']} failed)"
    elif req.register:
        summary["registered"] = register_best(req, setup, summary, registry, runs)
    started = float(study.user_attrs.get("started_at") or time.time())
    record = {
        "run_id": setup.parent,
        "kind": "study",
        "model": req.model,
        "status": "failed" if best is None else "tuned",
        "entrypoint": best["entrypoint"] if best else project.entrypoint.name,
        "params": best["params"] if best else {},
        "metrics": best["metrics"] if best else {},
        "study": summary,
        "started_at": iso(started),
        "finished_at": iso(time.time()),
        "duration_s": round(max(0.0, time.time() - started), 3),
        "code_digest": best["code_digest"] if best else tr.project_digest(project.directory),
        **tr.code_lineage(project.directory),
        "version": None,
        "created_by": registry.actor,
        "error": error,
    }
    saved = runs.save(record)
    if best is None:
        raise UnprocessableError(
            f"study {setup.parent}: {error}; see `mlops runs list --parent {setup.parent}`"
        )
    return saved
