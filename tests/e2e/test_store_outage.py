"""issue 13 F: the store directory vanishes under a running local stack, requests keep coming, the store
comes back - every prediction record arrives in the real store, nothing was written to a re-created empty
root, the outage was reported once with metrics, and the runtime's files are owner-only."""

from __future__ import annotations

import os
import stat
import time

import pytest
from mlops.local.assemble import LogShippingService, MetricsService, build_runtime
from mlops.local.setup import local_api_key, local_audit_anchor
from mlops.registry import Registry
from mlops.settings import load_stack
from mlops.storage.stack import open_stack_store, stack_store_config

from tests.harness import RuntimeThread, http
from tests.projects import make_project, register_approved, training_data


def wait_for(pred, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def prediction_ids_in(store) -> set[str]:
    import json

    out = set()
    for key in store.list("prediction-logs/churn/"):
        for raw in store.get(key).data.splitlines():
            rec = json.loads(raw)
            if rec.get("kind") == "prediction":
                out.add(rec["prediction_id"])
    return out


@pytest.mark.slow
def test_a_store_outage_under_a_running_stack_loses_nothing(tmp_path):
    project = make_project(
        tmp_path / "project", extra="  mlops:guardian:\n    auto_rollback: false\n    auto_retrain: false\n"
    )
    settings = load_stack("e2e", project)
    key = local_api_key(settings)  # the stack's first-run set-up makes the store
    store = open_stack_store(settings)
    reg = Registry(store, actor="e2e", anchor=local_audit_anchor(settings))
    X, y = training_data()
    v1 = register_approved(reg, X, y)
    reg.deployments().set_stable("churn", "churn", v1, reason="first deploy")
    root = __import__("pathlib").Path(stack_store_config(settings).path)
    aside = tmp_path / "store-aside"
    rt = build_runtime(settings, port=0)
    metrics = next(s for s in rt.services if isinstance(s, MetricsService))
    shipping = next(s for s in rt.services if isinstance(s, LogShippingService))
    unhandled: list = []
    auth = {"Authorization": f"Bearer {key}"}
    with RuntimeThread(rt) as t:
        t.loop.call_soon_threadsafe(t.loop.set_exception_handler, lambda loop, ctx: unhandled.append(ctx))
        url = t.url + "/v1/endpoints/churn/predict"

        def send(n: int, offset: int) -> set[str]:
            ids = set()
            for i in range(n):
                r = http("POST", url, {"instances": [X[(offset + i) % len(X)].tolist()]}, auth)
                assert r.status == 200, r
                ids.add(r.json()["prediction_id"])
            return ids

        before = send(20, 0)
        wait_for(lambda: before <= prediction_ids_in(store), "the first records shipped")
        os.rename(root, aside)  # the outage
        during = send(60, 20)  # workers that hold the model keep serving
        wait_for(lambda: shipping.shipper.store_down is not None, "the shipper noticing the outage")
        during |= send(20, 80)
        wait_for(lambda: shipping.shipper.buffered_bytes > 0, "records buffered on local disk")
        assert not root.exists(), "a writer re-created the store's root during the outage"
        os.rename(aside, root)  # the store returns
        wanted = before | during
        wait_for(lambda: wanted <= prediction_ids_in(store), "every record in the real store", timeout=90)
        wait_for(
            lambda: shipping.shipper.store_down is None and shipping.shipper.buffered_bytes == 0,
            "the spool emptied",
        )
        st = shipping.shipper.status()
        assert st["outages"] == 1 and st["dropped_objects"] == 0, st
        metrics.sink.flush()
        seen = [
            v
            for _, v in metrics.store.query(
                "mlops", "store_unavailable", {"component": "log_shipper"}, start=0, end=time.time() + 60
            )
        ]
        assert 1.0 in seen and seen[-1] == 0.0, seen
        assert http("POST", url, {"instances": [X[0].tolist()]}, auth).status == 200
        # the records of the outage went through the drift function once the store was back
        wait_for(
            lambda: any(k.startswith("drift-state/done/") for k in store.list("drift-state/")),
            "a drift run on a shipped object",
        )
    assert not unhandled, unhandled  # no "Task exception was never retrieved"

    # issue 13 F: prediction logs, the metrics database, function logs, spool and store are owner-only
    checked = 0
    for top in (settings.state_dir, root):
        for dirpath, _dirs, files in os.walk(top):
            assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
            for f in files:
                p = os.path.join(dirpath, f)
                if f.endswith(".sock"):
                    continue
                assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
                checked += 1
    names = {f for _d, _s, fs in os.walk(settings.state_dir) for f in fs}
    assert {"metrics.sqlite", "inference-churn-stable.log"} <= names and checked > 10, names
