"""Running trials: the request, what a trial runner needs, and the ask-run-tell loop.

Each trial is one ``mlops.runs.recorder.train_and_register`` call without registration: a run
record with ``parent_run_id``, the trial's params and holdout metrics and ``status`` trained, pruned
or failed. "Is there budget left? ask" runs under the study lock, so K processes together never
start more than N trials; after the deadline no new trial starts (running ones finish).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from mlops.errors import BadRequestError, UnprocessableError
from mlops.registry import Registry
from mlops.runs import training as tr
from mlops.runs.recorder import RunContext, train_and_register
from mlops.runs.store import RunStore, new_run_id
from mlops.tuning.journal import FlockLock
from mlops.tuning.space import SearchSpace, as_param_string

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


@dataclass(frozen=True)
class TuneRequest:
    """What ``mlops train --tune`` asks for."""

    entrypoint: str
    model: str
    space_file: str
    n_trials: int
    parallel: int = 1
    timeout_s: float | None = None
    params: Mapping[str, str] = field(default_factory=dict)  # fixed --param values for every trial
    resume: str | None = None
    register: bool = True
    description: str | None = None
    expectations: str | None = None  # --expectations FILE (default: expectations.yaml beside the script)


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial runner needs (picklable: worker processes get a copy)."""

    store_root: str
    actor: str
    entrypoint: str
    model: str
    space: SearchSpace
    parent: str
    fixed: dict[str, str]
    n_trials: int
    metric: str
    direction: str
    deadline: float | None
    verbose: bool = False
    parent_pid: int | None = None  # set for worker processes: they stop asking once it is gone
    session: int = 0  # 0 for the command that created the study, 1 for its first --resume, ...
    expectations: str | None = None  # the data-quality suite every trial's training data must meet


def check_request(req: TuneRequest, cores: int | None) -> None:
    """Refuse nonsense before touching anything (one clear line each)."""
    if req.n_trials <= 0:
        raise BadRequestError(f"--trials {req.n_trials}: must be at least 1")
    limit = cores or 1
    if req.parallel <= 0:
        raise BadRequestError(f"--parallel {req.parallel}: must be at least 1")
    if req.parallel > limit:
        raise BadRequestError(
            f"--parallel {req.parallel}: this machine has {limit} core(s); run at most {limit} trials at once "
            "(on Data Science Jobs: not yet supported)"
        )
    if req.timeout_s is not None and not (req.timeout_s > 0 and math.isfinite(req.timeout_s)):
        raise BadRequestError(f"--timeout {req.timeout_s}: must be a positive number of seconds")


def make_sampler(space: SearchSpace, offset: int = 0, session: int = 0) -> optuna.samplers.BaseSampler:
    """The space's sampler; ``offset`` gives each worker process its own seed, ``session`` each command.

    The command that created the study seeds with ``seed + offset`` (a ``--parallel 1`` search with a
    seed is reproducible). A ``--resume`` must not start the same sequence over: a seeded random (or TPE
    startup) sampler would draw the points the first command already trained, so each later session
    seeds from ``(seed, session, offset)`` instead."""
    seed = None if space.seed is None else sampler_seed(space.seed, offset, session)
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def sampler_seed(seed: int, offset: int, session: int) -> int:
    if session == 0:
        return seed + offset
    return int(np.random.SeedSequence([seed, session, offset]).generate_state(1)[0])


def make_pruner(space: SearchSpace) -> optuna.pruners.BasePruner:
    if space.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=space.startup_trials, n_warmup_steps=space.warmup_steps
    )


def sampler_label(space: SearchSpace) -> str:
    return f"{space.sampler}(seed={space.seed})"


# ------------------------------------------------------------------ trials


def _used(study: optuna.Study) -> int:
    """Trials that count towards N: started or finished, not queued, not interrupted by a crash."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in COUNTED and not t.user_attrs.get("interrupted")
    )


def run_trials(
    setup: TrialSetup,
    study: optuna.Study,
    lock: FlockLock,
    registry: Registry,
    runs: RunStore,
    clock: Callable[[], float] = time.time,
) -> None:
    """Ask for and run trials until N count or the deadline passes (no new trial starts after it)."""
    while True:
        with lock:  # count and ask under one lock: K processes never start more than N trials
            if setup.deadline is not None and clock() >= setup.deadline:
                return
            if _used(study) >= setup.n_trials:
                return
            if setup.parent_pid is not None and os.getppid() != setup.parent_pid:
                return  # the command that started this worker was killed: a --resume takes over
            trial = study.ask()
        _run_one(setup, study, trial, registry, runs)


def _reporter(trial: optuna.Trial) -> tr.Report:
    def report(step: int, value: float) -> None:
        trial.report(float(value), int(step))
        if trial.should_prune():
            raise tr.TrialPruned(int(step))

    return report


def _run_one(
    setup: TrialSetup, study: optuna.Study, trial: optuna.Trial, registry: Registry, runs: RunStore
) -> None:
    """One trial as one recorded child run; its outcome told to the study."""
    run_id = new_run_id()
    trial.set_user_attr("run_id", run_id)
    values = setup.space.suggest(trial)
    overrides = {**setup.fixed, **{k: as_param_string(v) for k, v in values.items()}}
    context = RunContext(
        run_id=run_id,
        parent_run_id=setup.parent,
        record={"trial": {"study": setup.parent, "number": trial.number, **_retry_of(trial)}},
        report=_reporter(trial),
        keep_holdout=False,
    )
    try:
        rec = train_and_register(
            setup.entrypoint,
            setup.model,
            registry=registry,
            runs=runs,
            params=overrides,
            register=False,
            context=context,
            expectations=setup.expectations,
        )
    except tr.TrialPruned as exc:
        study.tell(trial, state=TrialState.PRUNED)
        say(setup, f"trial {trial.number}: pruned at step {exc.step}")
        return
    except tr.TrainingError as exc:
        trial.set_user_attr("error", exc.message[:500])
        study.tell(trial, state=TrialState.FAIL)
        say(setup, f"trial {trial.number}: failed: {exc.message}")
        return
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C: a later --resume runs this point again
        mark_interrupted(study, trial._trial_id, trial.number, trial.params)
        raise
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    value = rec["metrics"].get(setup.metric)
    if value is None:
        study.tell(trial, state=TrialState.FAIL)
        raise UnprocessableError(
            f"objective metric {setup.metric!r} is not among trial {trial.number}'s metrics "
            f"({', '.join(sorted(rec['metrics']))}); set objective.metric in {setup.space.source}",
            code="unknown_metric",
        )
    study.tell(trial, value)
    say(setup, f"trial {trial.number}: {setup.metric}={value:.6g} {values}")


def mark_interrupted(study: optuna.Study, trial_id: int, number: int, params: dict[str, Any]) -> None:
    """A trial cut short by a crash or Ctrl-C: failed, not counted towards N, its params queued again."""
    storage = study._storage
    storage.set_trial_user_attr(trial_id, "interrupted", True)
    storage.set_trial_state_values(trial_id, TrialState.FAIL)
    if params:
        study.enqueue_trial(dict(params), user_attrs={"retry_of": number})


def _retry_of(trial: optuna.Trial) -> dict[str, int]:
    """A trial queued again after a crash interrupted trial ``n`` says so: ``{"retry_of": n}``."""
    n = trial.user_attrs.get("retry_of")
    return {} if n is None else {"retry_of": int(n)}


def say(setup: TrialSetup, line: str) -> None:
    if setup.verbose:
        print(line, file=sys.stderr, flush=True)
