"""``mlops train --tune`` and ``mlops runs list --parent`` / ``runs compare --parent`` through the CLI."""

from __future__ import annotations

import json

import pytest
from mlops.cli import main

from tests.unit.tuning.conftest import write_space


def test_cli_tunes_then_lists_and_compares_the_trials(tmp_path, project, space, capsys):
    store = str(tmp_path / "store")
    argv = ["train", str(project), "--model", "clf", "--tune", str(space), "--trials", "3", "--store", store]
    assert main([*argv, "--json"]) == 0
    parent = json.loads(capsys.readouterr().out)
    pid, s = parent["run_id"], parent["study"]
    assert parent["kind"] == "study" and s["trials_complete"] == 3 and s["registered"]["version"] == 1

    assert main(["runs", "list", "--parent", pid, "--store", store, "--json"]) == 0
    children = json.loads(capsys.readouterr().out)["runs"]
    assert len(children) == 4 and {c["parent_run_id"] for c in children} == {pid}  # 3 trials + the refit
    assert main(["runs", "list", "--store", store, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 5  # and the parent

    assert main(["runs", "compare", "--parent", pid, "--store", store]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["RUN_ID", "TRIAL", "STATUS", "PARAMS.ALPHA", "PARAMS.LOSS"]
    assert "METRICS.F1" in lines[0] and out.rstrip().endswith("best first by f1 (maximize)")
    assert lines[1].split()[0] in (s["best_run_id"], s["registered"]["run_id"])  # best first
    assert main(["runs", "compare", "--parent", pid, "--store", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    f1 = [r["metrics.f1"] for r in rows]
    assert f1 == sorted(f1, reverse=True) and len(rows) == 4

    trial_ids = [c["run_id"] for c in children][:3]
    assert main(["runs", "compare", *trial_ids, "--store", store, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 3
    assert main(["runs", "compare", trial_ids[0], trial_ids[1], "--store", store]) == 0  # two: side by side
    assert "params.alpha" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--tune", "{space}", "--trials", "0"],
            "mlops: error: --trials 0: must be at least 1 [bad_request]",
        ),
        (
            ["--tune", "{space}", "--trials", "2", "--parallel", "9999"],
            "mlops: error: --parallel 9999: this machine has",
        ),
        (["--tune", "{space}"], "mlops: error: --tune needs --trials N"),
        (
            ["--trials", "3"],
            "mlops: error: --trials, --parallel, --timeout and --resume need --tune SPACE_FILE",
        ),
        (
            ["--tune", "{space}", "--trials", "2", "--if-changed"],
            "mlops: error: --if-changed does not apply to --tune",
        ),
        (
            ["--tune", "{space}", "--trials", "2", "--expectations-infer"],
            "mlops: error: --expectations-infer does not apply to --tune",
        ),
        (
            ["--tune", "{bad}", "--trials", "2"],
            "mlops: error: bad.yaml:2: params.alpha: low (1.0) must be less than high (0.1)",
        ),
        (
            ["--tune", "{unknown}", "--trials", "2"],
            "mlops: error: unknown.yaml:3: params.depth: not a parameter of train.py",
        ),
        (["--tune", "{tmp}/missing.yaml", "--trials", "2"], "missing.yaml not found [invalid_search_space]"),
        (
            ["--tune", "{space}", "--trials", "2", "--timeout", "0"],
            "mlops: error: --timeout 0.0: must be a positive",
        ),
    ],
)
def test_cli_refuses_bad_input_in_one_line(tmp_path, project, space, capsys, extra, message):
    bad = write_space(tmp_path, "params:\n  alpha: {type: float, low: 1.0, high: 0.1}\n", name="bad.yaml")
    unknown = write_space(
        tmp_path,
        "params:\n  alpha: {type: float, low: 0.1, high: 1.0}\n  depth: {type: int, low: 1, high: 3}\n",
        name="unknown.yaml",
    )
    args = [a.format(space=space, bad=bad, unknown=unknown, tmp=tmp_path) for a in extra]
    store = str(tmp_path / "store")
    assert main(["train", str(project), "--model", "clf", *args, "--store", store]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not list((tmp_path / "store" / "objects").rglob("run.json"))


def test_cli_compare_needs_two_runs_and_a_parent_with_trials(tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["runs", "compare", "--store", store]) == 1
    assert "give two or more run ids, or --parent RUN" in capsys.readouterr().err
    assert main(["runs", "compare", "--parent", "20260101T000000000000Z-00000000", "--store", store]) == 1
    assert "has no trials" in capsys.readouterr().err


def test_the_search_checks_the_training_data_against_the_expectations_file(tmp_path, project, space, capsys):
    """``--expectations FILE`` reaches the trials: training data that breaks it stops the search at once (every
    trial trains on the same data) with the suite's report, and nothing is registered."""
    suite = tmp_path / "strict.yaml"
    suite.write_text("format: mlops-expectations/v1\ndataset: {min_rows: 1000000000}\ncolumns: {}\n")
    store = str(tmp_path / "store")
    argv = ["train", str(project), "--model", "clf", "--tune", str(space), "--trials", "3"]
    assert main([*argv, "--expectations", str(suite), "--store", store]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlops: error: training data violates strict.yaml") and "< min 1000000000" in err
    assert main(["models", "list", "--store", store, "--json"]) == 0
    assert "clf" not in capsys.readouterr().out
    assert main([*argv, "--store", store]) == 0  # without the file the same search trains and registers
