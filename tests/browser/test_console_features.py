"""The console's Features page in a real browser (Debian's Chromium via Playwright) against a small real local
stack (the e2e project's runtime, no quickstart): two feature groups registered with ``mlops features
register`` (one of them in two versions), CSV batches ingested with ``mlops features ingest`` (one with rows
the checks quarantine) and a dataset whose lineage names a group version. The list, a group's versions,
definition, quarantine and batches show what the group documents and batch manifests hold; the dataset's
lineage links to the group version; no console error. The page is saved to docs/screenshots/features.png
for the README."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.conftest import ROOT, Tab, require_browser
from tests.harness import RuntimeThread

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

GROUP = "customer_activity"
DEFINITION = """\
name: customer_activity
description: Rolling activity of a customer
owner: growth-team
entity_keys:
  - {name: customer_id, type: string}
event_time: event_ts
ttl: 30d
features:
  - {name: orders_7d, type: int64, description: orders in the last 7 days, nullable: false}
  - {name: spend_7d, type: float64, description: spend in the last 7 days}
"""
VIP = "  - {name: is_vip, type: bool, description: a VIP customer}\n"
ORDERS = """\
name: orders
owner: checkout
entity_keys:
  - {name: order_id, type: int64}
event_time: placed_at
features:
  - {name: amount, type: float64}
