"""A search as recorded runs: trials as children, the parent's summary, the best registered, pruning,
failures and the timeout (with an injected clock)."""

from __future__ import annotations

import json
import math

import pytest
from mlops.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from mlops.runs.store import RunStore
from mlops.storage.s3 import S3Store
from mlops.tuning.study import tune
from mlops.tuning.trials import TuneRequest

from tests.unit.tuning.conftest import SPACE, write_space

NO_RUN = "20260101T000000000000Z-00000000"


def _request(project, space, n: int, **kw) -> TuneRequest:
    return TuneRequest(entrypoint=str(project), model="clf", space_file=str(space), n_trials=n, **kw)


def test_trials_are_child_runs_and_the_best_is_registered_with_the_studys_summary(env, project, space):
    registry, runs = env
    parent = tune(_request(project, space, 4), registry=registry, runs=runs)
    s = parent["study"]
    children = list(reversed(list(runs.iter_runs(parent=parent["run_id"]))))  # oldest first
    trials = [c for c in children if "refit_of" not in c["trial"]]
    assert [c["trial"]["number"] for c in trials] == [0, 1, 2, 3]
    assert all(c["status"] == "trained" and c["parent_run_id"] == parent["run_id"] for c in trials)
    assert all("holdout" not in c for c in trials)  # no holdout copy per trial
    assert len({c["params"]["alpha"] for c in trials}) == 4
    best = max(trials, key=lambda c: c["metrics"]["f1"])
    assert (s["trials_complete"], s["trials_pruned"], s["trials_failed"], s["stopped_by"]) == (
        4,
        0,
        0,
        "trials",
    )
    assert s["metric"] == "f1" and s["direction"] == "maximize"  # the default for a classifier
    assert s["best_run_id"] == best["run_id"] and s["best_value"] == best["metrics"]["f1"]
    assert s["best_params"] == {k: best["params"][k] for k in ("alpha", "loss")}
    assert s["sampler"] == "random(seed=3)" and s["space_digest"].startswith("sha256:")
    assert parent["kind"] == "study" and parent["status"] == "tuned" and parent["params"] == best["params"]
    assert runs.get(parent["run_id"])["study"] == s

    (refit,) = [c for c in children if "refit_of" in c["trial"]]
    assert refit["trial"]["refit_of"] == best["run_id"] and refit["status"] == "registered"
    assert s["registered"] == {
        "version": 1,
        "run_id": refit["run_id"],
        "value": best["metrics"]["f1"],
        "matches_best_trial": True,
    }
    version = registry.get_version("clf", 1)
    assert version["params"] == best["params"] and version["tags"]["run_id"] == refit["run_id"]
    src = version["source"]
    assert src["study_run_id"] == parent["run_id"] and src["study_best_trial"] == best["trial"]["number"]
    assert src["study_trials_complete"] == 4 and src["study_metric"] == "f1"
    assert src["study_space_digest"] == s["space_digest"] and src["run_id"] == refit["run_id"]
    assert runs.holdout(refit)[0].shape == (80, 6)  # the registered run keeps its holdout for the gate
    # the same search with the same seed samples the same points
    again = tune(_request(project, space, 4, register=False), registry=registry, runs=runs)
    assert again["study"]["best_params"] == s["best_params"] and again["study"]["registered"] is None


def test_hopeless_trials_are_pruned_through_the_report_hook(env, project, tmp_path):
    registry, runs = env
    space = write_space(
        tmp_path,
        """\
        params:
          alpha: {type: float, low: 1e-4, high: 1e-2, log: true}
          quality: {type: categorical, choices: [good, bad]}
        sampler: {type: random, seed: 1}
        pruner: {type: median, startup_trials: 1}
        """,
    )
    parent = tune(_request(project, space, 6, register=False), registry=registry, runs=runs)
    children = list(runs.iter_runs(parent=parent["run_id"]))
    pruned = [c for c in children if c["status"] == "pruned"]
    trained = [c for c in children if c["status"] == "trained"]
    assert len(pruned) + len(trained) == 6 and pruned and trained
    assert all(
        c["params"]["quality"] == "bad" and c["pruned_at_step"] == 0 and not c["metrics"] for c in pruned
    )
    assert all(
        c["params"]["quality"] == "good" for c in trained[:-1]
    )  # the first trial may be bad: nothing to beat
    s = parent["study"]
    assert (s["trials_pruned"], s["trials_complete"]) == (len(pruned), len(trained))
    assert s["best_params"]["quality"] == "good"


