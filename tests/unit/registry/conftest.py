"""Fixtures for the registry tests: an injected clock, stores (file, and S3 on a moto server), registries."""

from __future__ import annotations

import numpy as np
import pytest
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.harness import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(tmp_path / "store")


@pytest.fixture
def reg(store, clock) -> Registry:
    return Registry(store, clock=clock, actor="alice")


@pytest.fixture
def training():
    """A small seeded classification problem: (X, y, feature names, fitted model)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    return X, y, ["age", "income", "tenure"], model


def approve(reg: Registry, model: str, version: int, approver: str = "bob") -> None:
    """Request (as ``reg``'s actor) and approve (as ``approver``) a version."""
    reg.request_approval(model, version, comment="please review")
    reg.with_actor(approver).decide_approval(model, version, "approve", comment="looks good")
