"""A/B end to end: a canary with better accuracy is promoted by the guardian, and the audit log says why."""

from __future__ import annotations

import concurrent.futures
import http.client as httpclient
import json
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from mlops.local.assemble import build_runtime, open_stack_store
from mlops.local.setup import add_api_keys, local_api_key, local_audit_anchor
from mlops.registry import Registry
from mlops.settings import load_stack

from tests.harness import RuntimeThread
from tests.projects import make_project, register_approved, training_data

pytestmark = pytest.mark.e2e


@pytest.mark.slow
def test_better_canary_is_promoted_after_enough_feedback(tmp_path):
    project = make_project(tmp_path / "project", extra="  mlops:guardian:\n    ab_auto_promote: true\n")
    settings = load_stack("e2e", project)
    local_api_key(settings)
    reg = Registry(open_stack_store(settings), actor="e2e", anchor=local_audit_anchor(settings))
    X, y = training_data(n=3000)
    weak = register_approved(reg, X, y, n_estimators=1)  # one shallow tree: clearly worse
    strong = register_approved(reg, X, y, n_estimators=60, seed=1)
    reg.deployments().set_stable("churn", "churn", weak, reason="baseline")
    reg.deployments().start_canary("churn", strong, 3000, reason="A/B: strong candidate at 30%")
    tokens = add_api_keys(settings, [(f"caller-{i:04d}", ["mlops:predict"]) for i in range(400)])
    rt = build_runtime(settings, port=0)
    url = urlsplit("http://x")
    with RuntimeThread(rt) as thread:
        url = urlsplit(thread.url)
        rng = np.random.default_rng(3)

        def caller(chunk):
            conn = httpclient.HTTPConnection(url.hostname, url.port, timeout=30)
            try:
                for i in chunk:
                    row = int(rng.integers(0, len(X)))
                    auth = {
                        "Authorization": f"Bearer {tokens[i % len(tokens)]}",
                        "Content-Type": "application/json",
                    }
                    conn.request(
                        "POST",
                        "/v1/endpoints/churn/predict",
                        body=json.dumps({"instances": [X[row].tolist()]}),
                        headers=auth,
                    )
                    r = conn.getresponse()
                    out = json.loads(r.read())
                    if r.status != 200:
                        continue
                    conn.request(
                        "POST",
                        "/v1/endpoints/churn/feedback",
                        headers=auth,
                        body=json.dumps({"prediction_id": out["prediction_id"], "actual": int(y[row])}),
                    )
                    conn.getresponse().read()
            finally:
                conn.close()

        promoted = None
        deadline = time.monotonic() + 240
        sent = 0
        while time.monotonic() < deadline and sent < 20_000:
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                list(ex.map(caller, [range(sent + k, sent + 800, 8) for k in range(8)]))
            sent += 800
            dep = reg.deployments().get("churn")
            if dep["stable_version"] == strong and not dep.get("canary_version"):
                promoted = dep
                break
        assert promoted, f"not promoted after {sent} requests: {reg.deployments().get('churn')}"
    entry = reg.audit.history(subject="endpoint:churn", action="deployment.promote", limit=1)[0]
    assert entry["actor"] == "guardian"
    reason = entry["details"]["reason"]
    assert "canary" in reason and "beats stable" in reason and "CI" in reason, reason
    assert reg.resolve_alias("churn", "production")["version"] == strong
