"""`mlops settings schema` prints the published stack-file schema; `mlops settings check` names a bad key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "layers" / "mlops" / "settings" / "stack_schema.json"


def _mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_schema_command_prints_the_published_schema(tmp_path):
    r = _mlops("settings", "schema", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(SCHEMA.read_text())
    out = tmp_path / "schema.json"
    assert _mlops("settings", "schema", "-o", str(out), cwd=tmp_path).returncode == 0
    assert out.read_text() == SCHEMA.read_text()


def test_check_accepts_the_repository_stacks():
    for stack in ("local", "dev"):
        r = _mlops("--stack", stack, "settings", "check", cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"Pulumi.{stack}.yaml: valid")


def test_check_names_the_bad_key_in_one_line(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: t\nruntime: python\n")
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  mlops:environment: local\n  mlops:endpoints:\n    - name: churn\n      model: churn\n"
        "      max_batch: 0\n"
    )
    r = _mlops("--stack", "bad", "settings", "check", cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "mlops:endpoints[0].max_batch" in lines[0], r.stderr
