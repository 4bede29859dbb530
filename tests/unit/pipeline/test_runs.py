"""Training runs: the project contract, recorded lineage, change detection and the validation gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlops.cli import main
from mlops.errors import BadRequestError, NotFoundError
from mlops.registry import Registry
from mlops.runs.evaluation import evaluate, improvement
from mlops.runs.gate import validate_candidate
from mlops.runs.recorder import train_and_register
from mlops.runs.store import RunStore, new_run_id, pack_holdout, unpack_holdout
from mlops.runs.training import TrainingError, load_project, project_digest, resolve_params
from mlops.storage import FileStore

ROOT = Path(__file__).resolve().parents[3]

PROJECT = """
PARAMS = {"depth": 3, "noise": 0.0, "shuffle": False, "label": "y"}

def load_data(params):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=7)
    y_train = y[:200].copy()
    if params["noise"]:  # corrupt the training labels only: a worse model, the same holdout
        flip = __import__("numpy").random.default_rng(1).random(200) < params["noise"]
        y_train[flip] = 1 - y_train[flip]
    return {"X_train": X[:200], "y_train": y_train, "X_holdout": X[200:], "y_holdout": y[200:],
            "feature_names": [f"x{i}" for i in range(5)], "target_name": params["label"]}

def train(params, data):
    from sklearn.tree import DecisionTreeClassifier
    model = DecisionTreeClassifier(max_depth=params["depth"], random_state=0)
    model.fit(data["X_train"], data["y_train"])
    return {"model": model, "metrics": {"train_accuracy": model.score(data["X_train"], data["y_train"])}}
