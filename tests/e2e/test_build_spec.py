"""The DevOps build spec, run locally on a clean copy of the checkout: train and gate pass; a worse
candidate fails the build at the validation gate, with the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlops.registry import Registry
from mlops.settings import load_stack
from mlops.storage.stack import open_stack_store

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
STEPS = ["Prepare", "Install", "Train and register", "Validation gate"]


def clean_copy(dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def build(src: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlops.cli", "pipeline", "run", str(src / "pipelines" / "build_spec.yaml"),
           "--workdir", str(src), "--var", f"BUILD_VENV_SEED={sys.prefix}", *extra]
    for step in STEPS:
        cmd += ["--only", step]
    return subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=900)


def test_build_spec_trains_gates_and_refuses_a_worse_candidate(tmp_path):
    src = clean_copy(tmp_path / "src")
    first = build(src)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for step in ("Train and register", "Validation gate"):
        assert any(step in line and "SUCCEEDED" in line for line in first.stdout.splitlines()), first.stdout
    # the build registered v1; a person approves it and it goes to production
    reg = Registry(open_stack_store(load_stack("local", src)), actor="data-scientist")
    reg.request_approval("breast-cancer", 1)
    reg.with_actor("reviewer").decide_approval("breast-cancer", 1, "approve")
    reg.set_alias("breast-cancer", "production", 1)
    worse = build(src, "--var", "TRAIN_PARAMS=n_estimators=2 max_depth=1")
    assert worse.returncode != 0
    out = worse.stdout + worse.stderr
    assert "Validation gate" in out and "worse than production" in out, out[-3000:]
