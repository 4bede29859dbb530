"""The fuzz tier's fixtures: one real local stack (gateway, authorizer, registry and inference functions as real
fdk processes) with a deployed model, and a project with bad files for the CLI."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from mlops.local.assemble import build_runtime, open_stack_store
from mlops.local.setup import local_api_key, local_audit_anchor
from mlops.registry import Registry
from mlops.settings import load_stack

from tests.harness import RuntimeThread
from tests.projects import make_project, register_approved, training_data


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory):
    """The running stack: v1 stable and approved on endpoint churn; the dev key has every scope."""
    project = make_project(
        tmp_path_factory.mktemp("fuzz") / "project",
        extra="  mlops:guardian:\n    auto_rollback: false\n    auto_retrain: false\n",
    )
    settings = load_stack("e2e", project)
    key = local_api_key(settings)
    store = open_stack_store(settings)
    reg = Registry(store, actor="fuzz", anchor=local_audit_anchor(settings))
    X, y = training_data(n=300)
    v1 = register_approved(reg, X, y, n_estimators=5)
    reg.deployments().set_stable("churn", "churn", v1, reason="first deploy")
    rt = build_runtime(settings, port=0)
    with RuntimeThread(rt) as thread:
        # what `mlops local up` writes, so `mlops invoke` reaches this runtime's admin socket
        (settings.state_dir / "runtime.json").write_text(json.dumps(rt.state()))
        try:
            yield {
                "project": project,
                "settings": settings,
                "registry": reg,
                "store": store,
                "url": thread.url,
                "key": key,
                "v1": v1,
                "X": X,
                "y": y,
            }
        finally:
            (settings.state_dir / "runtime.json").unlink(missing_ok=True)


def make_bad_files(d) -> None:
    """The files the CLI fuzz passes as --artifact / --data / specs (names in ``cases.BAD_FILES``)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty.joblib").write_bytes(b"")
    (d / "garbage.joblib").write_bytes(b"\x80\x04" + os.urandom(200))
    (d / "text.joblib").write_text("this is not a model\n")
    (d / "dict.joblib").write_bytes(pickle.dumps({"not": "a model"}))
    target = d / "dict.joblib"
    if not (d / "link.joblib").exists():
        os.symlink(target, d / "link.joblib")
    (d / "garbage.npy").write_bytes(b"\x93NUMPY" + os.urandom(100))
    (d / "text.npy").write_text("1,2,3\n")
    (d / "empty.csv").write_bytes(b"")
    (d / "latin1.csv").write_bytes("a,b\n\xe9,1\n".encode("latin-1"))
    (d / "garbage.csv").write_bytes(b"a,b\n1\n" + os.urandom(64))
    (d / "dir").mkdir(exist_ok=True)
    (d / "garbage.parquet").write_bytes(b"PAR1" + os.urandom(64))
    (d / "deep.json").write_text("[" * 5000 + "]" * 5000)
    (d / "garbage.yaml").write_text("key: [unclosed\n\t- x: {")
    np.save(d / "good.npy", np.random.default_rng(0).normal(size=(50, 3)))
