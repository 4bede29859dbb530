"""Deployment state per endpoint: governed stable, canary weights, promote, idempotent rollback, history."""

from __future__ import annotations

import threading

import pytest
from mlops.errors import BadRequestError, ConflictError, ForbiddenError, InvalidNameError, NotFoundError
from mlops.registry import read_deployment

from tests.unit.registry.conftest import approve


@pytest.fixture
def churn(reg, training):
    """Model churn with v1 approved, v2 and v3 registered (not approved)."""
    X, y, names, model = training
    for _ in range(3):
        reg.register_version("churn", model, X, y)
    approve(reg, "churn", 1)
    return reg


def test_first_deploy_is_governed_and_moves_production(churn, clock):
    with pytest.raises(NotFoundError):
        churn.deployments().get("churn")
    with pytest.raises(ForbiddenError):
        churn.deployments().set_stable("churn", "churn", 2)
    clock.tick()
    d = churn.deployments().set_stable("churn", "churn", 1, reason="first release")
    assert (d["endpoint"], d["model"], d["stable_version"], d["canary_version"], d["canary_weight_bp"]) == (
        "churn",
        "churn",
        1,
        None,
        0,
    )
    assert d["updated_by"] == "alice" and d["generation"] == 1 and d["last_action"] == "set_stable"
    assert churn.alias_version("churn", "production") == 1
    assert churn.deployments().get("churn") == d == read_deployment(churn.store, "churn")


def test_canary_lifecycle_promote(churn, clock):
    churn.with_actor("bob").update_model(
        "churn", allow_unapproved_deploys=True
    )  # an approver's audited policy
    churn.deployments().set_stable("churn", "churn", 1)
    d = churn.deployments().start_canary("churn", 2, 500)
    assert (d["stable_version"], d["canary_version"], d["canary_weight_bp"]) == (1, 2, 500)
    d = churn.deployments().set_weight("churn", 2500)
    assert d["canary_weight_bp"] == 2500 and d["generation"] == 3
    with pytest.raises(ForbiddenError):
        churn.deployments().promote("churn")  # v2 is not approved
    approve(churn, "churn", 2, approver="carol")
    d = churn.deployments().promote("churn", reason="canary healthy for 15 min")
    assert (d["stable_version"], d["canary_version"], d["canary_weight_bp"]) == (2, None, 0)
    assert churn.alias_version("churn", "production") == 2
    with pytest.raises(ConflictError):
        churn.deployments().promote("churn")  # nothing to promote


def test_rollback_is_idempotent_and_audited(churn):
    approve(churn, "churn", 3)
    churn.deployments().set_stable("churn", "churn", 1)
    churn.deployments().start_canary("churn", 3, 1000)
    d = churn.deployments().rollback("churn", reason="p99 latency alarm")
    assert (d["stable_version"], d["canary_version"], d["canary_weight_bp"]) == (1, None, 0)
    seq = churn.audit.last_seq()
    again = churn.deployments(actor="guardian").rollback("churn", reason="alarm still firing")
    assert again == d and churn.audit.last_seq() == seq  # no change, no new entry
    last = churn.audit.history(limit=1)[0]
    assert last["action"] == "deployment.rollback" and last["details"]["reason"] == "p99 latency alarm"
    assert last["details"]["previous"]["canary_version"] == 3
    with pytest.raises(BadRequestError):
        churn.deployments().rollback("churn", reason="")


def test_rollback_acts_as_the_given_actor(churn):
    approve(churn, "churn", 2)
    churn.deployments().set_stable("churn", "churn", 1)
    churn.deployments().start_canary("churn", 2, 100)
    d = churn.deployments(actor="guardian").rollback("churn", reason="error rate")
    assert d["updated_by"] == "guardian"
    assert churn.audit.history(limit=1)[0]["actor"] == "guardian"


