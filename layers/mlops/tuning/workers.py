"""``--parallel K``: K worker processes run trials against the same study journal.

Processes, not threads: a scikit-learn fit holds the GIL for much of its work. Workers are started
with ``spawn`` (a clean interpreter each: no forked locks or thread pools), rebuild the store, the
registry and the study from a picklable ``TrialSetup``, and run ``trials.run_trials``; the study lock
keeps the total at N. Each worker's sampler gets its own seed (``seed + worker number``; a resumed
command's workers get seeds of their own, ``trials.make_sampler``), so a parallel search is not
reproducible trial by trial the way a ``--parallel 1`` one with a seed is.
K is bounded by the machine's cores (``trials.check_request``); spreading trials over OCI Data
Science Jobs is not supported yet.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from dataclasses import replace
from typing import Any

from mlops.errors import MlopsError, UnprocessableError
from mlops.tuning.trials import TrialSetup


def _worker(setup: TrialSetup, index: int, errors: Any) -> None:
    import optuna

    from mlops.registry import Registry
    from mlops.runs.store import RunStore
    from mlops.storage.file import FileStore
    from mlops.tuning.journal import FlockLock, OwnerLock, open_storage, study_paths
    from mlops.tuning.trials import make_pruner, make_sampler, run_trials

    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        store = FileStore(setup.store_root, create=False)
        journal, lock_path = study_paths(store, setup.parent)
        lock = FlockLock(lock_path)
        with OwnerLock(journal, setup.parent, shared=True):
            study = optuna.load_study(
                study_name=setup.parent,
                storage=open_storage(journal, lock),
                sampler=make_sampler(setup.space, index + 1, setup.session),
                pruner=make_pruner(setup.space),
            )
            run_trials(setup, study, lock, Registry(store, actor=setup.actor), RunStore(store), time.time)
    except MlopsError as exc:
        errors.put(f"worker {index}: {exc.message} [{exc.code}]")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - reported to the parent in one line
        errors.put(f"worker {index}: {type(exc).__name__}: {exc}")
        sys.exit(1)


def run_parallel(setup: TrialSetup, k: int) -> None:
    """Run the study's remaining trials in ``k`` processes; the first worker error is raised here.

    The caller holds the study's ``OwnerLock`` shared (``share()``), so the workers can take it too."""
    setup = replace(setup, parent_pid=os.getpid())
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(setup, i, errors), name=f"mlops-tune-{i}") for i in range(k)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except BaseException:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
        raise
    messages = []
    while True:
        try:
            messages.append(errors.get(timeout=0.1))
        except queue.Empty:
            break
    failed = [p for p in procs if p.exitcode != 0]
    if messages or failed:
        detail = messages[0] if messages else f"worker {failed[0].name} exited with code {failed[0].exitcode}"
        raise UnprocessableError(f"hyperparameter search: {detail}", code="tuning_worker_failed")
