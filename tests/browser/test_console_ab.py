"""The Endpoint page's A/B analysis in a real browser, against a real A/B experiment on a real local stack: a
stable that learned nothing and a canary that did, at 50%, forty callers sending predictions through the gateway in a few
bursts and labelled feedback for every one of them. The guardian is told to do nothing for this stack
(no A/B verdicts acted on, no rollback on an alarm or drift, no retraining), so the experiment holds still
while the page is read. The page's per-variant table, decision and always-valid interval over time must
be what ``GET /v1/console/endpoints/churn`` answers for the same key, drawn without a console error. The
section is saved to docs/screenshots/ab.png for the README."""

from __future__ import annotations

import concurrent.futures
import json
from collections import Counter

import numpy as np
import pytest

from tests.browser.conftest import SHOTS, Tab, num, require_browser, wait_until
from tests.harness import RuntimeThread, http
from tests.projects import make_project, register_approved, training_data

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

ENDPOINT = "churn"
READER = "ab-reader"
CALLERS, ROUNDS, PER_ROUND = 40, 4, 100  # bursts, so the interval over time has data at several cuts
GUARDIAN_OFF = """\
  mlops:guardian:
    ab_auto_promote: false
    auto_rollback: false
    rollback_canary_on_drift: false
    auto_retrain: false
"""


def send(url: str, tokens: list[str], X, y, rows: list[int]) -> Counter:
    """Predict each row through the gateway as caller ``i % len(tokens)`` and send its label as feedback;
    returns how many predictions each variant served."""
    served: Counter = Counter()
    for i in rows:
        auth = {"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"}
        row = i % len(X)
        body = {"instances": [X[row].tolist()]}
        out = http("POST", f"{url}/v1/endpoints/{ENDPOINT}/predict", body, auth)
        assert out.status == 200, out
        pred = out.json()
        served[pred["variant"]] += 1
        fb = {"prediction_id": pred["prediction_id"], "actual": int(y[row])}
        resp = http("POST", f"{url}/v1/endpoints/{ENDPOINT}/feedback", fb, auth)
        assert resp.status in (200, 202), resp
    return served


def detail(stack) -> dict:
    resp = http(
        "GET",
        f"{stack['url']}/v1/console/endpoints/{ENDPOINT}",
        headers={"Authorization": f"Bearer {stack['reader']}"},
    )
    assert resp.status == 200, resp
    return resp.json()


@pytest.fixture(scope="module")
def ab_stack(tmp_path_factory):
    """A stack with stable v1 (trained on shuffled labels) and canary v2 (on the real ones) at 50%, the traffic sent and
    every prediction and label shipped to the store, seen by the console's A/B analysis."""
    require_browser()
    from mlops.local.assemble import build_runtime, open_stack_store
    from mlops.local.setup import add_api_keys, local_api_key, local_audit_anchor
    from mlops.names import PREDICT_SCOPE, READ_SCOPE
    from mlops.registry import Registry
    from mlops.settings import load_stack

    project = make_project(tmp_path_factory.mktemp("ab") / "project", extra=GUARDIAN_OFF)
    settings = load_stack("e2e", project)
    local_api_key(settings)
    reg = Registry(open_stack_store(settings), actor="ml-engineer", anchor=local_audit_anchor(settings))
    X, y = training_data(n=2000)
    # stable learned from shuffled labels (about a coin toss), the canary from the real ones: the canary's
    # lead is many standard errors wide whichever callers the split puts in its cohort
    weak = register_approved(reg, X, np.random.default_rng(5).permutation(y), n_estimators=5)
    strong = register_approved(reg, X, y, n_estimators=40, seed=1)
    reg.deployments().set_stable(ENDPOINT, "churn", weak, reason="baseline")
    reg.deployments().start_canary(ENDPOINT, strong, 5000, reason="A/B: the stronger candidate at 50%")
    reader, *callers = add_api_keys(
        settings,
        [(READER, [READ_SCOPE])] + [(f"caller-{i:02d}", [PREDICT_SCOPE]) for i in range(CALLERS)],
    )
    X_test, y_test = training_data(seed=7, n=ROUNDS * PER_ROUND)
    with RuntimeThread(build_runtime(settings, port=0)) as rt:
        stack = {"url": rt.url, "reader": reader, "registry": reg}
        served: Counter = Counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for r in range(ROUNDS):
                chunks = [list(range(r * PER_ROUND + k, (r + 1) * PER_ROUND, 4)) for k in range(4)]
                for part in pool.map(lambda rows: send(rt.url, callers, X_test, y_test, rows), chunks):
                    served.update(part)
        assert served["stable"] and served["canary"] and sum(served.values()) == ROUNDS * PER_ROUND, served

        def shipped():  # every prediction and every label has reached the store and the analysis
            ab = detail(stack)["ab"]
            rows = (ab or {}).get("report", {}).get("variants") or []
            by = {v["variant"]: v for v in rows}
            return all(
                by.get(k, {}).get("predictions") == n and by.get(k, {}).get("labelled") == n
                for k, n in served.items()
            )

        assert wait_until(shipped, 60, every=0.5), (served, detail(stack)["ab"])
        yield stack