def test_canary_rules(churn):
    approve(churn, "churn", 2)
    with pytest.raises(NotFoundError):
        churn.deployments().start_canary("churn", 2, 100)  # nothing deployed yet
    churn.deployments().set_stable("churn", "churn", 1)
    for bad in (-1, 10_001, 1.5, True, "100"):
        with pytest.raises(BadRequestError):
            churn.deployments().start_canary("churn", 2, bad)
    with pytest.raises(ConflictError):
        churn.deployments().start_canary("churn", 1, 100)  # already stable
    with pytest.raises(NotFoundError):
        churn.deployments().start_canary("churn", 9, 100)
    with pytest.raises(ConflictError):
        churn.deployments().set_weight("churn", 100)  # no canary
    churn.deployments().start_canary("churn", 2, 100)
    with pytest.raises(ConflictError):
        churn.deployments().start_canary("churn", 3, 100)  # one canary at a time
    with pytest.raises(ConflictError):
        churn.deployments().set_stable("churn", "churn", 1)  # canary running
    with pytest.raises(NotFoundError):
        churn.deployments().set_stable("churn", "other", 1)
    churn.register_version("other", b"bytes", signature={"inputs": [{"name": "x"}]})
    churn.create_model("free", governed_aliases=[], allow_unapproved_deploys=True)
    churn.register_version("free", b"bytes", signature={"inputs": [{"name": "x"}]})
    churn.deployments().rollback("churn", reason="make room")
    with pytest.raises(ConflictError) as e:
        churn.deployments().set_stable("churn", "free", 1)  # the endpoint serves churn
    assert e.value.code == "endpoint_model_mismatch"
    assert (
        churn.deployments().set_stable("free-ep", "free", 1)["stable_version"] == 1
    )  # ungoverned: no approval needed
    with pytest.raises(InvalidNameError):
        churn.deployments().get("Bad_Endpoint")


def test_expected_generation_makes_changes_conditional(churn):
    approve(churn, "churn", 2)
    d = churn.deployments().set_stable("churn", "churn", 1)
    d = churn.deployments().start_canary("churn", 2, 100, expected_generation=d["generation"])
    with pytest.raises(ConflictError) as e:
        churn.deployments().set_weight("churn", 5000, expected_generation=d["generation"] - 1)
    assert e.value.code == "deployment_changed"
    with pytest.raises(BadRequestError):
        churn.deployments().set_weight("churn", 5000, expected_generation="7")
    assert (
        churn.deployments().set_weight("churn", 5000, expected_generation=d["generation"])["canary_weight_bp"]
        == 5000
    )


def test_shadow(churn):
    approve(churn, "churn", 3)
    churn.deployments().set_stable("churn", "churn", 1)
    d = churn.deployments().set_shadow("churn", 3, 0.25)
    assert (d["shadow_version"], d["shadow_rate"]) == (3, 0.25)
    with pytest.raises(BadRequestError):
        churn.deployments().set_shadow("churn", 3, 1.5)
    d = churn.deployments().set_shadow("churn", None)
    assert (d["shadow_version"], d["shadow_rate"]) == (None, 0.0)


def test_what_an_endpoint_served_at_a_time(churn, clock):
    approve(churn, "churn", 2)
    t_before = clock()
    clock.tick(60)
    churn.deployments().set_stable("churn", "churn", 1)
    t_stable = clock()
    clock.tick(60)
    churn.deployments().start_canary("churn", 2, 1000)
    t_canary = clock()
    clock.tick(60)
    churn.deployments().rollback("churn", reason="drift")
    t_rolled = clock()
    assert churn.audit.deployment_at("churn", t_before)["state"] is None
    assert churn.audit.deployment_at("churn", t_stable + 1)["state"]["stable_version"] == 1
    at = churn.audit.deployment_at("churn", t_canary + 30)
    assert (
        at["state"]["stable_version"],
        at["state"]["canary_version"],
        at["state"]["canary_weight_bp"],
    ) == (1, 2, 1000)
    assert at["action"] == "deployment.start_canary" and at["actor"] == "alice"
    assert churn.audit.deployment_at("churn", t_rolled)["state"]["canary_version"] is None
    assert churn.audit.deployment_at("other", t_rolled)["state"] is None


def test_serving_reads_the_weight_the_registry_wrote(churn):
    """The lead's authorizer reads the record through mlops.serving.deployment_state."""
    from mlops.serving.deployment_state import canary_state
    from mlops.serving.deployment_state import read_deployment as serving_read

    approve(churn, "churn", 2)
    churn.deployments().set_stable("churn", "churn", 1)
    churn.deployments().start_canary("churn", 2, 1234)
    state = canary_state(serving_read(churn.store, "churn"), "churn")
    assert state.weight_bp == 1234


def test_concurrent_weight_changes_lose_nothing(churn):
    approve(churn, "churn", 2)
    churn.deployments().set_stable("churn", "churn", 1)
    churn.deployments().start_canary("churn", 2, 0)
    n = 8
    barrier = threading.Barrier(n)

    def bump(i: int) -> None:
        me = churn.with_actor(f"op-{i}")
        barrier.wait(timeout=30)
        for _attempt in range(200):
            d = me.deployments().get("churn")
            try:
                me.deployments().set_weight(
                    "churn", d["canary_weight_bp"] + 100, expected_generation=d["generation"]
                )
                return
            except ConflictError:
                continue

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert churn.deployments().get("churn")["canary_weight_bp"] == 100 * n
