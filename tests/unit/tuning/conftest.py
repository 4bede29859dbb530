"""A small iterative training project (SGD, one ``report`` a pass) and the store its searches run in."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mlops.registry import Registry
from mlops.runs.store import RunStore
from mlops.storage import FileStore

# quality=bad reports 0.0 after every pass (a hopeless trial the median pruner should stop);
# fail_above makes train raise for large alphas (failed trials); sleep slows a trial (the crash test);
# counter_file and interrupt_at raise KeyboardInterrupt in one call (Ctrl-C).
PROJECT = """
PARAMS = {"alpha": 0.001, "epochs": 4, "loss": "hinge", "quality": "good", "fail_above": 10.0, "sleep": 0.0,
          "counter_file": "", "interrupt_at": 0}

def load_data(params):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, random_state=3)
    return {"X_train": X[:160], "y_train": y[:160], "X_holdout": X[160:], "y_holdout": y[160:],
            "feature_names": [f"x{i}" for i in range(6)]}

def train(params, data, report=None):
    import time
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import f1_score
    if params["counter_file"]:  # Ctrl-C during the interrupt_at-th call
        from pathlib import Path
        counter = Path(params["counter_file"])
        calls = int(counter.read_text() or 0) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        if calls == params["interrupt_at"]:
            raise KeyboardInterrupt
    if params["alpha"] > params["fail_above"]:
        raise ValueError("alpha too large")
    time.sleep(params["sleep"])
    model = SGDClassifier(alpha=params["alpha"], loss=params["loss"], random_state=0)
    for epoch in range(params["epochs"]):
        model.partial_fit(data["X_train"], data["y_train"], classes=np.array([0, 1]))
        if report is not None:
            f1 = f1_score(data["y_holdout"], model.predict(data["X_holdout"]))
            report(epoch, f1 if params["quality"] == "good" else 0.0)
    return model
"""

SPACE = """\
# what to search
params:
  alpha: {type: float, low: 1e-5, high: 1.0, log: true}
  loss: {type: categorical, choices: [hinge, log_loss]}
sampler: {type: random, seed: 3}
"""


@pytest.fixture
def project(tmp_path) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "train.py").write_text(PROJECT)
    return d / "train.py"


def write_space(tmp_path: Path, text: str = SPACE, name: str = "space.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.fixture
def space(tmp_path) -> Path:
    return write_space(tmp_path)


@pytest.fixture
def env(tmp_path):
    store = FileStore(tmp_path / "store")
    return Registry(store, actor="ci"), RunStore(store)
