"""The guardian on real alarm messages (OCI's shape, made by the monitoring formatter) and a real registry."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from mlops.errors import BadRequestError
from mlops.guardian import Guardian, StoreRetrainer
from mlops.monitoring.defaults import default_rules
from mlops.monitoring.evaluator import FIRING, OK, AlarmEvent
from mlops.monitoring.notify import Notifier, format_action_message, format_alarm_message
from mlops.registry import Registry
from mlops.storage import FileStore
from sklearn.linear_model import LogisticRegression


class ListNotifier(Notifier):
    def __init__(self):
        self.messages = []

    def publish(self, title, body):
        self.messages.append((title, body))


@pytest.fixture
def world(tmp_path):
    store = FileStore(str(tmp_path / "store"))
    reg = Registry(store, actor="alice")
    X = np.random.default_rng(0).normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    versions = []
    for c in (1.0, 0.1):
        v = reg.register_version("m", LogisticRegression(C=c).fit(X, y), X, y, feature_names=["a", "b", "c"])[
            "version"
        ]
        reg.request_approval("m", v)
        reg.with_actor("bob").decide_approval("m", v, "approve")
        versions.append(v)
    reg.deployments().set_stable("ep", "m", versions[0])
    reg.deployments().start_canary("ep", versions[1], 1000)
    notes = ListNotifier()
    g = Guardian(Registry(store, actor="guardian"), notes, StoreRetrainer(store))
    return store, reg, g, notes


def alarm(kind_prefix: str, status=FIRING, dims=None) -> dict:
    rule = next(
        r
        for r in default_rules(["ep"], ["inference-ep-stable", "inference-ep-canary"])
        if r.name.startswith(kind_prefix)
    )
    event = AlarmEvent(rule, status, 3.0, rule.threshold, dims or {"endpoint": "ep"}, time.time(), "test")
    return format_alarm_message(event)[1]


def test_a_firing_canary_alarm_rolls_the_canary_back_once(world):
    store, reg, g, notes = world
    out = g.handle(json.dumps(alarm("canary-errors")).encode())
    assert out["actions"][0]["result"] == "done"
    dep = reg.deployments().get("ep")
    assert dep["canary_version"] is None and dep["canary_weight_bp"] == 0 and dep["updated_by"] == "guardian"
    assert "rolled back canary" in notes.messages[-1][1]["what"]
    n_audit = reg.audit.last_seq()
    again = g.handle(alarm("canary-errors", "REPEAT"))
    assert again["actions"][0]["result"] == "no canary to roll back"
    assert reg.audit.last_seq() == n_audit  # idempotent: nothing appended


def test_an_alarm_clearing_changes_nothing(world):
    _, reg, g, _ = world
    assert g.handle(alarm("canary-errors", OK))["actions"] == []
    assert reg.deployments().get("ep")["canary_version"] is not None


def test_a_drift_alarm_requests_retraining_and_pauses_the_canary(world):
    store, reg, g, notes = world
    out = g.handle(alarm("drift", dims={"endpoint": "ep", "model": "m", "version": "1"}))
    kinds = [a["action"] for a in out["actions"]]
    assert kinds == ["rollback", "retrain"]
    (key,) = list(store.list("retrain-requests/ep/"))
    req = json.loads(store.get(key).data)
    assert req["model"] == "m" and req["status"] == "requested" and "drifted" in req["reason"]
    assert reg.audit.history(action="retrain.requested", limit=1)[0]["actor"] == "guardian"


def test_own_notices_are_ignored_and_junk_is_a_400(world):
    _, _, g, _ = world
    _, body = format_action_message("rolled back", endpoint="ep")
    assert g.handle(json.dumps(body).encode())["actions"] == []
    with pytest.raises(BadRequestError):
        g.handle(b"not json")
    with pytest.raises(BadRequestError):
        g.handle(b'{"hello": "world"}')


def test_object_created_events_go_to_the_ab_check(world):
    _, _, g, _ = world
    seen = []
    g.ab_check = lambda endpoint: seen.append(endpoint) or {"action": "none"}
    ev = {
        "eventType": "com.oraclecloud.objectstorage.createobject",
        "data": {"resourceName": "prediction-logs/ep/2026/11/22/x.ndjson"},
    }
    assert g.handle(json.dumps(ev).encode())["actions"] == [{"action": "none"}]
    assert seen == ["ep"]


def test_model_card_from_registry_facts(world):
    from mlops.cards import card_facts, render_html, render_markdown, write_card

    store, reg, _, _ = world
    md = render_markdown(card_facts(reg, "m", 1, endpoint="ep"))
    for fact in (
        "# Model card: m v1",
        "State: **approved**",
        "approve by bob",
        "Training data digest",
        "## Feature importances",
        "## Drift baseline",
        "Endpoint `ep`: stable v1",
    ):
        assert fact in md, fact
    page = render_html(card_facts(reg, "m", 1))
    assert "<code>" in page and "`" not in page and "http://" not in page and "https://" not in page
    keys = write_card(reg, "m", 1)
    assert store.get(keys["html"]).data.startswith(b"<!doctype html>")
