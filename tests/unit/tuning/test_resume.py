"""A search killed with SIGKILL resumes where it stopped; K worker processes share one study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlops.cli import main
from mlops.tuning.study import tune
from mlops.tuning.trials import TuneRequest

from tests.unit.tuning.conftest import SPACE, write_space

ROOT = Path(__file__).resolve().parents[3]


def _children(store: Path) -> list[dict]:
    out = []
    for p in (store / "objects" / "runs").glob("*/run.json"):
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError):  # pragma: no cover - records are renamed into place whole
            continue
        if doc.get("parent_run_id"):
            out.append(doc)
    return out


def _underway(store: Path, journal: Path) -> bool:
    """At least one trial recorded, and a trial started (its run id in the journal) but not recorded yet."""
    started = set()
    for line in journal.read_text().splitlines():
        try:
            op = json.loads(line)
        except ValueError:  # the line being appended
            continue
        if op.get("op_code") == 8 and "run_id" in op.get("user_attr", {}):  # SET_TRIAL_USER_ATTR
            started.add(op["user_attr"]["run_id"])
    recorded = {c["run_id"] for c in _children(store)}
    return bool(recorded) and bool(started - recorded)


def _wait_for(condition, what: str, proc: subprocess.Popen, deadline_s: float = 180.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the search exited ({proc.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_killed_search_resumes_without_rerunning_finished_trials(tmp_path, project, space):
    store = tmp_path / "store"
    argv = ["train", str(project), "--model", "clf", "--tune", str(space), "--trials", "5"]
    argv += ["--param", "sleep=0.3", "--store", str(store)]
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "mlops.cli", *argv], cwd=ROOT, stderr=err)
    try:
        journals = _wait_for(
            lambda: list((store / "objects" / "runs").glob("*/study.journal")), "the study journal", proc
        )
        parent = journals[0].parent.name
        _wait_for(lambda: _underway(store, journals[0]), "a finished trial and the next one underway", proc)
        # a second command cannot take over a study that is still running
        assert main([*argv, "--resume", parent]) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {c["run_id"]: c["trial"]["number"] for c in _children(store) if c["status"] == "trained"}
    assert 1 <= len(before) < 5 and not (store / "objects" / "runs" / parent / "run.json").exists()

    assert main([*argv, "--resume", parent, "--json"]) == 0
    summary = json.loads((store / "objects" / "runs" / parent / "run.json").read_text())["study"]
    assert summary["trials_complete"] == 5 and summary["stopped_by"] == "trials"
    assert summary["trials_interrupted"] in (0, 1)  # 1 when the kill came mid-trial (almost always)
    trained = [c for c in _children(store) if c["status"] == "trained"]
    numbers = [c["trial"]["number"] for c in trained]
    assert len(trained) == 5 and len(set(numbers)) == 5  # no trial ran twice
    assert len({(c["params"]["alpha"], c["params"]["loss"]) for c in trained}) == 5  # nor a point
    assert set(before) <= {c["run_id"] for c in trained}
    after = [c["trial"]["number"] for c in trained if c["run_id"] not in before]
    assert len(after) == 5 - len(before) and min(after) > max(before.values())
    retried = [c for c in trained if "retry_of" in c["trial"]]
    assert len(retried) == summary["trials_interrupted"]  # an interrupted trial's params are run again
    refit = [c for c in _children(store) if c["status"] == "registered"]
    assert len(refit) == 1 and refit[0]["trial"]["refit_of"] == summary["best_run_id"]


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for two worker processes")
def test_two_worker_processes_run_exactly_n_trials_of_one_study(env, project, space):
    registry, runs = env
    req = TuneRequest(str(project), "clf", str(space), n_trials=5, parallel=2, register=False)
    parent = tune(req, registry=registry, runs=runs)
    children = list(runs.iter_runs(parent=parent["run_id"]))
    assert sorted(c["trial"]["number"] for c in children) == [0, 1, 2, 3, 4]
    assert parent["study"]["trials_complete"] == 5 and parent["study"]["parallel"] == 2
    assert len({c["params"]["alpha"] for c in children}) == 5  # each worker samples with its own seed


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for two worker processes")
def test_workers_left_behind_by_a_killed_command_finish_their_trial_and_block_a_resume_meanwhile(
    tmp_path, project, capsys
):
    # No pruner: with the default median pruner (5 startup trials) the 6th trial is pruned or not
    # depending on which points the two workers drew in which order, i.e. on the machine's load;
    # pruned trials count towards --trials, so "6 trained" would not be a property of the resume.
    space = write_space(tmp_path, SPACE + "pruner: none\n", name="unpruned.yaml")
    store = tmp_path / "store"
    argv = ["train", str(project), "--model", "clf", "--tune", str(space), "--trials", "6", "--parallel", "2"]
    argv += ["--param", "sleep=0.3", "--no-register", "--store", str(store)]
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "mlops.cli", *argv], cwd=ROOT, stderr=err)
    try:
        journals = _wait_for(
            lambda: list((store / "objects" / "runs").glob("*/study.journal")), "the study journal", proc
        )
        _wait_for(lambda: _underway(store, journals[0]), "a finished trial and the next one underway", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the command only: its two workers live on for a moment
        proc.wait()
    parent = journals[0].parent.name
    end = time.monotonic() + 180
    while main([*argv, "--resume", parent, "--json"]) != 0:
        assert "is being run by another process" in capsys.readouterr().err
        assert time.monotonic() < end, "the orphaned workers never let go of the study"
        time.sleep(0.1)
    summary = json.loads(capsys.readouterr().out)["study"]
    trained = [c for c in _children(store) if c["status"] == "trained"]
    assert summary["trials_complete"] == 6 and len(trained) == 6
    assert (summary["trials_pruned"], summary["trials_failed"], summary["stopped_by"]) == (0, 0, "trials")
    assert len({c["trial"]["number"] for c in trained}) == 6  # nothing ran twice
    points = {(c["params"]["alpha"], c["params"]["loss"]) for c in trained}
    assert len(points) == 6, sorted(points)  # the resumed workers drew new points, not the first ones again
