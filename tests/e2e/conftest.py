"""End-to-end fixtures: the whole local runtime over a throwaway project (tests/projects.py)."""

from __future__ import annotations

import pytest
from mlops.local.assemble import build_runtime
from mlops.local.setup import local_api_key, local_audit_anchor
from mlops.registry import Registry
from mlops.settings import load_stack

from tests.harness import RuntimeThread
from tests.projects import make_project, register_approved, training_data


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The running e2e stack: settings, registry (v1 stable, v2 approved), runtime, dev key."""
    # the guardian stays out of the way here: these tests move traffic by hand (and send one row
    # over and over, which the drift function rightly calls drift)
    project = make_project(
        tmp_path_factory.mktemp("e2e") / "project",
        extra="  mlops:guardian:\n    auto_rollback: false\n    auto_retrain: false\n",
    )
    settings = load_stack("e2e", project)
    key = local_api_key(settings)
    from mlops.local.assemble import open_stack_store

    store = open_stack_store(settings)
    reg = Registry(
        store, actor="e2e", anchor=local_audit_anchor(settings)
    )  # signs the audit log like the stack
    X, y = training_data()
    v1 = register_approved(reg, X, y)
    v2 = register_approved(reg, X, y, n_estimators=30, seed=1)
    reg.deployments().set_stable("churn", "churn", v1, reason="first deploy")
    rt = build_runtime(settings, port=0)
    with RuntimeThread(rt) as thread:
        yield {
            "settings": settings,
            "registry": reg,
            "store": store,
            "rt": rt,
            "thread": thread,
            "url": thread.url,
            "key": key,
            "v1": v1,
            "v2": v2,
            "X": X,
            "y": y,
        }
