"""Throwaway projects for the tiers that run the whole local runtime (e2e, fuzz): a stack file using this
checkout's functions, seeded training data, and an approved model version."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
from mlops.registry import Registry
from sklearn.ensemble import GradientBoostingClassifier

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def make_project(tmp: Path, *, extra: str = "") -> Path:
    """A project directory using this checkout's functions, with stack ``e2e`` on a free port."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    os.symlink(ROOT / "functions", tmp / "functions")
    (tmp / "Pulumi.e2e.yaml").write_text(
        textwrap.dedent("""\
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
        """)
        + extra
    )
    return tmp


def training_data(seed: int = 0, n: int = 2000, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)) + shift
    y = ((X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + rng.normal(scale=0.5, size=n)) > 0).astype(int)
    return X, y


def register_approved(
    reg: Registry, X, y, *, n_estimators: int = 20, seed: int = 0, flip: bool = False
) -> int:
    target = 1 - y if flip else y
    model = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, random_state=seed).fit(
        X, target
    )
    v = reg.register_version(
        "churn",
        model,
        X,
        target,
        feature_names=FEATURES,
        params={"n_estimators": n_estimators},
        metrics={"train_accuracy": float((model.predict(X) == target).mean())},
    )["version"]
    reg.request_approval("churn", v)
    reg.with_actor("approver").decide_approval("churn", v, "approve", comment="e2e")
    return v
