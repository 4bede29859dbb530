"""Governance: required metadata, approval requests and decisions, governed aliases, alias history queries."""

from __future__ import annotations

import pytest
from mlops.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidNameError,
    NotFoundError,
    UnprocessableError,
)

from tests.unit.registry.conftest import approve


def test_required_metadata_is_enforced_per_model(reg, training):
    X, y, names, model = training
    reg.create_model("strict", required_metadata=["code_commit", "metrics.auc", "tags.owner", "description"])
    with pytest.raises(UnprocessableError) as e:
        reg.register_version("strict", model, X, y, metrics={"f1": 0.5})
    assert e.value.details["missing"] == ["code_commit", "metrics.auc", "tags.owner", "description"]
    assert "code_commit" in e.value.message
    assert reg.version_numbers("strict") == []  # refused before anything was written
    rec = reg.register_version(
        "strict",
        model,
        X,
        y,
        metrics={"auc": 0.8},
        code_commit="deadbeef",
        tags={"owner": "ml-team"},
        description="ok",
    )
    assert rec["version"] == 1
    # relaxing or tightening is a recorded change
    reg.update_model("strict", required_metadata=["training_data"])
    assert reg.get_model("strict")["required_metadata"] == ["training_data"]
    assert reg.audit.history(limit=1)[0]["action"] == "model.update"


@pytest.mark.parametrize("spec", [["nonsense"], ["params."], "code_commit", [1]])
def test_bad_required_metadata_specs_are_400(reg, spec):
    with pytest.raises(BadRequestError):
        reg.create_model("m", required_metadata=spec)


def test_approval_workflow(reg, clock, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y)
    bob = reg.with_actor("bob")
    assert reg.get_approval("churn", 1)["state"] == "none"
    with pytest.raises(ConflictError) as e:
        bob.decide_approval("churn", 1, "approve")
    assert e.value.code == "no_pending_request"
    clock.tick()
    reg.request_approval("churn", 1, comment="ready for prod")
    with pytest.raises(ConflictError):
        reg.request_approval("churn", 1)
    with pytest.raises(ForbiddenError) as e:
        reg.decide_approval("churn", 1, "approve")  # alice registered it
    assert e.value.code == "self_approval"
    with pytest.raises(BadRequestError):
        bob.decide_approval("churn", 1, "maybe")
    clock.tick()
    bob.decide_approval("churn", 1, "reject", comment="AUC too low on segment B")
    assert not reg.is_approved("churn", 1)
    reg.request_approval("churn", 1, comment="fixed")
    clock.tick()
    doc = reg.with_actor("carol").decide_approval("churn", 1, "approve", comment="lgtm")
    assert doc["state"] == "approved" and reg.is_approved("churn", 1)
    assert [(h["event"], h["by"], h["comment"]) for h in doc["history"]] == [
        ("request", "alice", "ready for prod"),
        ("reject", "bob", "AUC too low on segment B"),
        ("request", "alice", "fixed"),
        ("approve", "carol", "lgtm"),
    ]
    assert doc["history"][1]["at"] == "2026-09-21T14:13:22.000Z"
    with pytest.raises(ConflictError):
        reg.request_approval("churn", 1)  # already approved
    actions = [e["action"] for e in reg.audit.history(subject="model:churn", action="approval.")]
    assert actions == ["approval.approve", "approval.request", "approval.reject", "approval.request"]


def test_approval_of_unknown_version_is_404(reg, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y)
    with pytest.raises(NotFoundError):
        reg.request_approval("churn", 9)
    with pytest.raises(NotFoundError):
        reg.with_actor("bob").decide_approval("churn", 9, "approve")


def test_governed_alias_moves_only_to_approved_versions(reg, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y)
    reg.register_version("churn", model, X, y)
    with pytest.raises(ForbiddenError) as e:
        reg.set_alias("churn", "production", 1)
    assert e.value.code == "approval_required" and "not approved" in e.value.message
    reg.set_alias("churn", "staging", 2)  # not governed
    approve(reg, "churn", 1)
    reg.set_alias("churn", "production", 1)
    assert reg.alias_version("churn", "production") == 1
    assert reg.resolve_alias("churn", "production")["version"] == 1
    reg.request_approval("churn", 2)
    with pytest.raises(ForbiddenError):
        reg.set_alias("churn", "production", 2)  # pending is not approved
    assert reg.alias_version("churn", "production") == 1


def test_custom_governed_aliases(reg, training):
    X, y, names, model = training
    reg.create_model("m", governed_aliases=["prod", "eu-prod"])
    reg.register_version("m", model, X, y)
    reg.set_alias("m", "production", 1)  # not governed for this model
    with pytest.raises(ForbiddenError):
        reg.set_alias("m", "eu-prod", 1)