def test_endpoint_page_shows_the_ab_analysis_the_api_reports(ab_stack, browser):
    tab = Tab(browser, ab_stack["url"])
    try:
        tab.login(ab_stack["reader"])
        tab.show(f"#/endpoint/{ENDPOINT}", f"Endpoint {ENDPOINT}")
        truth = detail(ab_stack)  # the same key as the page's
        ab, dep = truth["ab"], truth["deployment"]
        report, points = ab["report"], ab["interval_over_time"]
        # the guardian did not act: the experiment is still running as set up
        assert (dep["stable_version"], dep["canary_version"], dep["canary_weight_bp"]) == (1, 2, 5000)
        section = "[data-testid=ab]"
        shown = {
            row.get_attribute("data-variant"): {
                f: row.locator(f"[data-field={f}]").inner_text().strip()
                for f in ("predictions", "labelled", "outcome_rate")
            }
            for row in tab.page.locator(f"{section} [data-testid=ab-variants] tbody tr").all()
        }
        want = {
            v["variant"]: {
                "predictions": num(v["predictions"]),
                "labelled": num(v["labelled"]),
                "outcome_rate": "\u2013" if v["outcome_rate"] is None else num(v["outcome_rate"]),
            }
            for v in report["variants"]
        }
        assert shown == want and {"stable", "canary"} <= set(shown)
        assert all(int(v["labelled"].replace(",", "")) > 0 for v in shown.values())
        assert tab.field(f"{section} [data-field=ab-decision]") == report["decision"]
        assert tab.field(f"{section} [data-field=ab-reason]") == report["reason"].strip()
        cmp = report["comparison"]
        assert tab.field(f"{section} [data-field=ab-effect]") == (
            f"{num(cmp['estimate'])} (always-valid interval {num(cmp['ci_low'])} to {num(cmp['ci_high'])})"
        )
        # the always-valid interval over time: a uPlot canvas holding every analysis point, of which at
        # least two cut the window after both arms had labelled outcomes
        both = [p for p in points if (p["n_challenger"] or 0) > 0 and (p["n_control"] or 0) > 0]
        assert len(points) >= 2 and len(both) >= 2, json.dumps(points)
        chart = tab.page.locator(f"{section} .chart[data-points]")
        assert chart.count() == 1 and chart.locator("canvas").count() >= 1
        assert chart.get_attribute("data-points") == str(len(points))
        assert chart.locator(".u-title").inner_text() == (
            "challenger - stable effect with its always-valid interval"
        )
        assert cmp["estimate"] > 0 and float(np.mean([p["effect"] for p in both])) > 0  # v2 is the better
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.page.locator(section).screenshot(path=str(SHOTS / "ab.png"))
        assert tab.errors == []
    finally:
        tab.close()
