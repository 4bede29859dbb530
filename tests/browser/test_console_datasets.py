"""The console's Datasets page in a real browser (Debian's Chromium via Playwright) against a small real local
stack (the e2e project's runtime, no quickstart): two versions of a dataset made with ``mlops datasets
create``, model versions that reference them; the list, the versions with their schema and referencing
model versions, the link to the Model page and back, and the diff show what the manifests hold, with no
console error. The page is saved to docs/screenshots/datasets.png for the README."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from tests.browser.conftest import ROOT, Tab, require_browser
from tests.harness import RuntimeThread

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

NAME = "churn-train"


def _csv(path, rows: int, last: str) -> None:
    lines = [f"customer_id,ts,tenure,{last}"]
    for i in range(rows):
        tenure = "" if i % 4 == 0 else f"{i}.5"
        extra = ("basic" if i % 2 else "pro") if last == "plan" else str(i)
        lines.append(f"c{i},2026-03-01T{i:02d}:00:00,{tenure},{extra}")
    path.write_text("\n".join(lines) + "\n")


def _create(project, path) -> None:
    cmd = [sys.executable, "-m", "mlops.cli", "--stack", "e2e", "--project-dir", str(project), "datasets"]
    args = ["create", NAME, str(path), "--entity-key", "customer_id", "--event-time", "ts", "--as", "dana"]
    r = subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@pytest.fixture(scope="module")
def dsstack(tmp_path_factory):
    require_browser()
    from mlops.datasets import catalog
    from mlops.local.assemble import build_runtime, open_stack_store
    from mlops.local.setup import local_api_key, local_audit_anchor
    from mlops.registry import Registry
    from mlops.settings import load_stack
    from sklearn.tree import DecisionTreeClassifier

    from tests.projects import make_project

    tmp = tmp_path_factory.mktemp("dsconsole")
    project = make_project(
        tmp / "project", extra="  mlops:guardian:\n    auto_rollback: false\n    auto_retrain: false\n"
    )
    settings = load_stack("e2e", project)
    key = local_api_key(settings)  # first-run set-up: secrets, dev key, store directory
    _csv(tmp / "march.csv", 8, "legacy")
    _csv(tmp / "april.csv", 10, "plan")
    _create(project, tmp / "march.csv")
    _create(project, tmp / "april.csv")
    store = open_stack_store(settings)
    reg = Registry(store, actor="e2e", anchor=local_audit_anchor(settings))
    X = np.random.default_rng(0).normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    for ref in (f"{NAME}:1", f"{NAME}:2"):
        reg.register_version("churn", model, X, y, feature_names=["f0", "f1"], datasets={"train": ref})
    manifests = {v: catalog.get(store, NAME, v) for v in (1, 2)}
    with RuntimeThread(build_runtime(settings, port=0)) as thread:
        yield {"url": thread.url, "key": key, "manifests": manifests}


def _naive(t: str) -> str:
    return re.sub(r"\.0+$", "", t.replace("T", " "))


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def test_the_datasets_page_shows_the_manifests_and_the_diff(dsstack, browser):
    m1, m2 = dsstack["manifests"][1], dsstack["manifests"][2]
    tab = Tab(browser, dsstack["url"])
    try:
        tab.login(dsstack["key"])
        tab.show("#/datasets", "Datasets")
        row = f"[data-testid=datasets] tr[data-dataset='{NAME}']"
        assert tab.field(f"{row} [data-field=latest]") == "v2"
        assert tab.field(f"{row} [data-field=versions]") == "2"
        assert tab.field(f"{row} [data-field=rows]") == str(m2["rows"]) == "10"
        assert tab.field(f"{row} [data-field=digest]") == _short(m2["digest"])
        tr = m2["time_range"]  # a naive event-time column: shown as stored, not shifted to a zone
        assert (
            tab.field(f"{row} [data-field=time_range]") == f"{_naive(tr['min'])} \u2192 {_naive(tr['max'])}"
        )

        tab.page.click(f"{row} a")
        tab.page.wait_for_selector(f"main[aria-busy=false] h1:text-is('Dataset {NAME}')")
        for m in (m1, m2):
            vrow = f"[data-testid=dataset-versions] tr[data-version='{m['version']}']"
            assert tab.field(f"{vrow} [data-field=rows]") == str(m["rows"])
            assert tab.field(f"{vrow} [data-field=digest]") == _short(m["digest"])
            assert tab.field(f"{vrow} [data-field=referenced_by]") == f"churn v{m['version']} (train)"
        detail = "[data-testid=dataset-version]"
        assert tab.field(f"{detail} dd[data-field=digest]") == m2["digest"]
        assert tab.field(f"{detail} dd[data-field=entity_keys]") == "customer_id"
        assert tab.field(f"{detail} dd[data-field=event_time]") == "ts"
        shown = tab.page.eval_on_selector_all(
            "[data-testid=schema] tr[data-column]",
            "rows => rows.map(r => [r.dataset.column, r.querySelector('[data-field=type]').innerText,"
            " r.querySelector('[data-field=null_count]').innerText])",
        )
        assert shown == [[c["name"], c["type"], str(c["null_count"])] for c in m2["columns"]]
        assert [c["name"] for c in m2["columns"]] == ["customer_id", "ts", "tenure", "plan"]

        # v1's referencing model version, on the Model page, links back to the dataset version
        tab.page.click("[data-testid=dataset-versions] tr[data-version='1'] a[data-ref='churn:1']")
        tab.page.wait_for_selector("main[aria-busy=false] h1:text-is('Model churn')")
        tab.page.wait_for_selector("[data-testid=version-detail]")
        tab.page.click(f"[data-testid=version-detail] a[data-dataset='{NAME}:1']")
        tab.page.wait_for_selector(f"main[aria-busy=false] h1:text-is('Dataset {NAME}')")
        assert tab.field("[data-testid=dataset-version] dd[data-field=digest]") == m1["digest"]

        tab.page.select_option("#ds-a", "1")
        tab.page.select_option("#ds-b", "2")
        tab.page.click("[data-testid=diff]")
        tab.page.wait_for_selector("main[aria-busy=false] [data-testid=dataset-diff]")
        diff = "[data-testid=dataset-diff]"
        assert tab.field(f"{diff} [data-field=added]") == "plan"
        assert tab.field(f"{diff} [data-field=removed]") == "legacy"
        assert tab.field(f"{diff} [data-field=rows]") == "8 \u2192 10 (+2)"
        tab.page.evaluate("window.scrollTo(0, 0)")
        tab.shot("datasets")
        assert tab.errors == []
    finally:
        tab.close()
