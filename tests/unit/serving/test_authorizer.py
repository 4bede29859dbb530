"""The authorizer: OCI's answer format, sticky uniform cohorts, pin scope, fresh keys, fail-safe weights."""

from __future__ import annotations

from mlops.serving.apikeys import KeyRing, KeyRingSource, new_api_key
from mlops.serving.authorizer import Authorizer, CanaryState, WeightCache, assign_cohort


def make(weight_bp=1000, ring=None, read=None, source=None):
    weights = WeightCache(read or (lambda ep: CanaryState(weight_bp, f"{ep}:v2")), ttl_s=60)
    source = source or KeyRingSource(lambda: ring.to_json(), clock=lambda: 0.0)
    return Authorizer(source, weights, ["churn", "fraud-x"], ttl_s=30, clock=lambda: 0.0)


def test_valid_key_gets_principal_scopes_expiry_and_a_cohort_per_endpoint():
    token, rec = new_api_key("alice", ["mlops:predict"])
    out = make(ring=KeyRing([rec])).authorize({"type": "USER_DEFINED", "data": {"token": f"Bearer {token}"}})
    assert out["active"] is True and out["principal"] == "alice" and out["scope"] == ["mlops:predict"]
    assert out["expiresAt"] == "1970-01-01T00:00:30.000Z"
    assert out["context"]["cohort_churn"] in ("stable", "canary") and "cohort_fraud_x" in out["context"]


def test_invalid_keys_are_inactive_with_www_authenticate():
    _, rec = new_api_key("alice", ["mlops:predict"])
    az = make(ring=KeyRing([rec]))
    for doc in (
        {},
        {"type": "USER_DEFINED", "data": {}},
        {"type": "USER_DEFINED", "data": {"token": "mlk_x_y"}},
        {"type": "TOKEN", "token": 42},
        "junk",
    ):
        out = az.authorize(doc)
        assert out["active"] is False and "wwwAuthenticate" in out


def test_cohorts_are_uniform_and_sticky():
    share = sum(assign_cohort(f"p{i}", "churn", 1000, "churn:v2") == "canary" for i in range(20000)) / 20000
    assert 0.09 < share < 0.11
    assert [assign_cohort(f"p{i}", "churn", 1000, "s") for i in range(100)] == [
        assign_cohort(f"p{i}", "churn", 1000, "s") for i in range(100)
    ]
    # raising the weight only adds callers to the canary
    at10 = {i for i in range(5000) if assign_cohort(f"p{i}", "churn", 1000, "s") == "canary"}
    at25 = {i for i in range(5000) if assign_cohort(f"p{i}", "churn", 2500, "s") == "canary"}
    assert at10 <= at25
    assert {assign_cohort(f"p{i}", "churn", 0, "s") for i in range(1000)} == {"stable"}


def test_the_cohort_depends_on_the_token_alone():
    """issue 13 G: no optional authorizer argument: an extra "pin" argument changes nothing, even for a
    key with the pin scope (pinning is the /variants/{stable|canary}/predict route)."""
    t1, r1 = new_api_key("ops", ["mlops:predict", "mlops:pin"])
    az = make(weight_bp=0, ring=KeyRing([r1]))
    plain = az.authorize({"type": "USER_DEFINED", "data": {"token": f"Bearer {t1}"}})
    pinned = az.authorize({"type": "USER_DEFINED", "data": {"token": f"Bearer {t1}", "pin": "canary"}})
    assert plain["context"]["cohort_churn"] == pinned["context"]["cohort_churn"] == "stable"


def test_an_unreadable_deployment_state_fails_safe_to_stable():
    token, rec = new_api_key("alice", ["mlops:predict"])

    def broken(ep):
        raise OSError("store down")

    az = make(ring=KeyRing([rec]), read=broken)
    out = az.authorize({"type": "USER_DEFINED", "data": {"token": f"Bearer {token}"}})
    assert out["active"] and out["context"]["cohort_churn"] == "stable"