def test_failed_trials_are_recorded_and_a_search_without_a_success_fails(env, project, tmp_path):
    registry, runs = env
    space = write_space(
        tmp_path,
        "params:\n  alpha: {type: float, low: 0.001, high: 1.0, log: true}\nsampler: {type: random, seed: 0}\n",
    )
    parent = tune(_request(project, space, 4, params={"fail_above": "0.05"}), registry=registry, runs=runs)
    s = parent["study"]
    children = list(runs.iter_runs(parent=parent["run_id"]))
    failed = [c for c in children if c["status"] == "failed"]
    assert s["trials_failed"] == len(failed) > 0 and s["trials_complete"] == 4 - len(failed)
    assert all("alpha too large" in c["error"] and c["params"]["alpha"] > 0.05 for c in failed)
    assert s["best_params"]["alpha"] <= 0.05

    with pytest.raises(UnprocessableError, match=r"no trial completed \(0 pruned, 2 failed\)"):
        tune(_request(project, space, 2, params={"fail_above": "0.001"}), registry=registry, runs=runs)
    (latest_parent,) = [d for d in runs.iter_runs() if d.get("kind") == "study" and d["status"] == "failed"]
    assert latest_parent["study"]["trials_failed"] == 2 and latest_parent["version"] is None


def test_the_timeout_stops_starting_trials(env, project, space):
    registry, runs = env
    ticks = iter([0.0, 1.0, 2.0, 30.0, 31.0, 32.0])  # start, then one reading before each ask
    parent = tune(
        _request(project, space, 10, timeout_s=5.0, register=False),
        registry=registry,
        runs=runs,
        clock=lambda: next(ticks),
    )
    s = parent["study"]
    assert s["trials_complete"] == 2 and s["stopped_by"] == "timeout"
    assert len(list(runs.iter_runs(parent=parent["run_id"]))) == 2


def test_requests_are_checked_before_anything_runs(env, project, space, tmp_path):
    registry, runs = env
    for req, error, message in [
        (_request(project, space, 0), BadRequestError, "--trials 0: must be at least 1"),
        (
            _request(project, space, 2, parallel=3),
            BadRequestError,
            "--parallel 3: this machine has 2 core(s)",
        ),
        (_request(project, space, 2, parallel=0), BadRequestError, "--parallel 0: must be at least 1"),
        (_request(project, space, 2, timeout_s=-1.0), BadRequestError, "--timeout -1.0: must be a positive"),
        (
            _request(project, space, 2, params={"alpha": "0.1"}),
            BadRequestError,
            "--param alpha: also in space.yaml",
        ),
        (
            _request(project, space, 2, params={"nope": "1"}),
            BadRequestError,
            "--param nope: unknown parameter",
        ),
        (_request(project, space, 2, resume=NO_RUN), NotFoundError, f"no study journal for run {NO_RUN}"),
    ]:
        with pytest.raises(error) as err:
            tune(req, registry=registry, runs=runs, cores=2)
        assert message in err.value.message
    s3 = S3Store(
        "bucket", endpoint_url="http://127.0.0.1:9", region="us-east-1", access_key="k", secret_key="s"
    )
    with pytest.raises(BadRequestError, match=r"needs a store on a local disk; s3://bucket/ at http"):
        tune(_request(project, space, 2), registry=registry, runs=RunStore(s3))  # refused before any request
    bad = write_space(tmp_path, "params:\n  depth: {type: int, low: 1, high: 3}\n", name="bad.yaml")
    with pytest.raises(BadRequestError, match=r"bad.yaml:2: params.depth: not a parameter of train.py"):
        tune(_request(project, bad, 2), registry=registry, runs=runs)
    assert runs.run_ids() == []  # nothing was recorded


