"""Issue 13 D: only approved, verified versions serve traffic - stable, canary and shadow alike.

Before the fix a canary or shadow of a version nobody approved was accepted (and a stable one too,
through an ungoverned alias), so anyone with the register and deploy scopes could run a pickle of
their choosing in the production function; an artifact whose bytes no longer matched its sha256
was accepted as a deployment and only failed later, in the serving function.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from mlops.cli import main
from mlops.errors import BadRequestError, ConflictError, ForbiddenError
from mlops.function import dispatch
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
from mlops.registry import read_deployment
from mlops.registry.api import build_router
from mlops.serving.inference import InferenceService
from mlops.serving.source import RegistrySource

from tests.unit.registry.conftest import approve

ALL = "mlops:read mlops:write mlops:approve mlops:deploy"


class _Tripwire:
    """Unpickling this touches a file: proof that a pickle was deserialized."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


@pytest.fixture
def deployed(reg, training):
    """churn v1 approved and stable on endpoint churn; v2 registered, not approved."""
    X, y, names, model = training
    reg.register_version("churn", model, X, y, feature_names=names)
    reg.register_version("churn", model, X, y, feature_names=names)
    approve(reg, "churn", 1)
    reg.deployments().set_stable("churn", "churn", 1)
    return reg


def _unchanged(reg, before_doc, before_seq):
    assert read_deployment(reg.store, "churn") == before_doc
    assert reg.audit.last_seq() == before_seq


def test_an_unapproved_version_serves_no_traffic_as_canary_shadow_or_stable(deployed):
    """issue 13 D: canary, shadow and stable (even under an ungoverned alias) all need an approved version."""
    reg = deployed
    before, seq = read_deployment(reg.store, "churn"), reg.audit.last_seq()
    for attempt, role in (
        (lambda: reg.deployments().start_canary("churn", 2, 1000), "canary"),
        (lambda: reg.deployments().set_shadow("churn", 2, 0.5), "shadow"),
        (lambda: reg.deployments().set_stable("other-ep", "churn", 2, alias="staging"), "stable"),
    ):
        with pytest.raises(ForbiddenError) as e:
            attempt()
        assert e.value.status == 403 and e.value.code == "approval_required"
        assert e.value.details["role"] == role and e.value.details["state"] == "none"
        assert "not approved" in e.value.message and "canary or shadow" in e.value.message
    _unchanged(reg, before, seq)
    assert read_deployment(reg.store, "other-ep") is None
    reg.request_approval("churn", 2)
    with pytest.raises(ForbiddenError):  # a pending request is not an approval
        reg.deployments().start_canary("churn", 2, 1000)
    reg.with_actor("bob").decide_approval("churn", 2, "reject")
    with pytest.raises(ForbiddenError):
        reg.deployments().start_canary("churn", 2, 1000)
    _unchanged(reg, before, seq + 2)  # the request and the rejection only


def test_a_pickle_that_runs_code_on_load_never_reaches_the_canary_function(deployed, store, tmp_path):
    """issue 13 D: register (write scope) + deploy (deploy scope) no longer runs a chosen pickle in production."""
    reg = deployed
    tripwire = tmp_path / "unpickled"
    evil = reg.with_actor("mallory").register_version(
        "churn",
        pickle.dumps(_Tripwire(str(tripwire))),
        signature={"inputs": [{"name": n} for n in ("age", "income", "tenure")]},
    )
    with pytest.raises(ForbiddenError):
        reg.with_actor("mallory").deployments().start_canary("churn", evil["version"], 10_000)
    src = RegistrySource(reg, store, endpoint="churn", model="churn", variant="canary", alias="canary")
    svc = InferenceService(
        src,
        endpoint="churn",
        model_name="churn",
        variant="canary",
        emit=lambda r: None,
        start_refresher=False,
        log=lambda m: None,
    )
    assert svc.current is None and not tripwire.exists()


