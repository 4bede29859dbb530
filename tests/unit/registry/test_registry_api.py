"""The registry HTTP API through Router.dispatch: routes, identities and scopes, status codes, error bodies."""

from __future__ import annotations

import json

import pytest
from mlops.function import dispatch
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
from mlops.registry import Registry
from mlops.registry.api import build_router
from mlops.registry.keys import model_key

SIG = {"inputs": [{"name": "age", "dtype": "float64"}, {"name": "plan", "dtype": "str"}], "classes": [0, 1]}
ALL = "mlops:read mlops:write mlops:approve mlops:deploy"


@pytest.fixture
def api(reg):
    router = build_router(reg)

    def call(
        method: str, url: str, body=None, *, who: str | None = "alice", scopes: str = "mlops:read mlops:write"
    ):
        headers = {}
        if who:
            headers[PRINCIPAL_HEADER] = who
        if scopes:
            headers[SCOPES_HEADER] = scopes
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        resp = dispatch(router, Request.from_url(method, url, headers, raw))
        return resp.status, json.loads(resp.encode() or b"null")

    return call


@pytest.fixture
def uploaded(reg) -> str:
    return reg.upload_artifact(b"model bytes uploaded out of band")["sha256"]


def register(api, sha: str, model: str = "churn", who: str = "alice", **extra):
    return api(
        "POST", f"/v1/models/{model}/versions", {"artifact_sha256": sha, "signature": SIG, **extra}, who=who
    )


def test_register_and_read(api, uploaded):
    status, rec = register(api, uploaded, params={"depth": 3}, metrics={"auc": 0.8}, code_commit="abc")
    assert status == 201 and rec["version"] == 1 and rec["created_by"] == "alice"
    assert rec["signature"]["inputs"][1] == {"name": "plan", "dtype": "str", "kind": "categorical"}
    assert api("GET", "/v1/models")[1]["models"][0]["name"] == "churn"
    assert api("GET", "/v1/models/churn")[1]["governed_aliases"] == ["production"]
    assert [v["version"] for v in api("GET", "/v1/models/churn/versions")[1]["versions"]] == [1]
    assert api("GET", "/v1/models/churn/versions/1")[1] == rec
    assert api("GET", "/v1/models/churn/versions/latest")[1]["version"] == 1


def test_errors_have_statuses_and_codes(api, uploaded, store):
    assert api("GET", "/v1/models/nope")[0] == 404
    status, body = api("GET", "/v1/models/..%2Fetc")
    assert status == 400 and body["error"]["code"] == "invalid_name"
    assert api("GET", "/v1/models/bad%20name/versions")[0] == 400
    register(api, uploaded)
    assert api("GET", "/v1/models/churn/versions/7")[1]["error"]["code"] == "version_not_found"
    assert api("GET", "/v1/models/churn/versions/0")[0] == 400
    status, body = register(api, "f" * 64)
    assert status == 404 and body["error"]["code"] == "artifact_missing"
    assert register(api, "not-a-sha")[0] == 400
    status, body = api("POST", "/v1/models/churn/versions", {"artifact_sha256": uploaded})
    assert status == 400 and "signature" in body["error"]["message"]
    status, body = api(
        "POST", "/v1/models/churn/versions", {"artifact_sha256": uploaded, "signature": SIG, "surprise": 1}
    )
    assert status == 400 and body["error"]["code"] == "unknown_field"
    assert api("POST", "/v1/models/churn/versions", b"{oops")[0] == 400
    status, body = api("POST", "/v1/models", {"name": "churn"})
    assert status == 409 and body["error"]["code"] == "model_exists"
    assert api("DELETE", "/v1/models/churn")[0] == 405
    store.put(model_key("churn"), b"garbage")
    status, body = api("GET", "/v1/models/churn")
    assert status == 500 and body["error"]["code"] == "corrupt_metadata"
    assert model_key("churn") in body["error"]["message"] and body["error"]["request_id"]


