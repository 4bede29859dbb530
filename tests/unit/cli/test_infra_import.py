"""`mlops infra plan` imports the Pulumi program's package (`mlops_infra`) as an installed package, from anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_program_package_is_importable_without_touching_sys_path(tmp_path):
    code = "import mlops_infra.preview, mlops_infra.stack; print(mlops_infra.__file__)"
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve().is_relative_to(ROOT / "infra" / "mlops_infra")


def test_the_cli_never_edits_sys_path():
    for path in (ROOT / "layers" / "mlops" / "cli").glob("*.py"):
        assert "sys.path" not in path.read_text(), path