def test_the_policy_that_allows_unapproved_deploys_is_explicit_and_audited(deployed):
    """issue 13 D: the only way around approval is a model policy set on purpose, with an audit entry."""
    reg = deployed
    assert reg.get_model("churn")["allow_unapproved_deploys"] is False
    with pytest.raises(BadRequestError):
        reg.update_model("churn", allow_unapproved_deploys="yes")
    doc = reg.with_actor("bob").update_model("churn", allow_unapproved_deploys=True)
    assert doc["allow_unapproved_deploys"] is True
    entry = reg.audit.history(limit=1)[0]
    assert (entry["action"], entry["actor"], entry["details"]["allow_unapproved_deploys"]) == (
        "model.update",
        "bob",
        True,
    )
    assert reg.deployments().start_canary("churn", 2, 1000)["canary_version"] == 2
    with pytest.raises(ForbiddenError):  # the production alias stays governed on its own
        reg.deployments().promote("churn")
    reg.deployments().rollback("churn", reason="policy test")
    reg.with_actor("bob").update_model("churn", allow_unapproved_deploys=False)
    with pytest.raises(ForbiddenError):
        reg.deployments().start_canary("churn", 2, 1000)


def test_more_weight_for_an_unapproved_canary_is_refused(deployed):
    """issue 13 D: a canary started under the policy gets no more traffic once the policy is withdrawn."""
    reg = deployed
    reg.with_actor("bob").update_model("churn", allow_unapproved_deploys=True)
    reg.deployments().start_canary("churn", 2, 500)
    reg.with_actor("bob").update_model("churn", allow_unapproved_deploys=False)
    with pytest.raises(ForbiddenError):
        reg.deployments().set_weight("churn", 5000)
    assert reg.deployments().set_weight("churn", 100)["canary_weight_bp"] == 100  # less is always allowed
    assert reg.deployments().rollback("churn", reason="unapproved")["canary_version"] is None


def _swap(store, key: str, data: bytes) -> None:
    store.put(key, data)


def test_deploy_time_verification_refuses_an_altered_artifact(deployed, store, tmp_path):
    """issue 13 D: a version whose artifact fails its sha256 is refused (409 artifact_integrity) before any
    state change, for canary, shadow, stable and promote; the refusal is audited and nothing is unpickled."""
    reg = deployed
    approve(reg, "churn", 2)
    rec = reg.get_version("churn", 2)
    original = store.get(rec["artifact"]["key"]).data
    tripwire = tmp_path / "unpickled"
    _swap(store, rec["artifact"]["key"], pickle.dumps(_Tripwire(str(tripwire))))
    before, seq = read_deployment(reg.store, "churn"), reg.audit.last_seq()
    for attempt, role in (
        (lambda: reg.deployments().start_canary("churn", 2, 1000), "canary"),
        (lambda: reg.deployments().set_shadow("churn", 2, 0.5), "shadow"),
        (lambda: reg.deployments().set_stable("ep-two", "churn", 2), "stable"),
    ):
        with pytest.raises(ConflictError) as e:
            attempt()
        assert (
            e.value.status == 409 and e.value.code == "artifact_integrity" and e.value.details["role"] == role
        )
        assert "refusing to deploy churn v2" in e.value.message and "failed verification" in e.value.message
        assert reg.audit.history(limit=1)[0]["action"] == "artifact.verify_failed"
    assert read_deployment(reg.store, "churn") == before and read_deployment(reg.store, "ep-two") is None
    assert reg.audit.last_seq() == seq + 3 and not tripwire.exists()
    _swap(store, rec["artifact"]["key"], original)
    reg.deployments().start_canary("churn", 2, 1000)
    _swap(store, rec["artifact"]["key"], original + b"\0")  # altered while the canary runs
    with pytest.raises(ConflictError) as e:
        reg.deployments().promote("churn")
    assert e.value.code == "artifact_integrity"
    assert read_deployment(reg.store, "churn")["stable_version"] == 1


