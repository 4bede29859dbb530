"""End-to-end fixtures: a throwaway project with a stack file, trained models, the whole local runtime."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mlops.local.assemble import build_runtime
from mlops.local.setup import local_api_key, local_audit_anchor
from mlops.registry import Registry
from mlops.settings import load_stack
from sklearn.ensemble import GradientBoostingClassifier

from tests.harness import RuntimeThread

ROOT = Path(__file__).resolve().parents[2]
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def make_project(tmp: Path, *, extra: str = "") -> Path:
    """A project directory using this checkout's functions, with stack ``e2e`` on a free port."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    os.symlink(ROOT / "functions", tmp / "functions")
    (tmp / "Pulumi.e2e.yaml").write_text(textwrap.dedent("""\
        config:
          mlops:environment: local
          mlops:endpoints:
            - name: churn
              model: churn
              feature_sample_rate: 1.0
              model_refresh_s: 0.5
              shadow: true
          mlops:store:
            backend: file
            path: .mlops/store
          mlops:gateway:
            auth_cache_ttl_s: 1
            rate_limit:
              requests_per_second: 100000
              key: TOTAL
          mlops:functions:
            pool_size: 2
          mlops:auth:
            weight_cache_ttl_s: 0.3
          mlops:log_shipping:
            max_bytes: 100000
            max_age_s: 1
          mlops:monitoring:
            evaluation_interval_s: 1
          mlops:local:
            port: 0
            state_dir: .mlops/state
            secrets_file: .mlops/secrets.json
        """) + extra)
    return tmp


def training_data(seed: int = 0, n: int = 2000, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)) + shift
    y = ((X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + rng.normal(scale=0.5, size=n)) > 0).astype(int)
    return X, y


def register_approved(reg: Registry, X, y, *, n_estimators: int = 20, seed: int = 0, flip: bool = False) -> int:
    target = 1 - y if flip else y
    model = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, random_state=seed).fit(X, target)
    v = reg.register_version("churn", model, X, target, feature_names=FEATURES, params={"n_estimators": n_estimators},
                             metrics={"train_accuracy": float((model.predict(X) == target).mean())})["version"]
    reg.request_approval("churn", v)
    reg.with_actor("approver").decide_approval("churn", v, "approve", comment="e2e")
    return v


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The running e2e stack: settings, registry (v1 stable, v2 approved), runtime, dev key."""
    # the guardian stays out of the way here: these tests move traffic by hand (and send one row
    # over and over, which the drift function rightly calls drift)
    project = make_project(tmp_path_factory.mktemp("e2e") / "project",
                           extra="  mlops:guardian:\n    auto_rollback: false\n    auto_retrain: false\n")
    settings = load_stack("e2e", project)
    key = local_api_key(settings)
    from mlops.local.assemble import open_stack_store

    store = open_stack_store(settings)
    reg = Registry(store, actor="e2e", anchor=local_audit_anchor(settings))   # signs the audit log like the stack
    X, y = training_data()
    v1 = register_approved(reg, X, y)
    v2 = register_approved(reg, X, y, n_estimators=30, seed=1)
    reg.deployments().set_stable("churn", "churn", v1, reason="first deploy")
    rt = build_runtime(settings, port=0)
    with RuntimeThread(rt) as thread:
        yield {"settings": settings, "registry": reg, "store": store, "rt": rt, "thread": thread,
               "url": thread.url, "key": key, "v1": v1, "v2": v2, "X": X, "y": y}
