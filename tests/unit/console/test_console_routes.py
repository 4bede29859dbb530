"""The console's JSON routes through the registry function's real router, over real stores and metrics."""

from __future__ import annotations

import pytest
from mlops.console import driftview
from mlops.console.models import shap_importance
from mlops.driftjob import REPORT_PREFIX, STATE_PREFIX

from tests.unit.console.conftest import STABLE_MS


def test_overview_shows_versions_metrics_alarms_drift_and_ab(world, get):
    status, doc = get("/v1/console/overview")
    assert status == 200
    ep, later = doc["endpoints"]
    assert (ep["endpoint"], ep["stable_version"], ep["canary_version"], ep["canary_weight_bp"]) == (
        "ep",
        1,
        2,
        1000,
    )
    assert ep["updated_by"] == "carol" and ep["last_action"] == "start_canary"
    stable, canary = ep["variants"]["stable"], ep["variants"]["canary"]
    # 10 successes and one 502 in the last hour; the point 5 days old is outside it
    assert stable["invocations"] == 11 and stable["errors"] == 1
    assert stable["error_rate"] == pytest.approx(1 / 11)
    assert stable["latency_p50_ms"] == sorted([*STABLE_MS, 500.0])[5]
    assert stable["latency_p99_ms"] == 500.0
    assert canary["invocations"] == 4 and canary["errors"] == 0 and canary["latency_p99_ms"] == 18.0
    # confidence and prediction counts from the drift job's window metrics (two windows each)
    assert stable["confidence_mean"] == pytest.approx(0.9) and stable["predictions"] == 800
    assert canary["confidence_mean"] == pytest.approx(0.7) and canary["predictions"] == 240
    (alarm,) = ep["alarms_firing"]
    assert alarm["rule"] == "ep-drift-share" and alarm["severity"] == "CRITICAL" and alarm["value"] == 0.25
    assert (
        ep["drift"]["version"] == 1
        and ep["drift"]["drifted"] is True
        and ep["drift"]["history"] == [True, True]
    )
    assert ep["ab"] == {
        "running": True,
        "challenger": "canary",
        "canary_version": 2,
        "weight_bp": 1000,
        "since": ep["updated_at"],
    }
    assert later == {
        "endpoint": "later",
        "deployed": False,
        "variants": {},
        "alarms_firing": [],
        "drift": None,
        "ab": {"running": False},
    }


def test_endpoint_detail_has_the_timeline_what_served_when_and_the_ab_analysis(world, get):
    status, doc = get("/v1/console/endpoints/ep")
    assert status == 200 and doc["deployment"]["generation"] == 2
    new, old = doc["timeline"]
    assert (new["action"], new["actor"], new["reason"]) == ("deployment.start_canary", "carol", "try v2")
    assert new["previous"]["canary_version"] is None and new["state"]["canary_version"] == 2
    assert (old["action"], old["actor"], old["reason"]) == ("deployment.set_stable", "alice", "first deploy")
    first, now = doc["served"]
    assert first["to"] == now["from"] == new["ts"] and now["to"] is None
    assert (first["stable_version"], first["canary_version"], now["canary_version"]) == (1, None, 2)
    ab = doc["ab"]
    assert ab["report"]["challenger"] == "canary" and ab["report"]["decision"] in {"continue", "srm_alarm"}
    assert ab["records"] == 1040 and len(ab["interval_over_time"]) == 12
    # the window starts at the canary's start: only the second drift window's predictions are in it
    assert ab["cohort_share"] == {
        "challenger": "canary",
        "configured": 0.1,
        "observed": 120 / 520,
        "challenger_predictions": 120,
        "stable_predictions": 400,
    }
    cuts = [p["until_ts"] for p in ab["interval_over_time"]]
    assert cuts == sorted(cuts)


def test_metric_series_per_variant_and_window(world, get):
    status, doc = get("/v1/console/endpoints/ep/metrics?window=1h")
    assert status == 200 and doc["step_s"] == 60 and len(doc["ts"]) == 60
    stable = doc["variants"]["stable"]
    assert sum(v for v in stable["invocations"] if v) == 11 and sum(v for v in stable["errors"] if v) == 1
    assert all(len(stable[k]) == 60 for k in stable if k != "version")
    assert max(v for v in stable["latency_p99_ms"] if v is not None) == 500.0
    status, day = get("/v1/console/endpoints/ep/metrics?window=30d")
    assert day["step_s"] == 21600 and len(day["ts"]) == 120
    assert sum(v for v in day["variants"]["stable"]["invocations"] if v) == 12  # the old point too
    status, err = get("/v1/console/endpoints/ep/metrics?window=2h")
    assert status == 400 and err["error"]["code"] == "invalid_query" and "window" in err["error"]["message"]
    assert get("/v1/console/endpoints/nope/metrics")[1]["error"]["code"] == "deployment_not_found"