def test_conditional_alias_moves_and_deletes(reg, training):
    X, y, names, model = training
    for _ in range(3):
        reg.register_version("m", model, X, y)
    reg.set_alias("m", "champion", 1, expected_version=None)
    with pytest.raises(ConflictError) as e:
        reg.set_alias("m", "champion", 2, expected_version=None)
    assert e.value.code == "alias_moved"
    reg.set_alias("m", "champion", 2, expected_version=1)
    with pytest.raises(ConflictError):
        reg.set_alias("m", "champion", 3, expected_version=1)
    with pytest.raises(ConflictError):
        reg.delete_alias("m", "champion", expected_version=1)
    reg.delete_alias("m", "champion", expected_version=2, reason="retired")
    with pytest.raises(NotFoundError):
        reg.alias_version("m", "champion")
    with pytest.raises(NotFoundError):
        reg.delete_alias("m", "champion")
    with pytest.raises(NotFoundError):
        reg.set_alias("m", "champion", 9)
    with pytest.raises(BadRequestError):
        reg.set_alias("m", "latest", 1)
    with pytest.raises(InvalidNameError):
        reg.set_alias("m", "../x", 1)


def test_setting_an_alias_to_where_it_points_records_nothing(reg, training):
    X, y, names, model = training
    reg.register_version("m", model, X, y)
    reg.set_alias("m", "a", 1)
    n = reg.audit.last_seq()
    reg.set_alias("m", "a", 1)
    assert reg.audit.last_seq() == n


def test_which_version_an_alias_pointed_to_at_a_time(reg, clock, training):
    X, y, names, model = training
    for _ in range(3):
        reg.register_version("m", model, X, y)
    t0 = clock()
    clock.tick(60)
    reg.set_alias("m", "staging", 1)
    t1 = clock()
    clock.tick(60)
    reg.set_alias("m", "staging", 3)
    t2 = clock()
    clock.tick(60)
    reg.delete_alias("m", "staging")
    t3 = clock()
    assert reg.audit.alias_at("m", "staging", t0)["version"] is None
    assert reg.audit.alias_at("m", "staging", t1)["version"] == 1
    assert reg.audit.alias_at("m", "staging", t1 + 30)["version"] == 1
    at2 = reg.audit.alias_at("m", "staging", t2 + 59)
    assert at2["version"] == 3 and at2["actor"] == "alice" and at2["since"] == "2026-09-21T14:15:20.000Z"
    assert reg.audit.alias_at("m", "staging", t3)["version"] is None
    assert reg.audit.alias_at("m", "staging", "2026-09-21T14:14:50Z")["version"] == 1
    with pytest.raises(BadRequestError):
        reg.audit.alias_at("m", "staging", "yesterday")


def test_alias_at_uses_commit_order_when_appends_were_reordered(store, clock, training):
    """Writer A commits its move first but appends its audit entry after writer B's later move:
    the query still answers B's version (the record generation orders the entries)."""
    import threading

    from mlops.registry import Registry

    X, y, names, model = training
    base = Registry(store, clock=clock, actor="alice")
    base.register_version("m", model, X, y)
    base.register_version("m", model, X, y)
    committed, release = threading.Event(), threading.Event()

    class SlowAuditor(Registry):
        def _audit(self, action, subject, details):
            committed.set()
            assert release.wait(30)
            return super()._audit(action, subject, details)

    slow = SlowAuditor(store, clock=clock, actor="slow", audit=base.audit)
    t = threading.Thread(target=lambda: slow.set_alias("m", "staging", 1))
    t.start()
    assert committed.wait(30)  # A's move (-> v1) is in the record; its entry is not yet appended
    clock.tick()
    base.set_alias("m", "staging", 2)  # B moves it on (-> v2) and appends first
    clock.tick()
    release.set()
    t.join(30)
    seqs = {e["details"]["version"]: e["seq"] for e in base.audit.entries() if e["action"] == "alias.set"}
    assert seqs[1] > seqs[2]  # appended out of commit order
    assert base.alias_version("m", "staging") == 2
    assert base.audit.alias_at("m", "staging", clock() + 1)["version"] == 2


def test_history_filters(reg, clock, training):
    X, y, names, model = training
    reg.register_version("a", model, X, y)
    clock.tick(10)
    reg.register_version("b", model, X, y)
    assert [e["subject"] for e in reg.audit.history(subject="model:a")] == ["model:a", "model:a"]
    assert [e["action"] for e in reg.audit.history(action="version.register")] == ["version.register"] * 2
    assert [e["seq"] for e in reg.audit.history(limit=2)] == [4, 3]
    assert [e["seq"] for e in reg.audit.history(before_seq=3)] == [2, 1]
    assert [e["subject"] for e in reg.audit.history(since=clock() - 1)] == ["model:b", "model:b"]
