"""The console in a real browser (Debian's Chromium, driven by Playwright) against a real local stack with a
whole lifecycle behind it: every page loads without a console error and shows what the registry, the
metrics, the drift reports, the alarm state and the audit log hold; the canary-weight action changes the
deployment record and writes an audit entry; a key without the deploy scope is told so; a missing or bad
key gets the login prompt. The main pages are saved to docs/screenshots/ for the README."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.browser.conftest import ENDPOINT, MODEL, OPERATOR, VIEWER, Tab
from tests.harness import http

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]


def console(stack, path: str, **query):
    """What the console's JSON routes answer (the dev key): for numbers the page shows from the metrics."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    resp = http(
        "GET",
        f"{stack['url']}{path}{'?' + qs if qs else ''}",
        headers={"Authorization": f"Bearer {stack['dev']}"},
    )
    assert resp.status == 200, resp
    return resp.json()


def num(v, digits: int = 3) -> str:
    """As dom.js num(): whole numbers grouped by thousands, others to ``digits`` significant digits."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int):
        return f"{v:,}"
    short = float(f"{v:.{digits}g}")
    return f"{int(short):,}" if short.is_integer() else repr(short)


def test_overview_shows_the_deployment_and_last_hour_metrics(stack, tab: Tab):
    dep = stack["registry"].deployments().get(ENDPOINT)
    assert (dep["stable_version"], dep["canary_version"], dep["canary_weight_bp"]) == (1, 2, 1000)
    tab.login(stack["operator"])
    tab.show("#/", "Overview")
    card = f"[data-testid=endpoint-{ENDPOINT}]"
    assert tab.field(f"{card} [data-field=stable_version]") == "v1"
    assert tab.field(f"{card} [data-field=canary]") == "v2 at 10%"
    assert tab.field(f"{card} [data-field=shadow]") == "none"
    fields = (
        "stable.invocations",
        "stable.latency_p99_ms",
        "stable.confidence_mean",
        "alarms",
        "drift",
        "ab",
    )

    def shown():
        return {f: " ".join(tab.field(f"{card} [data-field='{f}']").split()) for f in fields}

    def truth():  # as the page writes what the console's routes read from the metrics, alarms and drift
        ep = console(stack, "/v1/console/overview")["endpoints"][0]
        stable, drift, ab = ep["variants"]["stable"], ep["drift"], ep["ab"]
        history = drift["history"]
        return {
            "stable.invocations": num(stable["invocations"]),
            "stable.latency_p99_ms": f"{num(stable['latency_p99_ms'])} ms",
            "stable.confidence_mean": num(stable["confidence_mean"]),
            "alarms": " ".join(f"{a['rule']} {a['severity']}" for a in ep["alarms_firing"]) or "none",
            "drift": f"{'drifted' if drift['drifted'] else 'no drift'} v{drift['version']}: share "
            f"{drift['share'] * 100:.0f}% of features; {sum(history)} of last {len(history)} windows drifted "
            f"(rule: {drift['k']} of {drift['n']})",
            "ab": f"{ab['challenger']} v{ab['canary_version']} vs stable since {ab['since'][:19].replace('T', ' ')}Z",
        }

    tab.agrees("Overview", shown, truth)
    values = shown()
    assert "drift-diagnosis WARNING" in values["alarms"]  # the quickstart's drift alarm is still firing
    assert values["stable.invocations"] != "0"
    assert tab.page.locator(f"{card} .chart canvas").count() >= 1
    tab.shot("overview")
    assert tab.errors == []


def test_endpoint_page_shows_timeline_ab_and_metrics(stack, tab: Tab):
    reg = stack["registry"]
    tab.login(stack["operator"])
    tab.show(f"#/endpoint/{ENDPOINT}", f"Endpoint {ENDPOINT}")
    dep = reg.deployments().get(ENDPOINT)
    assert tab.field("[data-field=generation]") == str(dep["generation"])
    assert tab.field("[data-field=canary]") == "v2 at 10%"
    history = reg.audit.history(subject=f"endpoint:{ENDPOINT}", action=None, limit=200)
    deploys = [e for e in history if e["action"].startswith("deployment.")]
    rows = tab.page.locator("[data-testid=timeline] tbody tr")
    assert rows.count() == len(deploys)
    seqs = [int(rows.nth(i).get_attribute("data-seq")) for i in range(rows.count())]
    assert seqs == sorted((e["seq"] for e in deploys), reverse=True)
    actors = [rows.nth(i).locator("[data-field=actor]").inner_text() for i in range(rows.count())]
    assert actors[0] == dep["updated_by"]  # the newest change first: the canary this module started
    assert "guardian" in actors and "ml-engineer" in actors  # the rollback, the quickstart's deploys
    assert tab.page.locator("[data-field=ab-reason]").inner_text().strip()  # an A/B analysis of the canary
    titles = tab.page.locator(".u-title").all_inner_texts()
    assert {"p99 latency", "p50 latency", "error rate", "mean confidence"} <= set(titles)
    tab.shot("endpoint")
    for window in ("1d", "30d"):  # the longer windows draw too (their buckets are 15 min and 6 h)
        tab.page.click(f"nav.tabs a:text-is('last {window}')")
        tab.page.wait_for_selector(f"main[aria-busy=false] h2:text-is('Metrics per variant, last {window}')")
        tab.page.wait_for_function("() => !document.querySelector('main .chart:empty')")
        assert tab.page.locator(".chart canvas").count() >= 5
    assert tab.errors == []


def test_model_page_shows_versions_lineage_approvals_importances_and_compare(stack, tab: Tab):
    reg = stack["registry"]
    tab.login(stack["operator"])
    tab.show(f"#/model/{MODEL}", f"Model {MODEL}")
    versions = reg.list_versions(MODEL)
    rows = tab.page.locator("[data-testid=versions] tbody tr")
    assert [int(rows.nth(i).get_attribute("data-version")) for i in range(rows.count())] == sorted(
        (int(v["version"]) for v in versions), reverse=True
    )
    for v in (1, 2):
        approval = reg.get_approval(MODEL, v)
        decision = next(e for e in reversed(approval["history"]) if e["event"] == "approve")
        cell = tab.field(f"[data-testid=versions] tr[data-version='{v}'] [data-field=approval]")
        assert (
            approval["state"] == "approved" and cell.startswith("approved") and f"by {decision['by']}" in cell
        )
    assert "production" in tab.field("[data-testid=versions] tr[data-version='1'] [data-field=aliases]")
    newest = max(int(v["version"]) for v in versions)
    rec = reg.get_version(MODEL, newest)
    assert tab.field("[data-field=code_commit]") == rec["code_commit"]
    detail = console(stack, f"/v1/console/models/{MODEL}/versions/{newest}")
    names = tab.page.locator("[data-testid=importances] .bar-name").all_inner_texts()
    values = [float(x) for x in tab.page.locator("[data-testid=importances] .bar-value").all_inner_texts()]
    assert names == [r["feature"] for r in detail["importances"] if r["importance"] > 0]
    assert values == sorted(values, reverse=True) and all(x > 0 for x in values)
    # compare v1 with v2: the metric rows hold the registered metrics
    tab.page.select_option("#cmp-a", "1")
    tab.page.select_option("#cmp-b", "2")
    tab.page.click("[data-testid=compare]")
    tab.page.wait_for_selector("[data-testid=compare-metrics] tbody tr")
    m1, m2 = reg.get_version(MODEL, 1)["metrics"], reg.get_version(MODEL, 2)["metrics"]
    row = tab.page.locator("[data-testid=compare-metrics] tbody tr", has_text="f1").first
    cells = row.locator("td").all_inner_texts()
    assert cells[1:3] == [num(m1["f1"], 4), num(m2["f1"], 4)]
    tab.shot("model")
    assert tab.errors == []


def test_drift_page_shows_drifted_features_first_with_histogram_and_ecdf(stack, tab: Tab):
    tab.login(stack["operator"])
    tab.show("#/drift", "Drift")

    def shown():
        card = tab.page.locator("[data-testid^=drift-]").first
        rows = tab.page.locator("[data-testid=features] tbody tr")
        return {
            "card": card.get_attribute("data-testid"),
            "drifted_features": card.locator("[data-field=drifted_features]").inner_text().strip(),
            "latest": card.locator("[data-field=latest] .badge").first.inner_text().strip(),
            "history_on": card.locator("[data-field=history] .kofn span.on").count(),
            "features": [rows.nth(i).get_attribute("data-feature") for i in range(rows.count())],
        }

    def truth():  # the newest report of the first series, as the drift function wrote it
        s = next(x for x in console(stack, "/v1/console/drift")["series"] if x["reports"])
        rep = console(
            stack, "/v1/console/drift/report", endpoint=s["endpoint"], model=s["model"], version=s["version"]
        )
        return {
            "card": f"drift-{s['endpoint']}-{s['model']}-{s['version']}",
            "drifted_features": ", ".join(s["latest"]["drifted_features"]) or "none",
            "latest": "drifted" if s["latest"]["drifted"] else "no drift",
            "history_on": sum(s["history"]),
            "features": [f["name"] for f in rep["features"]],
            "flags": [f["drifted"] for f in rep["features"]],
        }

    tab.agrees("Drift", shown, lambda: {k: v for k, v in truth().items() if k != "flags"})
    assert shown()["card"] == f"drift-{ENDPOINT}-{MODEL}-1"
    flags = truth()["flags"]
    assert any(flags) and flags == sorted(flags, reverse=True)  # drifted first
    first = shown()["features"][0]
    titles = tab.page.locator(f"[data-testid='feature-{first}'] .u-title").all_inner_texts()
    assert titles == [f"{first}: histogram", f"{first}: ECDF"]
    tab.shot("drift")
    assert tab.errors == []


def test_alarms_page_shows_rules_state_guardian_and_notifications(stack, tab: Tab):
    tab.login(stack["operator"])
    tab.show("#/alarms", "Alarms and notifications")
    notes = stack["settings"].state_dir / "notifications.ndjson"

    def shown():
        return {
            "rules": tab.page.locator("[data-testid=rules] tbody tr").count(),
            "drift-diagnosis": tab.page.locator(
                "tr[data-rule='drift-diagnosis'] [data-field=state] .badge"
            ).first.inner_text(),
            "guardian": tab.page.locator("[data-testid=guardian] [data-field=action]").all_inner_texts(),
            "notifications": tab.page.locator("[data-testid=notifications] tbody tr").count(),
        }

    def truth():  # the stack's rules, the alarm state, the audit log's guardian entries, the notification file
        doc = console(stack, "/v1/console/alarms")
        rule = next(r for r in doc["rules"] if r["name"] == "drift-diagnosis")
        entries = stack["registry"].audit.history(limit=1000)
        return {
            "rules": len(doc["rules"]),
            "drift-diagnosis": rule["state"][0]["status"],
            "guardian": [e["action"] for e in entries if e["actor"] == "guardian"],
            "notifications": len([n for n in notes.read_text().splitlines() if n.strip()]),
        }

    tab.agrees("Alarms and notifications", shown, truth)
    values = shown()
    assert values["drift-diagnosis"] == "FIRING" and "deployment.rollback" in values["guardian"]
    assert values["rules"] > 0 and values["notifications"] > 0
    tab.shot("alarms")
    assert tab.errors == []


def test_audit_page_verifies_searches_and_says_what_served_when(stack, tab: Tab):
    reg = stack["registry"]
    tab.login(stack["operator"])
    tab.show("#/audit", "Audit")
    tab.page.click("[data-testid=verify-now]")  # the page may show a check kept from the past minute
    tab.page.wait_for_selector("main[aria-busy=false] [data-field=checked]:has-text('checked now')")
    verify = reg.audit.verify()
    assert verify["ok"]
    assert tab.field("[data-field=verify]").startswith(f"verified {verify['entries']} entries")
    tab.page.fill("#q-actor", "guardian")
    tab.page.click("[data-testid=audit-search] button[type=submit]")
    tab.page.wait_for_function("() => location.hash.includes('actor=guardian')")
    tab.page.wait_for_selector("main[aria-busy=false] [data-testid=entries]")
    actors = set(tab.page.locator("[data-testid=entries] [data-field=actor]").all_inner_texts())
    assert actors == {"guardian"}
    # what served the endpoint while the quickstart's canary ran: between its start and the rollback
    entries = reg.audit.history(subject=f"endpoint:{ENDPOINT}", limit=200)
    start = next(
        e for e in entries if e["action"] == "deployment.start_canary" and e["actor"] == "ml-engineer"
    )
    stop = next(e for e in entries if e["action"] == "deployment.rollback")
    t0, t1 = (datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in (start, stop))
    at = (t0 + (t1 - t0) / 2).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    tab.page.fill("#served-endpoint", ENDPOINT)
    tab.page.fill("#served-at", at)
    tab.page.click("text=What served it?")
    tab.page.wait_for_selector("[data-testid=served]")
    assert tab.field("[data-field=served-state]") == "stable v1, canary v2 at 10%"
    tab.shot("audit")
    assert tab.errors == []


def test_a_key_without_the_deploy_scope_is_told_so_and_nothing_changes(stack, tab: Tab):
    reg = stack["registry"]
    before = reg.deployments().get(ENDPOINT)
    tab.login(stack["viewer"])
    tab.show(f"#/endpoint/{ENDPOINT}", f"Endpoint {ENDPOINT}")
    tab.page.fill("#canary-weight", "50")
    tab.page.click("[data-testid=set-weight]")
    tab.page.click("[data-testid=confirm]")
    msg = tab.page.wait_for_selector("[data-testid=action-error]").inner_text()
    assert "your key lacks the deploy scope" in msg.lower()
    assert reg.deployments().get(ENDPOINT)["generation"] == before["generation"]
    # the browser reports the refused request itself; nothing else may be in the console
    assert [e for e in tab.errors if "status of 403" not in e] == []


def test_a_key_without_the_read_scope_sees_why_not_a_blank_page(stack, tab: Tab):
    tab.login(stack["caller"])  # a predict-only key: valid, but not for the console
    notice = tab.page.wait_for_selector("[data-testid=forbidden]").inner_text()
    assert notice.startswith("Your key lacks the scope this needs")
    assert "Traceback" not in tab.page.inner_text("body")
    assert [e for e in tab.errors if "status of 403" not in e] == []


def test_no_key_or_a_bad_key_gets_the_login_prompt_not_a_trace(stack, tab: Tab):
    page = tab.open("#/audit")  # through the gateway, anonymously: the shell is public, the data is not
    assert page.status == 200 and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    tab.page.wait_for_selector("#login:not([hidden])")
    assert not tab.page.is_visible("#nav") and not tab.page.is_visible("#logout")
    assert tab.page.locator("#main").inner_text() == ""
    assert not [r for r in tab.requests if "/v1/" in r.url]  # nothing asked without a key
    tab.page.fill("#login-key", "mlk_0000_not-a-key")
    tab.page.click("#login-form button[type=submit]")
    tab.page.wait_for_selector("#login-message:not([hidden])")
    text = tab.page.inner_text("body")
    assert "did not accept that key (401)" in tab.field("#login-message")
    assert "Traceback" not in text and "request_id" not in text
    assert tab.page.evaluate("sessionStorage.length") == 0  # the refused key is dropped
    tab.shot("login")
    assert [e for e in tab.errors if "status of 401" not in e] == []


def test_the_key_stays_in_the_tab_and_goes_only_in_the_authorization_header(stack, tab: Tab, browser):
    tab.login(stack["operator"])
    tab.show("#/models", "Models")
    key = stack["operator"]
    assert tab.page.evaluate("Object.keys(sessionStorage)") == ["mlops.console.key"]
    assert tab.page.evaluate("localStorage.length") == 0 and tab.page.evaluate("document.cookie") == ""
    assert tab.context.cookies() == []
    api = [r for r in tab.requests if "/v1/" in r.url]
    assert api and all(r.headers.get("authorization") == f"Bearer {key}" for r in api)
    assert all(key not in r.url for r in tab.requests)
    assert tab.page.locator("tr[data-model]").count() == len(stack["registry"].list_models())
    # another tab of the same browser does not have it
    other = tab.context.new_page()
    other.goto(f"{stack['url']}/ui/#/models")
    other.wait_for_selector("#login:not([hidden])")
    # logging out forgets it
    tab.page.click("#logout")
    assert tab.page.evaluate("sessionStorage.length") == 0
    assert tab.errors == []


def test_the_canary_weight_action_changes_the_deployment_and_is_audited(stack, tab: Tab):
    reg = stack["registry"]
    before = reg.deployments().get(ENDPOINT)
    tab.login(stack["operator"])
    tab.show(f"#/endpoint/{ENDPOINT}", f"Endpoint {ENDPOINT}")
    # cancelling the confirmation changes nothing
    tab.page.fill("#canary-weight", "40")
    tab.page.click("[data-testid=set-weight]")
    tab.page.click("[role=dialog] >> text=Cancel")
    assert tab.page.locator("[role=dialog]").count() == 0
    assert reg.deployments().get(ENDPOINT)["generation"] == before["generation"]
    # confirming sets it, as the operator, with the reason typed
    tab.page.fill("#canary-weight", "25")
    tab.page.fill("#action-reason", "console test: more canary traffic")
    tab.page.click("[data-testid=set-weight]")
    assert "from 10% to 25%" in tab.page.inner_text("[role=dialog]")
    tab.page.click("[data-testid=confirm]")
    flash = tab.page.wait_for_selector("[data-testid=flash]").inner_text()
    assert "set the canary weight" in flash
    after = reg.deployments().get(ENDPOINT)
    assert after["canary_weight_bp"] == 2500 and after["canary_version"] == 2
    assert after["generation"] == before["generation"] + 1 and after["updated_by"] == OPERATOR
    entry = reg.audit.history(subject=f"endpoint:{ENDPOINT}", action="deployment.set_weight", limit=1)[0]
    assert entry["actor"] == OPERATOR and entry["details"]["reason"] == "console test: more canary traffic"
    assert entry["details"]["state"]["canary_weight_bp"] == 2500
    assert entry["details"]["previous"]["canary_weight_bp"] == 1000
    assert reg.audit.verify()["ok"]
    # and the page shows the new state and the entry at the top of the timeline
    tab.page.wait_for_selector("[data-field=canary]:text-is('v2 at 25%')")
    top = tab.page.locator("[data-testid=timeline] tbody tr").first
    assert int(top.get_attribute("data-seq")) == entry["seq"]
    assert top.locator("[data-field=actor]").inner_text() == OPERATOR
    assert VIEWER not in json.dumps(entry)
    assert tab.errors == []


def test_rolling_the_canary_back_from_the_console_needs_a_confirmation_and_is_audited(stack, tab: Tab):
    reg = stack["registry"]
    before = reg.deployments().get(ENDPOINT)
    assert before["canary_version"] == 2
    tab.login(stack["operator"])
    tab.show(f"#/endpoint/{ENDPOINT}", f"Endpoint {ENDPOINT}")
    tab.page.click("[data-testid=rollback]")
    assert reg.deployments().get(ENDPOINT)["generation"] == before["generation"]  # asked, not done
    tab.page.click("[data-testid=confirm]")
    tab.page.wait_for_selector("[data-testid=flash]")
    after = reg.deployments().get(ENDPOINT)
    assert (
        after["canary_version"] is None and after["stable_version"] == 1 and after["updated_by"] == OPERATOR
    )
    entry = reg.audit.history(subject=f"endpoint:{ENDPOINT}", action="deployment.rollback", limit=1)[0]
    assert entry["actor"] == OPERATOR and entry["details"]["reason"].startswith("from the console")
    tab.page.wait_for_selector("[data-field=canary]:text-is('none')")
    assert tab.page.is_disabled("[data-testid=set-weight]")
    assert tab.errors == []