def test_models_list_detail_version_and_compare(world, get):
    (m,) = get("/v1/console/models")[1]["models"]
    assert (m["name"], m["versions"], m["latest_version"], m["aliases"]) == ("churn", 2, 2, {"production": 1})
    doc = get("/v1/console/models/churn")[1]
    v2, v1 = doc["versions"]
    assert (v2["version"], v1["version"], v1["aliases"]) == (2, 1, ["production"])
    assert v1["approval"]["state"] == "approved" and v1["approval"]["decided_by"] == "bob"
    assert v1["approval"]["requested_by"] == "alice" and v1["code_commit"] == "c1"
    assert v1["training_data_digest"].startswith("sha256:") and v1["params"] == {"max_depth": 2}
    ver = get("/v1/console/models/churn/versions/1")[1]
    imps = [d["importance"] for d in ver["importances"]]
    assert imps == sorted(imps, reverse=True) and all(v > 0 for v in imps)
    assert {d["feature"] for d in ver["importances"]} < {"a", "b", "c", "d"}  # the zero ones left out
    assert ver["card"]["estimator"] == "DecisionTreeClassifier" and len(ver["card"]["baseline"]) == 4
    shap = [d["importance"] for d in ver["shap_importance"]]  # mean |SHAP| from registration (issue 18)
    assert shap == sorted(shap, reverse=True) and {d["feature"] for d in ver["shap_importance"]} <= {
        "a",
        "b",
        "c",
        "d",
    }
    assert ver["lineage"]["flavor"] == "sklearn"
    cmp = get("/v1/console/models/churn/compare?a=1&b=2")[1]
    assert cmp["params"] == [{"name": "max_depth", "a": 2, "b": 3, "changed": True}]
    assert cmp["metrics"][0]["delta"] == pytest.approx(0.05)
    assert {r["name"]: r["changed"] for r in cmp["lineage"]}["code_commit"] is True
    status, err = get("/v1/console/models/churn/compare?a=1")
    assert status == 400 and err["error"]["code"] == "missing_query"
    assert get("/v1/console/models/churn/compare?a=1&b=x")[1]["error"]["code"] == "invalid_query"
    assert get("/v1/console/models/churn/versions/9")[1]["error"]["code"] == "version_not_found"
    assert get("/v1/console/models/nope")[0] == 404


def test_shap_importance_is_normalised_and_sorted():
    assert shap_importance({}) is None
    assert shap_importance({"shap_importance": {"a": 0.1, "b": -0.5}}) == [
        {"feature": "b", "importance": -0.5},
        {"feature": "a", "importance": 0.1},
    ]
    assert (
        shap_importance({"shap_importance": [["a", 0.2], {"feature": "b", "importance": 0.3}]})[0]["feature"]
        == "b"
    )


