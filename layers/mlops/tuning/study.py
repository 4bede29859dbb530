"""One hyperparameter search: a study of N trials, each a recorded child run, the best one registered.

``tune(request, registry=..., runs=...)``:

1. checks the request and the space file against the project's ``PARAMS``;
2. creates (or, with ``resume``, reopens) the Optuna study in the run store's journal
   (``mlops.tuning.journal``); its name is the parent run id;
3. runs trials until N are done or the timeout passes, inline or in K worker processes. Each trial
   is one ``mlops.runs.recorder.train_and_register`` call without registration: a run record with
   ``parent_run_id``, the trial's params and holdout metrics (``status`` trained, pruned or failed);
4. refits the best trial's params through the same function with registration, so the version is
   registered exactly like ``mlops train`` does it, with the study's summary in its ``source``;
5. writes the parent run record (``kind: study``) with the summary.

Resuming: a command killed mid-study leaves the journal and the finished trials' run records. The
same command with ``resume=PARENT_RUN_ID`` marks the trials that were running as interrupted (they
do not count), queues their params again, and runs only the remaining trials. Each command is a
numbered session of the study (``sessions`` in its user attrs); a resumed one seeds its samplers for
its session, so a seeded search does not draw again the points the first command already trained.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

import optuna
from optuna.trial import TrialState

from mlops.errors import BadRequestError, ConflictError, NotFoundError
from mlops.names import validate_name
from mlops.registry import Registry
from mlops.runs import training as tr
from mlops.runs.store import RunStore, new_run_id
from mlops.tuning.journal import FlockLock, OwnerLock, open_storage, require_file_store, study_paths
from mlops.tuning.space import SearchSpace, load_space
from mlops.tuning.summary import finish_study
from mlops.tuning.trials import (
    TrialSetup,
    TuneRequest,
    check_request,
    make_pruner,
    make_sampler,
    mark_interrupted,
    run_trials,
    say,
)
from mlops.tuning.workers import run_parallel

# ------------------------------------------------------------------ the study


def _default_metric(project: tr.TrainingProject, fixed: Mapping[str, str]) -> str:
    """f1 for a classification target, rmse for a regression one (from the defaults' training data)."""
    from sklearn.utils.multiclass import type_of_target

    data = tr.load_data(project, tr.resolve_params(project.defaults, fixed))
    kind = type_of_target(data.y_train)
    return "f1" if kind in ("binary", "multiclass") else "rmse"


def _open_study(
    req: TuneRequest, setup: TrialSetup, storage: Any, space: SearchSpace, started: float
) -> optuna.Study:
    """Create the study (new) or load it and check it is the same search (resume)."""
    sampler, pruner = make_sampler(space), make_pruner(space)
    if req.resume is None:
        study = optuna.create_study(
            study_name=setup.parent,
            storage=storage,
            direction="minimize" if setup.direction == "minimize" else "maximize",
            sampler=sampler,
            pruner=pruner,
        )
        attrs = {
            "model": req.model,
            "metric": setup.metric,
            "space_digest": space.digest,
            "fixed_params": dict(setup.fixed),
            "started_at": started,
            "sessions": 1,
        }
        for k, v in attrs.items():
            study.set_user_attr(k, v)
        return study
    try:
        study = optuna.load_study(study_name=setup.parent, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise NotFoundError(f"no study {setup.parent} in its journal", code="study_not_found") from None
    attrs = study.user_attrs
    if attrs.get("model") != req.model:
        raise ConflictError(f"study {setup.parent} tunes model {attrs.get('model')!r}, not {req.model!r}")
    if attrs.get("space_digest") != space.digest:
        raise ConflictError(
            f"{space.source} changed since study {setup.parent} started; resume with the same space file"
        )
    fixed = cast(dict[str, str], attrs.get("fixed_params") or {})
    if fixed != dict(setup.fixed):
        was = " ".join(f"--param {k}={v}" for k, v in sorted(fixed.items()))
        raise ConflictError(f"study {setup.parent} was started with other --param values: {was or 'none'}")
    return study


def _begin_session(study: optuna.Study, setup: TrialSetup) -> TrialSetup:
    """A resumed study's new session number (recorded in the journal) and samplers seeded for it, so
    this command does not draw again the points an earlier one drew (``trials.make_sampler``). Runs
    under the exclusive ``OwnerLock``: no other command counts sessions meanwhile."""
    session = int(study.user_attrs.get("sessions") or 1)
    study.set_user_attr("sessions", session + 1)
    study.sampler = make_sampler(setup.space, 0, session)
    return replace(
        setup,
        metric=study.user_attrs["metric"],
        direction=study.direction.name.lower(),
        session=session,
    )


def _recover_interrupted(study: optuna.Study, runs: RunStore) -> int:
    """Trials left running by a killed command. One whose run record was written before the kill is
    told its recorded outcome (it is not run again); the others are marked interrupted (they do not
    count) and their params queued again, so the search retries the same points. Returns how many
    were interrupted."""
    storage = study._storage
    interrupted = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        rec = _recorded(runs, t.user_attrs.get("run_id"))
        metric = study.user_attrs.get("metric")
        value = (rec.get("metrics") or {}).get(metric) if rec else None
        if rec and rec.get("status") == "trained" and value is not None:
            storage.set_trial_state_values(t._trial_id, TrialState.COMPLETE, [float(value)])
        elif rec and rec.get("status") in ("pruned", "failed"):
            state = TrialState.PRUNED if rec["status"] == "pruned" else TrialState.FAIL
            storage.set_trial_state_values(t._trial_id, state)
        else:
            mark_interrupted(study, t._trial_id, t.number, t.params)
            interrupted += 1
    return interrupted


def _recorded(runs: RunStore, run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    try:
        return runs.get(run_id)
    except NotFoundError:
        return None


def _prepare(
    req: TuneRequest, registry: Registry, runs: RunStore, space: SearchSpace, deadline: float | None
) -> tuple[TrialSetup, tr.TrainingProject]:
    validate_name(req.model, "model")
    project = tr.load_project(req.entrypoint)
    space.check_against(project.defaults, project.entrypoint.name)
    tr.resolve_params(project.defaults, req.params)  # a bad --param fails now, not N times
    clash = sorted(set(req.params) & {p.name for p in space.params})
    if clash:
        raise BadRequestError(
            f"--param {clash[0]}: also in {space.source}; a searched parameter cannot be fixed"
        )
    parent = req.resume or new_run_id()
    if req.resume is not None:
        try:
            runs.get(parent)
        except NotFoundError:
            pass
        else:
            raise ConflictError(f"study {parent} already finished (its parent run is recorded)")
    metric = space.metric or (None if req.resume else _default_metric(project, req.params))
    root = str(getattr(runs.store, "root", ""))
    setup = TrialSetup(
        store_root=root,
        actor=registry.actor,
        entrypoint=str(project.entrypoint),
        model=req.model,
        space=space,
        parent=parent,
        fixed=dict(req.params),
        n_trials=req.n_trials,
        metric=metric or "",
        direction=space.direction_for(metric or ""),
        deadline=deadline,
        expectations=req.expectations,
    )
    return setup, project


def tune(
    req: TuneRequest,
    *,
    registry: Registry,
    runs: RunStore,
    clock: Callable[[], float] = time.time,
    cores: int | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the search; returns the parent run record (its ``study`` is the summary).

    ``clock`` measures ``timeout_s`` for inline trials (worker processes use ``time.time``)."""
    check_request(req, os.cpu_count() if cores is None else cores)
    require_file_store(runs.store)
    space = load_space(req.space_file)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = clock()
    deadline = None if req.timeout_s is None else started + req.timeout_s
    setup, project = _prepare(req, registry, runs, space, deadline)
    setup = replace(setup, verbose=verbose)
    journal, lock_path = study_paths(runs.store, setup.parent)
    if req.resume is not None and not journal.is_file():
        raise NotFoundError(
            f"no study journal for run {req.resume} in {runs.store.url}: nothing to resume",
            code="study_not_found",
        )
    with OwnerLock(journal, setup.parent) as owner:
        lock = FlockLock(lock_path)
        study = _open_study(req, setup, open_storage(journal, lock), space, time.time())
        if req.resume is not None:
            setup = _begin_session(study, setup)
            interrupted = _recover_interrupted(study, runs)
            say(setup, f"resuming study {setup.parent}: {interrupted} interrupted trial(s) queued again")
        if req.parallel == 1:
            run_trials(setup, study, lock, registry, runs, clock)
        else:
            owner.share()
            run_parallel(setup, req.parallel)
        return finish_study(req, setup, study, project, registry, runs)