"""


def _csv(path, rows: int, *, bad: bool, vip: bool) -> None:
    lines = ["customer_id,event_ts,orders_7d,spend_7d" + (",is_vip" if vip else "")]
    for i in range(rows):
        orders = str(i)
        key = f"c{i}"
        if bad and i == 1:
            orders = "1.5"  # not an int64
        if bad and i == 2:
            orders = ""  # null in a non-nullable feature
        if bad and i == 3:
            key = ""  # null entity key
        line = f"{key},2026-03-0{1 + i % 3}T{i:02d}:00:00Z,{orders},{i * 2.5}"
        lines.append(line + (f",{'true' if i % 3 == 0 else 'false'}" if vip else ""))
    path.write_text("\n".join(lines) + "\n")


def _cli(project, *args: str) -> None:
    cmd = [sys.executable, "-m", "mlops.cli", "--stack", "e2e", "--project-dir", str(project), "features"]
    r = subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def _training_dataset(project, path) -> None:
    """A dataset whose lineage names the group version it was built from (linked to the Features page)."""
    cmd = [sys.executable, "-m", "mlops.cli", "--stack", "e2e", "--project-dir", str(project), "datasets"]
    args = [
        "create",
        "activity-train",
        str(path),
        "--event-time",
        "event_ts",
        "--feature-group",
        f"{GROUP}:2",
    ]
    r = subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@pytest.fixture(scope="module")
def fgstack(tmp_path_factory):
    require_browser()
    from mlops.features.groups import get_group
    from mlops.features.offline import committed_batches
    from mlops.local.assemble import build_runtime, open_stack_store
    from mlops.local.setup import local_api_key
    from mlops.settings import load_stack

    from tests.projects import make_project

    tmp = tmp_path_factory.mktemp("fgconsole")
    project = make_project(
        tmp / "project", extra="  mlops:guardian:\n    auto_rollback: false\n    auto_retrain: false\n"
    )
    settings = load_stack("e2e", project)
    key = local_api_key(settings)  # first-run set-up: secrets, dev key, store directory
    (tmp / "activity.yaml").write_text(DEFINITION)
    (tmp / "orders.yaml").write_text(ORDERS)
    _csv(tmp / "week1.csv", 6, bad=False, vip=False)
    _csv(tmp / "week2.csv", 9, bad=False, vip=True)
    _csv(tmp / "week3.csv", 8, bad=True, vip=True)
    _cli(project, "register", str(tmp / "activity.yaml"), "--as", "dana")
    _cli(project, "ingest", GROUP, str(tmp / "week1.csv"), "--as", "dana")
    (tmp / "activity.yaml").write_text(DEFINITION + VIP)
    _cli(project, "register", str(tmp / "activity.yaml"), "--as", "dana")
    _cli(project, "ingest", GROUP, str(tmp / "week2.csv"), "--as", "erin")
    _cli(project, "ingest", GROUP, str(tmp / "week3.csv"), "--as", "erin")
    _cli(project, "register", str(tmp / "orders.yaml"), "--as", "dana")
    _training_dataset(project, tmp / "week2.csv")
    store = open_stack_store(settings)
    truth = {
        "v2": get_group(store, f"{GROUP}@2"),
        "batches": {v: list(committed_batches(store, GROUP, v)) for v in (1, 2)},
    }
    with RuntimeThread(build_runtime(settings, port=0)) as thread:
        yield {"url": thread.url, "key": key, **truth}


def test_the_features_page_shows_the_groups_definitions_batches_and_quarantine(fgstack, browser):
    v1_batches, v2_batches = fgstack["batches"][1], fgstack["batches"][2]
    good, bad = v2_batches
    assert bad["rows_quarantined"] == 3 and bad["rows_ok"] == 5 and len(bad["reasons"]) == 3  # real checks
    stored = sum(b["rows_ok"] for b in v2_batches)
    tab = Tab(browser, fgstack["url"])
    try:
        tab.login(fgstack["key"])
        tab.show("#/features", "Feature groups")
        row = f"[data-testid=features] tr[data-group='{GROUP}']"
        assert tab.field(f"{row} [data-field=latest]") == "v2"
        assert tab.field(f"{row} [data-field=versions]") == "2"
        assert tab.field(f"{row} [data-field=entity_keys]") == "customer_id"
        assert tab.field(f"{row} [data-field=event_time]") == "event_ts"
        assert tab.field(f"{row} [data-field=ttl]") == "30d"
        assert tab.field(f"{row} [data-field=features]") == "3"
        assert tab.field(f"{row} [data-field=owner]") == "growth-team"
        assert tab.field(f"{row} [data-field=rows]") == str(stored) == "14"
        assert tab.field(f"{row} [data-field=quarantined]") == "3 (17.6%)"  # 3 of 17 rows in
        assert tab.field(f"{row} [data-field=batches]") == "2"
        orders = "[data-testid=features] tr[data-group='orders']"
        assert tab.field(f"{orders} [data-field=ttl]") == "none"
        assert tab.field(f"{orders} [data-field=batches]") == "0"

        tab.page.click(f"{row} a")
        tab.page.wait_for_selector(f"main[aria-busy=false] h1:text-is('Feature group {GROUP}')")
        assert tab.field("[data-testid=quarantine-total]") == "3 of 17 rows quarantined (17.6%)"
        shown_reasons = tab.page.eval_on_selector_all(
            "[data-testid=quarantine-reasons] tr[data-reason]",
            "rows => rows.map(r => [r.dataset.reason, r.querySelector('[data-field=count]').innerText])",
        )
        assert sorted(shown_reasons) == sorted([r, str(n)] for r, n in bad["reasons"].items())
        for v, batches in ((1, v1_batches), (2, v2_batches)):
            vrow = f"[data-testid=group-versions] tr[data-version='{v}']"
            assert tab.field(f"{vrow} [data-field=batches]") == str(len(batches))
            assert tab.field(f"{vrow} [data-field=rows]") == str(sum(b["rows_ok"] for b in batches))
        d = fgstack["v2"].group
        detail = "[data-testid=group-version]"
        assert tab.field(f"{detail} dd[data-field=owner]") == d.owner
        assert tab.field(f"{detail} dd[data-field=entity_keys]") == "customer_id (string)"
        assert tab.field(f"{detail} dd[data-field=ttl]") == "30d"
        columns = tab.page.eval_on_selector_all(
            "[data-testid=group-features] tr[data-column]",
            "rows => rows.map(r => [r.dataset.column, r.querySelector('[data-field=type]').innerText])",
        )
        assert columns == [["customer_id", "string"]] + [[f.name, f.type] for f in d.features]
        nullable = tab.field("[data-testid=group-features] tr[data-column=orders_7d] [data-field=nullable]")
        assert nullable == "no"
        shown_batches = tab.page.eval_on_selector_all(
            "[data-testid=batches] tr[data-batch]",
            "rows => rows.map(r => [r.dataset.batch, ...['rows_in', 'rows_ok', 'rows_quarantined']"
            ".map(f => r.querySelector(`[data-field=${f}]`).innerText)])",
        )
        assert shown_batches == [
            [str(bad["batch"]), "8", "5", "3 (37.5%)"],
            [str(good["batch"]), str(good["rows_in"]), str(good["rows_ok"]), "0"],
        ]
        bad_row = f"[data-testid=batches] tr[data-batch='{bad['batch']}'] [data-field=reasons]"
        assert all(r in tab.field(bad_row) for r in bad["reasons"])

        tab.page.click("[data-testid=group-versions] tr[data-version='1'] a")
        tab.page.wait_for_selector("[data-testid=group-versions] tr.selected[data-version='1']")
        tab.page.wait_for_selector("main[aria-busy=false] [data-testid=quarantine-total]")
        assert tab.field("[data-testid=quarantine-total]") == "no row quarantined"
        assert tab.page.locator("[data-testid=group-features] tr[data-column=is_vip]").count() == 0
        assert tab.page.locator("[data-testid=batches] tr[data-batch]").count() == len(v1_batches) == 1

        # a dataset's lineage links the group version it was built from
        tab.show("#/dataset/activity-train", "Dataset activity-train")
        tab.page.click(f"[data-testid=dataset-version] a[data-group='{GROUP}:2']")
        tab.page.wait_for_selector(f"main[aria-busy=false] h1:text-is('Feature group {GROUP}')")
        tab.page.wait_for_selector("[data-testid=group-versions] tr.selected[data-version='2']")
        assert tab.field("[data-testid=quarantine-total]") == "3 of 17 rows quarantined (17.6%)"
        tab.page.evaluate("window.scrollTo(0, 0)")
        tab.shot("features")
        assert tab.errors == []
    finally:
        tab.close()