def test_drift_series_and_report_drifted_first_with_chart_data(world, get):
    series = get("/v1/console/drift")[1]["series"]
    v1 = next(s for s in series if s["version"] == 1)
    assert v1["history"] == [True, True] and (v1["k"], v1["n"]) == (2, 3)
    assert [r["window_drifted"] for r in v1["reports"]] == [True, True]
    assert [r["drifted"] for r in v1["reports"]] == [True, False]  # newest first; k-of-n reached on the 2nd
    assert v1["latest"]["drifted_features"] == ["a"] and v1["latest"]["rows"] == 400
    assert len(get("/v1/console/drift?endpoint=ep&limit=1")[1]["series"][0]["reports"]) == 1
    rep = get("/v1/console/drift/report?endpoint=ep&model=churn&version=1")[1]
    assert rep["stamp"] == v1["latest"]["stamp"] and rep["dataset"]["drifted"] is True
    assert rep["features"][0]["name"] == "a" and rep["features"][0]["drifted"] is True
    assert not any(f["drifted"] for f in rep["features"][1:])
    plot = rep["features"][0]["plot"]
    assert len(plot["edges"]) == 31 and len(plot["reference"]) == len(plot["current"]) == 30
    assert sum(plot["reference"]) == pytest.approx(1.0, abs=1e-3)
    ref, cur = plot["ecdf"]["reference"], plot["ecdf"]["current"]
    assert ref == sorted(ref) and cur == sorted(cur) and 0 <= cur[0] and ref[-1] <= 1
    mid = len(ref) // 2
    assert cur[mid] < ref[mid] - 0.3  # the window of "a" was shifted up by 2 standard deviations
    older = get(
        f"/v1/console/drift/report?endpoint=ep&model=churn&version=1&stamp={v1['reports'][1]['stamp']}"
    )[1]
    assert older["persistence"]["drifted"] is False
    for q, code in (
        ("endpoint=ep&model=churn", "missing_query"),
        ("endpoint=ep&model=churn&version=1&stamp=../../x", "invalid_query"),
        ("endpoint=EP&model=churn&version=1", "invalid_query"),
    ):
        status, err = get(f"/v1/console/drift/report?{q}")
        assert status == 400 and err["error"]["code"] == code, q
    status, err = get("/v1/console/drift/report?endpoint=ep&model=churn&version=7")
    assert status == 404 and err["error"]["code"] == "report_not_found"
    assert get("/v1/console/drift?limit=0")[0] == 400


def test_drift_prefixes_agree_with_the_drift_job():
    assert (driftview.REPORT_PREFIX, driftview.STATE_PREFIX) == (REPORT_PREFIX, STATE_PREFIX)


def test_alarms_rules_states_history_and_notifications(world, get):
    doc = get("/v1/console/alarms")[1]
    (rule,) = doc["rules"]
    assert rule["mql"] == 'drift_share[5m]{endpoint = "ep"}.max() > 0.1'
    firing = [s for s in rule["state"] if s["status"] == "FIRING"]
    assert len(firing) == 1 and firing[0]["dimensions"]["version"] == "1"
    (event,) = doc["history"]
    assert (event["rule"], event["status"], event["value"]) == ("ep-drift-share", "FIRING", 0.25)
    assert len(doc["notifications"]) == 1 and doc["guardian_actions"] == []
    world["reg"].with_actor("guardian").deployments().rollback("ep", reason="canary breached latency")
    actions = get("/v1/console/alarms?limit=5")[1]["guardian_actions"]
    assert actions[0]["action"] == "deployment.rollback" and actions[0]["reason"] == "canary breached latency"
    assert get("/v1/console/alarms?limit=abc")[1]["error"]["code"] == "invalid_query"


def test_audit_search_verify_and_what_served_when(world, get):
    doc = get("/v1/console/audit?endpoint=ep")[1]
    assert [e["action"] for e in doc["entries"]] == ["deployment.start_canary", "deployment.set_stable"]
    bob = get("/v1/console/audit?actor=bob")[1]["entries"]
    assert (
        bob and {e["action"] for e in bob} == {"approval.approve"} and all(e["actor"] == "bob" for e in bob)
    )
    page = get("/v1/console/audit?limit=3")[1]
    nxt = get(f"/v1/console/audit?limit=3&before_seq={page['next_before_seq']}")[1]
    assert page["entries"][-1]["seq"] > nxt["entries"][0]["seq"]
    assert get("/v1/console/audit?action=deployment.&model=churn")[1]["entries"] == []
    assert get("/v1/console/audit/verify")[1]["ok"] is True
    timeline = get("/v1/console/endpoints/ep")[1]["timeline"]
    between = timeline[1]["ts"].replace(".000Z", ".500Z")
    served = get(f"/v1/console/audit/served?endpoint=ep&at={between}")[1]
    assert served["state"]["stable_version"] == 1 and served["state"]["canary_version"] is None
    assert served["versions"]["stable"]["code_commit"] == "c1" and served["versions"]["canary"] is None
    for q, code in (("endpoint=ep", "missing_query"), ("endpoint=ep&at=yesterday", "invalid_query")):
        status, err = get(f"/v1/console/audit/served?{q}")
        assert status == 400 and err["error"]["code"] == code
    assert get("/v1/console/audit?since=notatime")[1]["error"]["code"] == "invalid_query"
    assert get("/v1/console/audit?limit=501")[0] == 400