def test_a_finished_study_cannot_be_resumed_and_a_changed_space_is_refused(env, project, space, tmp_path):
    registry, runs = env
    parent = tune(_request(project, space, 1, register=False), registry=registry, runs=runs)
    with pytest.raises(ConflictError, match="already finished"):
        tune(_request(project, space, 2, resume=parent["run_id"]), registry=registry, runs=runs)
    journal = runs.store.path_of(f"runs/{parent['run_id']}/study.journal")
    ops = [json.loads(line) for line in journal.read_text().splitlines()]
    assert ops and all(isinstance(op, dict) for op in ops)  # Optuna's journal, beside the runs
    assert math.isfinite(parent["study"]["best_value"])


def test_ctrl_c_leaves_a_study_that_resumes_and_retries_the_interrupted_point(env, project, space, tmp_path):
    registry, runs = env
    fixed = {"counter_file": str(tmp_path / "calls"), "interrupt_at": "3"}
    with pytest.raises(KeyboardInterrupt):
        tune(_request(project, space, 5, params=fixed, register=False), registry=registry, runs=runs)
    (parent_id,) = {c["parent_run_id"] for c in runs.iter_runs()}
    before = {c["trial"]["number"]: c for c in runs.iter_runs(parent=parent_id)}
    assert (
        sorted(before) == [0, 1, 2]
        and before[2]["status"] == "failed"
        and before[2]["error"] == "interrupted"
    )

    with pytest.raises(ConflictError, match=r"was started with other --param values: --param counter_file="):
        tune(_request(project, space, 5, register=False, resume=parent_id), registry=registry, runs=runs)
    changed = write_space(tmp_path, SPACE.replace("seed: 3", "seed: 4"), name="space.yaml")
    with pytest.raises(ConflictError, match=f"space.yaml changed since study {parent_id} started"):
        tune(_request(project, changed, 5, params=fixed, resume=parent_id), registry=registry, runs=runs)
    write_space(tmp_path, SPACE, name="space.yaml")
    parent = tune(
        _request(project, space, 5, params=fixed, register=False, resume=parent_id),
        registry=registry,
        runs=runs,
    )
    s = parent["study"]
    assert (s["trials_complete"], s["trials_failed"], s["trials_interrupted"]) == (5, 0, 1)
    after = [c for c in runs.iter_runs(parent=parent_id) if c["trial"]["number"] not in before]
    assert sorted(c["trial"]["number"] for c in after) == [3, 4, 5]
    (retry,) = [c for c in after if "retry_of" in c["trial"]]
    assert retry["trial"]["retry_of"] == 2 and retry["params"] == before[2]["params"]
    # the resumed command samples new points: a seeded sampler does not start its sequence over
    trained = [c for c in runs.iter_runs(parent=parent_id) if c["status"] == "trained"]
    points = {(c["params"]["alpha"], c["params"]["loss"]) for c in trained}
    assert len(trained) == 5 and len(points) == 5, sorted(points)


def test_an_objective_metric_the_runs_do_not_have_stops_the_search_with_the_ones_they_do(
    env, project, tmp_path
):
    registry, runs = env
    space = write_space(
        tmp_path, "params:\n  alpha: {type: float, low: 0.001, high: 0.1}\nobjective: {metric: rmse}\n"
    )
    with pytest.raises(UnprocessableError) as err:
        tune(_request(project, space, 3), registry=registry, runs=runs)
    assert err.value.message == (
        "objective metric 'rmse' is not among trial 0's metrics (accuracy, f1, precision, recall); "
        "set objective.metric in space.yaml"
    )