def test_writes_need_a_principal_and_the_write_scope(api, uploaded):
    status, body = register(api, uploaded, who=None)
    assert status == 401 and body["error"]["code"] == "no_principal"
    status, body = api(
        "POST",
        "/v1/models/churn/versions",
        {"artifact_sha256": uploaded, "signature": SIG},
        scopes="mlops:read",
    )
    assert status == 403 and body["error"]["code"] == "missing_scope"
    assert api("GET", "/v1/models", who=None, scopes="")[0] == 200  # reads are the gateway's business


def test_approval_flow_over_http(api, uploaded):
    register(api, uploaded)
    status, doc = api("POST", "/v1/models/churn/versions/1/approval", {"action": "request", "comment": "pls"})
    assert status == 201 and doc["state"] == "pending"
    status, body = api("POST", "/v1/models/churn/versions/1/approval", {"action": "approve"}, who="bob")
    assert status == 403 and body["error"]["details"]["scope"] == "mlops:approve"
    status, body = api("POST", "/v1/models/churn/versions/1/approval", {"action": "approve"}, scopes=ALL)
    assert status == 403 and body["error"]["code"] == "self_approval"
    status, doc = api(
        "POST",
        "/v1/models/churn/versions/1/approval",
        {"action": "approve", "comment": "ok"},
        who="bob",
        scopes=ALL,
    )
    assert status == 201 and doc["state"] == "approved" and doc["history"][-1]["by"] == "bob"
    assert api("GET", "/v1/models/churn/versions/1/approval")[1]["state"] == "approved"
    assert api("POST", "/v1/models/churn/versions/1/approval", {"action": "maybe"})[0] == 400


def test_aliases_over_http(api, uploaded, clock):
    register(api, uploaded)
    register(api, uploaded)
    status, body = api("PUT", "/v1/models/churn/aliases/production", {"version": 1})
    assert status == 403 and body["error"]["code"] == "approval_required"
    t0 = clock()
    clock.tick(10)
    status, doc = api("PUT", "/v1/models/churn/aliases/staging", {"version": 2, "reason": "try it"})
    assert status == 200 and doc["aliases"] == {"staging": 2}
    assert api("GET", "/v1/models/churn/aliases/staging")[1] == {
        "model": "churn",
        "alias": "staging",
        "version": 2,
    }
    assert api("GET", "/v1/models/churn/versions/staging")[1]["version"] == 2
    status, body = api("PUT", "/v1/models/churn/aliases/staging", {"version": 1, "expected_version": 1})
    assert status == 409 and body["error"]["code"] == "alias_moved"
    assert api("GET", "/v1/models/churn/aliases")[1]["aliases"] == {"staging": 2}
    assert api("GET", f"/v1/models/churn/aliases/staging?at={t0}")[1]["version"] is None
    assert api("GET", f"/v1/audit/alias-at?model=churn&alias=staging&at={clock()}")[1]["version"] == 2
    assert api("DELETE", "/v1/models/churn/aliases/staging?reason=done")[0] == 200
    assert api("GET", "/v1/models/churn/aliases/staging")[0] == 404


def test_governance_settings_need_the_approve_scope(api):
    status, body = api("POST", "/v1/models", {"name": "lax", "governed_aliases": []})
    assert status == 403
    assert api("POST", "/v1/models", {"name": "lax", "governed_aliases": []}, scopes=ALL)[0] == 201
    assert api("POST", "/v1/models", {"name": "strict", "required_metadata": ["code_commit"]})[0] == 201
    assert api("PUT", "/v1/models/strict", {"required_metadata": []})[0] == 403
    assert api("PUT", "/v1/models/strict", {"description": "better"})[1]["description"] == "better"
    assert (
        api("PUT", "/v1/models/strict", {"required_metadata": []}, scopes=ALL)[1]["required_metadata"] == []
    )


