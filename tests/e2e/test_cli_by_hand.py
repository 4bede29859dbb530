"""The README's by-hand walkthrough, command for command, through the real CLI (`mlops.cli.main`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlops.cli import main
from mlops.serving.apikeys import KeyRing

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.local.yaml", tmp_path / "Pulumi.local.yaml")
    shutil.copytree(ROOT / "pipelines" / "train", tmp_path / "pipelines" / "train")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_ACTOR", "data-scientist")
    monkeypatch.delenv("MLOPS_STORE_BACKEND", raising=False)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_walkthrough(project, capsys):
    assert run(capsys, "train", "pipelines/train/train.py", "--model", "breast-cancer")[0] == 0
    assert run(capsys, "models", "request-approval", "breast-cancer", "1")[0] == 0
    code, _, err = run(capsys, "models", "approve", "breast-cancer", "1")  # the registrant may not
    assert code != 0 and "approve" in err and "Traceback" not in err
    assert run(capsys, "models", "approve", "--as", "reviewer", "breast-cancer", "1")[0] == 0
    code, out, _ = run(capsys, "deploy", "stable", "diagnosis", "--version", "1", "--json")
    assert code == 0 and json.loads(out)["stable_version"] == 1

    code, token, _ = run(capsys, "keys", "new", "my-app", "--scope", "mlops:predict")
    secrets = json.loads((project / ".mlops" / "secrets.json").read_text())
    ring = KeyRing.from_json(secrets["mlops-api-keys"])
    assert code == 0 and ring.verify(f"Bearer {token.strip()}").principal == "my-app"
    assert token.strip() not in (project / ".mlops" / "secrets.json").read_text()  # only its hash is kept

    assert (
        run(
            capsys,
            "train",
            "pipelines/train/train.py",
            "--model",
            "breast-cancer",
            "--param",
            "n_estimators=50",
        )[0]
        == 0
    )
    assert run(capsys, "models", "request-approval", "breast-cancer", "2")[0] == 0
    assert run(capsys, "models", "approve", "--as", "reviewer", "breast-cancer", "2")[0] == 0
    code, out, _ = run(capsys, "deploy", "canary", "diagnosis", "--version", "2", "--weight", "10", "--json")
    assert code == 0 and json.loads(out)["canary_weight_bp"] == 1000
    code, out, _ = run(capsys, "deploy", "rollback", "diagnosis", "--json")
    assert code == 0 and json.loads(out)["canary_version"] is None
    code, _, err = run(capsys, "deploy", "promote", "diagnosis")  # nothing to promote now
    assert code != 0 and "Traceback" not in err
    code, out, _ = run(capsys, "deploy", "history", "diagnosis")
    assert code == 0 and "deployment.rollback" in out and "deployment.start_canary" in out
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "intact" in out