@pytest.mark.parametrize(
    "url",
    [
        "/v1/console/overview",
        "/v1/console/models",
        "/v1/console/audit",
        "/v1/console/drift",
        "/v1/console/alarms",
    ],
)
def test_console_needs_a_caller_with_the_read_scope(world, get, url):
    status, err = get(url, who=None, scopes="")
    assert status == 401 and err["error"]["code"] == "no_principal" and err["error"]["request_id"]
    status, err = get(url, scopes="mlops:predict mlops:deploy")
    assert status == 403 and err["error"]["code"] == "missing_scope"
    assert get(url, scopes="mlops:predict mlops:read")[0] == 200


def test_console_routes_are_get_only(world, get):
    status, err = get("/v1/console/overview", method="POST", body={})
    assert status == 405


def test_the_console_acts_through_the_audited_deployment_route(world, get):
    """What docs/console-api.md tells the UI to send: set_weight with expected_generation, audited."""
    dep = get("/v1/console/endpoints/ep")[1]["deployment"]
    body = {
        "action": "set_weight",
        "weight_bp": 2500,
        "reason": "more traffic",
        "expected_generation": dep["generation"],
    }
    status, _ = get("/v1/endpoints/ep/deployment", method="POST", body=body, scopes="mlops:read")
    assert status == 403
    status, new = get(
        "/v1/endpoints/ep/deployment", method="POST", body=body, who="dana", scopes="mlops:read mlops:deploy"
    )
    assert status == 200 and new["canary_weight_bp"] == 2500
    top = get("/v1/console/endpoints/ep")[1]["timeline"][0]
    assert (top["action"], top["actor"], top["reason"]) == ("deployment.set_weight", "dana", "more traffic")
    status, err = get(
        "/v1/endpoints/ep/deployment", method="POST", body=body, who="dana", scopes="mlops:deploy"
    )
    assert status == 409 and err["error"]["code"] == "deployment_changed"


def test_drift_states_written_before_the_window_summaries_still_list_reports(world, get):
    """A drift state without ``recent`` (written by an older drift job): the summaries come from the reports."""
    import json

    store = world["store"]
    before = get("/v1/console/drift?endpoint=ep")[1]["series"]
    for key in list(store.list(STATE_PREFIX + "ep/")):
        doc = json.loads(store.get(key).data)
        doc.pop("recent"), doc.pop("k"), doc.pop("n")
        store.put(key, json.dumps(doc).encode())
    after = get("/v1/console/drift?endpoint=ep")[1]["series"]
    assert [s["reports"] for s in after] == [s["reports"] for s in before]
    assert [(s["k"], s["n"], s["latest"]) for s in after] == [(s["k"], s["n"], s["latest"]) for s in before]


def test_ab_interval_over_time_ends_at_the_full_analysis(world, get):
    ab = get("/v1/console/endpoints/ep")[1]["ab"]
    last, full = ab["interval_over_time"][-1], ab["report"]["comparison"] or {}
    assert last["n_challenger"] == full.get("n_challenger") and last["n_control"] == full.get("n_control")
    assert last["decision"] == ab["report"]["decision"]
    first = ab["interval_over_time"][0]
    assert (first["n_control"] or 0) <= (last["n_control"] or 0)


def test_audit_verification_is_kept_a_minute_and_redone_on_request(world, get):
    first = get("/v1/console/audit/verify?fresh=1")[1]
    assert first["ok"] is True and first["cached"] is False and first["entries"] == 10
    world["reg"].deployments().set_weight("ep", 2000, reason="more")  # one more entry
    kept = get("/v1/console/audit/verify")[1]
    assert kept["cached"] is True and kept["entries"] == 10 and kept["checked_at"] == first["checked_at"]
    world["clock"].tick(61)
    later = get("/v1/console/audit/verify")[1]
    assert later["cached"] is False and later["entries"] == 11
    assert get("/v1/console/audit/verify?fresh=yes")[1]["error"]["code"] == "invalid_query"


def test_function_alarms_are_attributed_to_their_endpoint():
    from mlops.console.alarmsview import rule_endpoint
    from mlops.monitoring.defaults import default_rules

    rules = {r.kind: r for r in default_rules(["churn-eu"])}
    assert rule_endpoint(rules["canary-latency-p99"]) == "churn-eu"  # an oci_faas rule, on the function id
    assert rule_endpoint(rules["drift"]) == "churn-eu"
    assert {rule_endpoint(r) for r in default_rules(["churn-eu"])} <= {"churn-eu", None}
