"""Importing model directories written by the real ``mlflow`` package (tests/fixtures/mlflow, made by its
``make_models.py``): every serialization format MLflow 3 offers, skops' trusted-types check, lineage."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from mlops.errors import BadRequestError, NotFoundError, UnprocessableError
from mlops.registry.skopsfile import check_trees
from mlops.serving.payload import Signature, parse_payload

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mlflow"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
DIRS = sorted(p.name for p in FIXTURES.iterdir() if (p / "MLmodel").is_file())


def test_every_format_mlflow_writes_is_committed():
    assert DIRS == [f"{m}-{f}" for m in ("gbc", "logreg") for f in ("cloudpickle", "pickle", "skops")]


@pytest.mark.parametrize("name", DIRS)
def test_mlflow_directory_registers_and_predicts_like_the_original(reg, name):
    """The imported version, fed MLflow's own serving example through our payload parser, gives the
    original model's probabilities (to 1e-12); the signature, input example and requirements carry over."""
    model_name, fmt = name.split("-")
    rec = reg.import_mlflow("churn", str(FIXTURES / name))
    assert [f["name"] for f in rec["signature"]["inputs"]] == EXPECTED["features"]
    assert rec["signature"]["classes"] == EXPECTED["models"][model_name]["classes"]
    src = rec["source"]
    assert src["kind"] == "mlflow" and src["mlflow_version"] == EXPECTED["mlflow_version"]
    assert src["serialization_format"] == fmt
    assert len(src["model_file_sha256"]) == 64
    example = json.loads(src["input_example"])
    assert example["columns"] == EXPECTED["features"] and example["data"] == EXPECTED["rows"]
    assert "scikit-learn==" in src["requirements"] and "mlflow==" in src["requirements"]
    if fmt == "skops":
        assert "skops==" in src["requirements"]

    loaded, stored = reg.load_model("churn", rec["version"])
    assert stored["artifact"]["format"] == "joblib"  # stored and served as a verified joblib artifact
    body = (FIXTURES / name / "serving_input_example.json").read_bytes()
    X, _ = parse_payload(body, Signature.from_dict(stored["signature"]), 100)
    np.testing.assert_array_equal(X, np.asarray(EXPECTED["rows"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fitted on a DataFrame, served rows are an array
        proba = loaded.predict_proba(X)
    np.testing.assert_allclose(proba, EXPECTED["models"][model_name]["predict_proba"], rtol=0, atol=1e-12)


def _copy(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    shutil.copytree(FIXTURES / name, d)
    return d


def _replace_skops_model(d: Path, model) -> None:
    import skops.io as sio

    (d / "model.skops").write_bytes(sio.dumps(model))


def test_skops_file_with_an_untrusted_type_is_refused_naming_it(reg, tmp_path):
    """A function skops does not trust (here os.system) is refused before anything is constructed, even
    when MLmodel lists it under skops_trusted_types: what is trusted is ours to say, not the file's."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    d = _copy(tmp_path, "logreg-skops")
    _replace_skops_model(d, make_pipeline(FunctionTransformer(os.system)))
    system = f"{os.system.__module__}.system"
    text = (d / "MLmodel").read_text(encoding="utf-8")
    (d / "MLmodel").write_text(
        text.replace(
            "    sklearn_version:", f"    skops_trusted_types:\n    - {system}\n    sklearn_version:"
        ),
        encoding="utf-8",
    )
    with pytest.raises(UnprocessableError) as err:
        reg.import_mlflow("churn", str(d))
    assert err.value.status == 422 and err.value.code == "untrusted_types"
    assert system in err.value.message and system in err.value.details["untrusted_types"]
    with pytest.raises(NotFoundError):
        reg.get_model("churn")  # nothing was written


def test_skops_types_outside_the_allow_list_are_refused(reg, tmp_path):
    """HistGradientBoosting's TreePredictor is an sklearn type skops does not trust and nothing here
    bounds-checks: refused, named."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    model = HistGradientBoostingClassifier(max_iter=2).fit(X, (X[:, 0] > 0).astype(int))
    d = _copy(tmp_path, "gbc-skops")
    _replace_skops_model(d, model)
    with pytest.raises(UnprocessableError, match="TreePredictor"):
        reg.import_mlflow("churn", str(d))


def _forged(model, **change):
    """A copy of a fitted GradientBoosting model whose first tree's node arrays are changed."""
    import copy

    from sklearn.tree._tree import Tree

    forged = copy.deepcopy(model)
    est = forged.estimators_[0, 0]
    state = est.tree_.__getstate__()
    nodes = state["nodes"].copy()
    for field, (index, value) in change.items():
        nodes[field][index] = value
    state["nodes"] = nodes
    tree = Tree(est.tree_.n_features, np.asarray(est.tree_.n_classes), est.tree_.n_outputs)
    tree.__setstate__(state)
    est.tree_ = tree
    return forged


def test_a_forged_tree_in_a_skops_file_is_refused(reg, tmp_path):
    """skops trusts sklearn's Tree only when told to; we tell it, then bounds-check every tree's nodes
    before anything predicts (an out-of-range feature or child would read out of bounds)."""
    import pickle

    original = pickle.loads((FIXTURES / "gbc-pickle" / "model.pkl").read_bytes())
    check_trees(original, "original")  # the real model passes
    first_split = int(np.flatnonzero(original.estimators_[0, 0].tree_.children_left != -1)[0])
    for change, problem in (
        ({"feature": (first_split, 4)}, "feature outside 0..3"),
        ({"left_child": (first_split, 10_000)}, "past the last node"),
        ({"right_child": (first_split, first_split)}, "before its parent"),
    ):
        forged = _forged(original, **change)
        with pytest.raises(UnprocessableError, match=problem):
            check_trees(forged, "forged")
        d = _copy(tmp_path / problem.replace(" ", "_"), "gbc-skops")
        _replace_skops_model(d, forged)
        with pytest.raises(UnprocessableError, match="malformed"):
            reg.import_mlflow("churn", str(d))


def test_unknown_serialization_format_is_a_clear_error(reg, tmp_path):
    d = _copy(tmp_path, "logreg-pickle")
    text = (d / "MLmodel").read_text(encoding="utf-8")
    (d / "MLmodel").write_text(
        text.replace("serialization_format: pickle", "serialization_format: safetensors"), encoding="utf-8"
    )
    with pytest.raises(BadRequestError) as err:
        reg.import_mlflow("churn", str(d))
    assert err.value.status == 400 and err.value.code == "unsupported_flavor"
    assert "'safetensors' is not supported (skops, cloudpickle, pickle)" in err.value.message


def test_a_corrupt_skops_file_is_a_clear_error(reg, tmp_path):
    d = _copy(tmp_path, "logreg-skops")
    (d / "model.skops").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BadRequestError, match="not a readable skops file"):
        reg.import_mlflow("churn", str(d))


def test_model_file_outside_the_directory_is_refused(reg, tmp_path):
    d = _copy(tmp_path, "logreg-pickle")
    shutil.copy(d / "model.pkl", tmp_path / "outside.pkl")
    text = (d / "MLmodel").read_text(encoding="utf-8")
    (d / "MLmodel").write_text(
        text.replace("pickled_model: model.pkl", "pickled_model: ../outside.pkl"), encoding="utf-8"
    )
    with pytest.raises(BadRequestError, match="not a file inside the model directory"):
        reg.import_mlflow("churn", str(d))


def test_cli_registers_mlflow_3_default_format(tmp_path, capsys):
    """``mlops models register M --mlflow DIR`` on what ``mlflow.sklearn.save_model`` writes by default
    (skops) — the command issue 18 says was refused."""
    from mlops.cli import main

    store = f"--store={tmp_path / 'store'}"
    code = main(
        [
            "models",
            "register",
            "churn",
            "--mlflow",
            str(FIXTURES / "gbc-skops"),
            store,
            "--as",
            "alice",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    rec = json.loads(out)
    assert rec["version"] == 1 and rec["source"]["serialization_format"] == "skops"
    code = main(
        [
            "models",
            "register",
            "churn",
            "--mlflow",
            str(FIXTURES / "logreg-cloudpickle"),
            store,
            "--as",
            "alice",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err


# ------------------------------------------------------------------------ models:/ URIs on an MLflow file store
@pytest.fixture
def mlruns(tmp_path, monkeypatch) -> Path:
    """A copy of the committed file store (made by mlflow; its storage_location paths no longer exist),
    named by MLFLOW_TRACKING_URI as for mlflow itself."""
    root = tmp_path / "elsewhere" / "mlruns"
    shutil.copytree(FIXTURES / "mlruns", root)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", root.as_uri())
    return root


@pytest.mark.parametrize(
    ("uri", "registered_version", "model_name", "fmt"),
    [
        ("models:/churn/1", 1, "logreg", "skops"),
        ("models:/churn@champion", 1, "logreg", "skops"),
        ("models:/churn/2", 2, "gbc", "pickle"),
        ("models:/churn/latest", 2, "gbc", "pickle"),
    ],
)
def test_models_uri_resolves_in_an_mlflow_file_store(reg, mlruns, uri, registered_version, model_name, fmt):
    rec = reg.import_mlflow("churn", uri)
    src = rec["source"]
    assert src["model_uri"] == uri and src["registered_model"] == "churn"
    assert src["registered_version"] == registered_version and src["serialization_format"] == fmt
    loaded, _ = reg.load_model("churn", rec["version"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        proba = loaded.predict_proba(np.asarray(EXPECTED["rows"]))
    np.testing.assert_allclose(proba, EXPECTED["models"][model_name]["predict_proba"], rtol=0, atol=1e-12)


def test_models_uri_with_a_path_tracking_uri_and_mlflow_2_runs_source(reg, tmp_path, monkeypatch):
    """MLflow 2 wrote a version's source as runs:/<run_id>/<path> (or the run's artifact path) and no
    storage_location; a plain path as MLFLOW_TRACKING_URI works too."""
    root = tmp_path / "mlruns"
    shutil.copytree(FIXTURES / "logreg-pickle", root / "3" / "abc123" / "artifacts" / "model")
    (root / "models" / "legacy" / "version-4").mkdir(parents=True)
    (root / "models" / "legacy" / "meta.yaml").write_text("name: legacy\n", encoding="utf-8")
    (root / "models" / "legacy" / "version-4" / "meta.yaml").write_text(
        "name: legacy\nversion: 4\nrun_id: abc123\nsource: runs:/abc123/model\ncurrent_stage: Production\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(root))
    rec = reg.import_mlflow("legacy", "models:/legacy/4")
    assert rec["source"]["registered_version"] == 4 and rec["source"]["serialization_format"] == "pickle"


@pytest.mark.parametrize(
    ("uri", "error", "match"),
    [
        ("models:/churn/Production", BadRequestError, "stages are not supported"),
        ("models:/churn", BadRequestError, "is not a model URI"),
        ("models:/../churn/1", BadRequestError, "is not a model URI"),
        ("models:/churn/9", NotFoundError, "has no version 9"),
        ("models:/churn@nobody", NotFoundError, "has no alias 'nobody'"),
        ("models:/fraud/1", NotFoundError, "no registered model 'fraud'"),
    ],
)
def test_models_uri_errors_are_clear(reg, mlruns, uri, error, match):
    with pytest.raises(error, match=match):
        reg.import_mlflow("churn", uri)


def test_models_uri_needs_a_file_store(reg, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(BadRequestError, match="MLflow file store"):
        reg.import_mlflow("churn", "models:/churn/1")


def test_cli_registers_a_models_uri(tmp_path, capsys, mlruns):
    from mlops.cli import main

    store = f"--store={tmp_path / 'store'}"
    code = main(
        [
            "models",
            "register",
            "churn",
            "--mlflow",
            "models:/churn@champion",
            store,
            "--as",
            "alice",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["source"]["model_uri"] == "models:/churn@champion"