def test_deployment_over_http(api, uploaded, reg, clock):
    register(api, uploaded)
    register(api, uploaded)
    api("POST", "/v1/models/churn/versions/1/approval", {"action": "request"})
    api("POST", "/v1/models/churn/versions/1/approval", {"action": "approve"}, who="bob", scopes=ALL)
    # an approver's audited policy lets unapproved v2 run as a canary (its promotion stays governed)
    assert api("PUT", "/v1/models/churn", {"allow_unapproved_deploys": True}, who="bob", scopes=ALL)[0] == 200
    url = "/v1/endpoints/churn/deployment"
    assert api("GET", url)[0] == 404
    status, body = api("POST", url, {"action": "set_stable", "model": "churn", "version": 1})
    assert status == 403 and body["error"]["details"]["scope"] == "mlops:deploy"
    status, d = api("POST", url, {"action": "set_stable", "model": "churn", "version": 1}, scopes=ALL)
    assert status == 200 and d["stable_version"] == 1
    clock.tick(5)
    status, d = api("POST", url, {"action": "start_canary", "version": 2, "weight_bp": 1000}, scopes=ALL)
    assert d["canary_weight_bp"] == 1000
    t_canary = clock()
    assert api("POST", url, {"action": "set_weight", "weight_bp": 20000}, scopes=ALL)[0] == 400
    assert api("POST", url, {"action": "set_weight"}, scopes=ALL)[0] == 400
    assert api("POST", url, {"action": "explode"}, scopes=ALL)[0] == 400
    status, body = api("POST", url, {"action": "promote"}, scopes=ALL)
    assert status == 403 and body["error"]["code"] == "approval_required"
    clock.tick(5)
    status, d = api("POST", url, {"action": "rollback", "reason": "errors"}, who="guardian", scopes=ALL)
    assert d["canary_version"] is None and d["updated_by"] == "guardian"
    assert (
        api("POST", url, {"action": "rollback", "reason": "again"}, scopes=ALL)[1]["generation"]
        == d["generation"]
    )
    at = api("GET", f"{url}?at={t_canary}")[1]
    assert at["state"]["canary_version"] == 2 and at["state"]["canary_weight_bp"] == 1000
    assert (
        api("GET", f"/v1/audit/deployment-at?endpoint=churn&at={clock()}")[1]["state"]["canary_version"]
        is None
    )
    assert api("GET", "/v1/endpoints/Not_An_Endpoint/deployment")[0] == 400


def test_audit_over_http(api, uploaded, store):
    register(api, uploaded)
    register(api, uploaded, model="other")
    entries = api("GET", "/v1/audit/entries?model=churn")[1]["entries"]
    assert [e["action"] for e in entries] == ["version.register", "model.create"]
    assert len(api("GET", "/v1/audit/entries?limit=1")[1]["entries"]) == 1
    assert api("GET", "/v1/audit/entries?limit=0")[0] == 400
    assert (
        api("GET", "/v1/audit/entries?action=version.register")[1]["entries"][0]["subject"] == "model:other"
    )
    assert api("GET", "/v1/audit/verify")[1]["ok"] is True
    store.delete("audit/000000000002.json")
    report = api("GET", "/v1/audit/verify")[1]
    assert report["ok"] is False and report["problems"][0]["seq"] == 2
    assert api("GET", "/v1/audit/alias-at?model=churn")[0] == 400


def test_reference_profile_over_http(api, reg, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y, feature_names=names)
    profile = api("GET", "/v1/models/churn/versions/1/profile")[1]
    assert set(profile["features"]) == set(names)
    reg.register_version("churn", b"x", signature={"inputs": [{"name": "a"}]})
    assert api("GET", "/v1/models/churn/versions/2/profile")[0] == 404


def test_each_request_acts_as_its_principal(reg, store, uploaded):
    router = build_router(Registry(store, actor="registry-fn"))
    req = Request.from_url(
        "POST",
        "/v1/models/m/versions",
        {PRINCIPAL_HEADER: "dana", SCOPES_HEADER: "mlops:write"},
        json.dumps({"artifact_sha256": uploaded, "signature": SIG}).encode(),
    )
    assert router.dispatch(req).body["created_by"] == "dana"
    assert reg.audit.history(limit=1)[0]["actor"] == "dana"