"""


@pytest.fixture
def project(tmp_path) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "train.py").write_text(PROJECT)
    return d / "train.py"


@pytest.fixture
def env(tmp_path):
    store = FileStore(tmp_path / "store")
    return Registry(store, actor="ci"), RunStore(store)


def test_params_take_the_type_of_their_default():
    defaults = {"n": 3, "rate": 0.1, "flag": False, "name": "a", "layers": [1, 2]}
    out = resolve_params(defaults, {"n": "7", "rate": "1e-3", "flag": "yes", "name": "b", "layers": "[4]"})
    assert out == {"n": 7, "rate": 0.001, "flag": True, "name": "b", "layers": [4]}
    with pytest.raises(BadRequestError, match="--param n='x': expected a int"):
        resolve_params(defaults, {"n": "x"})
    with pytest.raises(
        BadRequestError, match="--param depth: unknown parameter; known: flag, layers, n, name, rate"
    ):
        resolve_params(defaults, {"depth": "1"})
    assert resolve_params({}, {"free": "form"}) == {"free": "form"}


def test_project_contract_is_checked(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def train(params, data):\n    return None\n")
    with pytest.raises(TrainingError, match=r"bad.py must define load_data\(...\)"):
        load_project(bad)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no GPU')\n")
    with pytest.raises(TrainingError, match="importing broken.py failed: RuntimeError: no GPU"):
        load_project(broken)


def test_project_digest_follows_the_files_but_not_caches(tmp_path, project):
    d = project.parent
    first = project_digest(d)
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"junk")
    assert project_digest(d) == first
    (d / "features.sql").write_text("select 1")
    second = project_digest(d)
    assert second != first
    (d / "features.sql").write_text("select 2")
    assert project_digest(d) not in (first, second)


def test_train_records_the_run_and_registers_with_lineage(env, project):
    registry, runs = env
    out = train_and_register(project, "clf", registry=registry, runs=runs, params={"depth": "4"})
    assert out["trained"] is True and out["status"] == "registered" and out["version"] == 1
    run = runs.get(out["run_id"])
    assert run["params"] == {"depth": 4, "noise": 0.0, "shuffle": False, "label": "y"}
    assert set(run["metrics"]) >= {"accuracy", "f1", "precision", "recall", "roc_auc", "train_accuracy"}
    assert run["duration_s"] > 0 and run["n_train"] == 200 and run["n_holdout"] == 100
    assert run["packages"]["scikit-learn"] and run["packages"]["python"]
    assert run["code_digest"] == project_digest(project.parent)
    version = registry.get_version("clf", 1)
    assert version["tags"]["run_id"] == run["run_id"]
    assert version["training_data"]["digest"] == run["data_digest"]
    assert [f["name"] for f in version["signature"]["inputs"]] == [f"x{i}" for i in range(5)]
    assert version["reference_profile"] and version["metrics"]["f1"] == pytest.approx(run["metrics"]["f1"])
    X, y = runs.holdout(run)
    assert X.shape == (100, 5) and len(y) == 100
    model, _ = registry.load_model("clf", 1)
    assert evaluate(model, X, y)["f1"] == pytest.approx(run["metrics"]["f1"])


def test_if_changed_reuses_the_last_version_until_code_data_or_params_change(env, project):
    registry, runs = env
    first = train_and_register(project, "clf", registry=registry, runs=runs)
    again = train_and_register(project, "clf", registry=registry, runs=runs, if_changed=True)
    assert again["trained"] is False and again["version"] == first["version"]
    assert "unchanged since run" in again["reason"]
    assert len(runs.run_ids()) == 1
    by_params = train_and_register(
        project, "clf", registry=registry, runs=runs, if_changed=True, params={"depth": "2"}
    )
    assert by_params["trained"] and by_params["version"] == 2 and "params changed" in by_params["reason"]
    by_data = train_and_register(
        project, "clf", registry=registry, runs=runs, if_changed=True, params={"depth": "2", "noise": "0.2"}
    )
    assert (
        by_data["version"] == 3
        and "training data" in by_data["reason"]
        and "holdout" not in by_data["reason"]
    )
    project.write_text(PROJECT + "\n# a comment is a code change\n")
    by_code = train_and_register(
        project, "clf", registry=registry, runs=runs, if_changed=True, params={"depth": "2", "noise": "0.2"}
    )
    assert by_code["version"] == 4 and by_code["reason"].endswith(
        f"(training code changed since run {by_data['run_id']})"
    )


def test_a_failing_training_is_recorded_then_raised(env, tmp_path):
    registry, runs = env
    p = tmp_path / "failing.py"
    p.write_text(
        "def load_data(params):\n    return {'X_train': [[1]], 'y_train': [1], 'X_holdout': [[1]], "
        "'y_holdout': [1]}\n\ndef train(params, data):\n    raise ValueError('diverged')\n"
    )
    with pytest.raises(TrainingError, match="failing.py: train raised ValueError: diverged"):
        train_and_register(p, "m", registry=registry, runs=runs)
    (run,) = runs.list()
    assert run["status"] == "failed" and "diverged" in run["error"] and run["version"] is None
    with pytest.raises(NotFoundError):
        registry.get_model("m")


def test_run_ids_sort_by_time_and_holdouts_round_trip():
    a, b = new_run_id(lambda: 1_700_000_000.0), new_run_id(lambda: 1_700_000_000.5)
    assert a < b
    X = np.array([["a", 1], ["b", 2]], dtype=object)
    Xr, yr = unpack_holdout(pack_holdout(X, np.array([0, 1])))
    assert Xr.tolist() == [["a", "1"], ["b", "2"]] and yr.tolist() == [0, 1]


def approve_production(registry: Registry, model: str, version: int) -> None:
    registry.request_approval(model, version)
    registry.with_actor("reviewer").decide_approval(model, version, "approve")
    registry.set_alias(model, "production", version)


def test_gate_passes_without_production_then_fails_a_worse_candidate_with_the_reason(env, project):
    registry, runs = env
    good = train_and_register(project, "clf", registry=registry, runs=runs, params={"depth": "5"})
    first = validate_candidate(registry, runs, "clf", good["version"])
    assert first.passed and "no 'production' version yet" in first.reason
    approve_production(registry, "clf", good["version"])
    worse = train_and_register(
        project, "clf", registry=registry, runs=runs, params={"depth": "5", "noise": "0.45"}
    )
    verdict = validate_candidate(registry, runs, "clf", worse["version"], metric="f1", min_delta=0.0)
    assert not verdict.passed
    assert verdict.delta < 0
    assert verdict.reason.startswith("candidate is worse than production: f1 ")
    assert (
        f"candidate v{worse['version']}" in verdict.reason
        and f"production v{good['version']}" in verdict.reason
    )
    assert verdict.holdout_rows == 100
    trail = [e["action"] for e in registry.audit.entries() if e["action"].startswith("validation.")]
    assert trail == ["validation.passed", "validation.failed"]
    # the same candidate passes when the gate tolerates the loss
    lenient = validate_candidate(registry, runs, "clf", worse["version"], min_delta=verdict.delta - 0.01)
    assert lenient.passed
    with pytest.raises(BadRequestError, match="metric 'rmse' is not available"):
        validate_candidate(registry, runs, "clf", worse["version"], metric="rmse")


def test_gate_refuses_models_with_different_inputs(env, project, tmp_path):
    registry, runs = env
    good = train_and_register(project, "clf", registry=registry, runs=runs)
    approve_production(registry, "clf", good["version"])
    other = tmp_path / "other" / "train.py"
    other.parent.mkdir()
    other.write_text(PROJECT.replace('f"x{i}"', 'f"z{i}"'))
    cand = train_and_register(other, "clf", registry=registry, runs=runs)
    verdict = validate_candidate(registry, runs, "clf", cand["version"])
    assert not verdict.passed and "input features differ" in verdict.reason and "z0" in verdict.reason


def test_error_metrics_are_better_when_lower():
    assert improvement("rmse", 1.0, 2.0) == 1.0
    assert improvement("f1", 0.8, 0.9) == pytest.approx(-0.1)


def test_example_training_project_trains_a_good_classifier(env):
    registry, runs = env
    out = train_and_register(
        ROOT / "pipelines" / "train" / "train.py",
        "breast-cancer",
        registry=registry,
        runs=runs,
        params={"n_estimators": "30"},
    )
    assert out["metrics"]["f1"] > 0.9
    assert out["entrypoint"].endswith("pipelines/train/train.py")
    version = registry.get_version("breast-cancer", 1)
    assert version["signature"]["inputs"][0]["name"] == "mean_radius"
    assert version["tags"]["class_names"] == "malignant,benign", "label 0 is malignant in sklearn's data"


def test_class_names_from_load_data_are_checked(tmp_path):
    from mlops.runs.training import load_data

    bad = PROJECT.replace(
        '"target_name": params["label"]}', '"target_name": params["label"], "class_names": ["a,b", "c"]}'
    )
    (tmp_path / "train.py").write_text(bad)
    with pytest.raises(TrainingError, match="class_names"):
        load_data(load_project(tmp_path / "train.py"), {"label": "y", "noise": 0.0})


# ---------------------------------------------------------------- through the CLI


def test_cli_train_runs_compare_and_validate(tmp_path, project, capsys):
    store = str(tmp_path / "cli-store")
    assert (
        main(["train", str(project), "--model", "clf", "--param", "depth=5", "--store", store, "--json"]) == 0
    )
    a = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "train",
                str(project),
                "--model",
                "clf",
                "--param",
                "depth=1",
                "--param",
                "noise=0.4",
                "--store",
                store,
                "--json",
            ]
        )
        == 0
    )
    b = json.loads(capsys.readouterr().out)

    assert main(["runs", "list", "--store", store]) == 0
    listing = capsys.readouterr().out
    assert listing.index(b["run_id"]) < listing.index(a["run_id"])  # newest first

    assert main(["runs", "compare", a["run_id"], b["run_id"], "--store", store]) == 0
    table = capsys.readouterr().out
    depth = next(line for line in table.splitlines() if line.startswith("params.depth"))
    assert depth.split()[1:] == ["5", "1", "*"]
    f1 = next(line for line in table.splitlines() if line.startswith("metrics.f1"))
    assert f1.split()[3].startswith("-")  # the change column shows the drop

    assert main(["runs", "show", a["run_id"], "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["depth"] == 5

    registry = Registry(FileStore(tmp_path / "cli-store"), actor="ci")
    approve_production(registry, "clf", a["version"])
    code = main(
        [
            "validate",
            "clf",
            "--candidate",
            str(b["version"]),
            "--against",
            "production",
            "--metric",
            "f1",
            "--min-delta",
            "0",
            "--store",
            store,
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "validation gate failed: candidate is worse than production: f1" in captured.err
    assert main(["validate", "clf", "--candidate", str(a["version"]), "--store", store]) == 0
    assert main(["runs", "show", "20990101T000000000000Z-00000000", "--store", store]) == 1
    assert "run 20990101T000000000000Z-00000000 not found" in capsys.readouterr().err
