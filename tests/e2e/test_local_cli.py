"""`mlops local up|status|logs|down` and `mlops invoke` as a user runs them: real processes, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlops.local.assemble import open_stack_store
from mlops.local.setup import local_api_key
from mlops.registry import Registry
from mlops.settings import load_stack

from tests.harness import http
from tests.projects import make_project, register_approved, training_data

pytestmark = pytest.mark.e2e


def mlops(project: Path, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlops.cli", "--stack", "e2e", "--project-dir", str(project), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=project)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def _processes_in_group(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d.name))
    return out


@pytest.mark.slow
def test_up_request_status_invoke_logs_down(tmp_path):
    project = make_project(tmp_path / "project")
    settings = load_stack("e2e", project)
    local_api_key(settings)  # the stack's first-run set-up makes its store (issue 13 F)
    reg = Registry(open_stack_store(settings), actor="e2e")
    X, y = training_data()
    v1 = register_approved(reg, X, y)
    reg.deployments().set_stable("churn", "churn", v1)

    up = mlops(project, "local", "up")
    assert "is up at http://127.0.0.1:" in up.stdout
    state = json.loads((settings.state_dir / "runtime.json").read_text())
    try:
        key = local_api_key(settings)
        url = state["url"] + "/v1/endpoints/churn/predict"
        body = {"instances": [X[0].tolist()]}
        r = http("POST", url, body, {"Authorization": f"Bearer {key}"})
        assert r.status == 200 and r.json()["variant"] == "stable" and r.json()["version"] == v1
        # a caller with the pin scope reaches the canary function on its pinned route (issue 13 G),
        # which has no version to serve yet and says so
        r = http(
            "POST",
            state["url"] + "/v1/endpoints/churn/variants/canary/predict",
            body,
            {"Authorization": f"Bearer {key}"},
        )
        assert r.status == 503 and "(canary)" in r.json()["error"]["message"]
        assert http("POST", url, body, {}).status == 401
        # the registry API through the same gateway: identity comes from the authorizer, not the client
        models = http("GET", state["url"] + "/v1/models", None, {"Authorization": f"Bearer {key}"})
        assert models.status == 200 and "churn" in json.dumps(models.json())
        dep = http(
            "GET", state["url"] + "/v1/endpoints/churn/deployment", None, {"Authorization": f"Bearer {key}"}
        )
        assert dep.status == 200 and dep.json()["stable_version"] == v1
        assert http("GET", state["url"] + "/v1/health").status == 200

        st = json.loads(mlops(project, "local", "status", "--json").stdout)
        assert st["running"] and {p["function"] for p in st["pools"]} >= {
            "inference-churn-stable",
            "inference-churn-canary",
            "authorizer",
            "registry",
            "drift",
            "guardian",
        }
        inv = mlops(project, "invoke", "inference-churn-stable", "--data", json.dumps(body))
        assert json.loads(inv.stdout)["version"] == v1
        refused = mlops(
            project, "invoke", "inference-churn-stable", "--data", '{"instances": [[1, 2]]}', check=False
        )
        assert refused.returncode == 1 and '"wrong_width"' in refused.stdout
        bad = mlops(project, "invoke", "nope", "--data", "{}", check=False)
        assert bad.returncode != 0 and "no function 'nope'" in bad.stderr and "Traceback" not in bad.stderr
        # the record line travels the worker's pipe after the response: wait for it, generously
        deadline = time.monotonic() + 60
        logs = ""
        while '"kind":"prediction"' not in logs and time.monotonic() < deadline:
            logs = mlops(project, "local", "logs", "inference-churn-stable", "-n", "200").stdout
            if '"kind":"prediction"' not in logs:
                time.sleep(0.5)
        assert '"kind":"prediction"' in logs
    finally:
        down = mlops(project, "local", "down")
    assert "stopped" in down.stdout
    # every invocation was counted in the local oci_faas twin (flushed on the way down)
    from mlops.monitoring.sqlite import SqliteMetrics

    store = SqliteMetrics(settings.state_dir / "metrics.sqlite")
    calls = store.query(
        "oci_faas", "FunctionInvocationCount", {"resourceId": "local:fn:inference-churn-stable"}
    )
    durations = store.query("oci_faas", "FunctionExecutionDuration", {"resourceId": "local:fn:authorizer"})
    assert len(calls) >= 2 and durations and all(ms > 0 for _, ms in durations)
    store.close()
    assert _processes_in_group(state["pgid"]) == []
    assert not os.path.exists(state["socket_dir"])
    assert not (settings.state_dir / "runtime.json").exists()
    assert "not running" in mlops(project, "local", "status", check=False).stdout


def test_up_with_a_broken_stack_file_is_one_line_and_nonzero(tmp_path):
    project = make_project(tmp_path / "project", extra="  mlops:gateway2: {}\n")
    r = mlops(project, "local", "up", check=False)
    assert r.returncode != 0
    assert "mlops:gateway2: unknown setting" in r.stderr and "Traceback" not in r.stderr
