"""The README's main job, as CI runs it: the whole lifecycle in one command, pointing at real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quickstart_runs_the_whole_lifecycle(tmp_path):
    run_dir = tmp_path / "qs"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops.cli",
            "quickstart",
            "--dir",
            str(run_dir),
            "--callers",
            "120",
            "--requests",
            "900",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "[17/17]" in out and "FAILED" not in out
    for step in (
        "train v1",
        "approve v1",
        "canary v2 at 10%",
        "inject drift",
        "alarm fires",
        "guardian rolls the canary back",
        "audit trail verified",
    ):
        assert step in out
    # the summary points at real files
    summary = out.split("\nDone.", 1)[1]
    paths = re.findall(r"^\s+(?:drift report|model card|notifications)\s+(\S+)", summary, re.M)
    assert len(paths) >= 4
    for p in paths:
        assert Path(p).is_file(), p
    report = next(p for p in paths if p.endswith(".html") and "/reports/drift/" in p)
    html = Path(report).read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html
    card = next(p for p in paths if "/model-cards/" in p)
    assert "approved" in Path(card).read_text()
    notes = [
        json.loads(line)
        for line in Path(next(p for p in paths if p.endswith(".ndjson"))).read_text().splitlines()
    ]
    assert any((n.get("body") or {}).get("type") == "OK_TO_FIRING" for n in notes)
    assert any(
        (n.get("body") or {}).get("kind") == "action" and "rolled back" in n["body"]["what"] for n in notes
    )
    # nothing left running
    assert not list(run_dir.rglob("runtime.json"))