def test_deploy_time_verification_covers_the_compiled_scorer(reg, store):
    """issue 13 D: serving loads a tree model's compiled scorer, so that is verified too."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, y)
    rec = reg.register_version("trees", model, X, y, feature_names=["a", "b", "c"])
    assert rec["compiled"], "a tree ensemble gets a compiled scorer"
    approve(reg, "trees", 1)
    store.put(rec["compiled"]["key"], store.get(rec["compiled"]["key"]).data + b"x")
    with pytest.raises(ConflictError) as e:
        reg.deployments().set_stable("trees", "trees", 1)
    assert e.value.code == "artifact_integrity" and "compiled scorer" in e.value.message


@pytest.fixture
def api(deployed):
    router = build_router(deployed)

    def call(method, url, body=None, *, who="alice", scopes=ALL):
        headers = {PRINCIPAL_HEADER: who, SCOPES_HEADER: scopes}
        resp = dispatch(router, Request.from_url(method, url, headers, json.dumps(body).encode()))
        return resp.status, json.loads(resp.encode() or b"null")

    return call


def test_refusals_over_http_have_statuses_and_codes(api, deployed, store):
    """issue 13 D: 403 approval_required, 409 artifact_integrity, and the policy needs the approve scope."""
    url = "/v1/endpoints/churn/deployment"
    status, body = api("POST", url, {"action": "start_canary", "version": 2, "weight_bp": 1000})
    assert status == 403 and body["error"]["code"] == "approval_required" and body["error"]["request_id"]
    assert "not approved" in body["error"]["message"]
    status, body = api("POST", url, {"action": "set_shadow", "version": 2, "rate": 0.2})
    assert status == 403 and body["error"]["code"] == "approval_required"
    writer = "mlops:read mlops:write mlops:deploy"
    status, body = api("PUT", "/v1/models/churn", {"allow_unapproved_deploys": True}, scopes=writer)
    assert status == 403 and body["error"]["details"]["scope"] == "mlops:approve"
    status, body = api("POST", "/v1/models", {"name": "lax", "allow_unapproved_deploys": True}, scopes=writer)
    assert status == 403 and body["error"]["code"] == "missing_scope"
    status, body = api("PUT", "/v1/models/churn", {"allow_unapproved_deploys": "yes"})
    assert status == 400 and body["error"]["code"] == "invalid_policy"
    approve(deployed, "churn", 2)
    key = deployed.get_version("churn", 2)["artifact"]["key"]
    store.put(key, store.get(key).data + b"!")
    status, body = api("POST", url, {"action": "start_canary", "version": 2, "weight_bp": 1000})
    assert status == 409 and body["error"]["code"] == "artifact_integrity"
    assert api("GET", url)[1]["canary_version"] is None


def test_refusals_in_the_cli_are_one_line(deployed, store, tmp_path, monkeypatch, capsys):
    """issue 13 D: `mlops deploy canary|shadow` of an unapproved version: one line on stderr, exit 1."""
    monkeypatch.setenv("MLOPS_STORE_BACKEND", "file")
    monkeypatch.setenv("MLOPS_STORE_PATH", str(store.root))
    for argv in (
        ["deploy", "canary", "churn", "--version", "2", "--weight", "10", "--as", "mallory"],
        ["deploy", "shadow", "churn", "--version", "2", "--as", "mallory"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code != 0 and err.count("\n") == 1 and "Traceback" not in err
        assert "not approved" in err and "[approval_required]" in err
    assert (
        main(
            [
                "models",
                "policy",
                "churn",
                "--allow-unapproved-deploys",
                "--as",
                "bob",
                "--json",
                f"--store={store.root}",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["allow_unapproved_deploys"] is True
    assert main(["deploy", "canary", "churn", "--version", "2", "--weight", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["canary_version"] == 2
    assert deployed.audit.history(action="model.update", limit=1)[0]["actor"] == "bob"
