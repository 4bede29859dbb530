"""One real local stack with a whole lifecycle behind it (``mlops quickstart --keep``: train, approve, deploy,
traffic, a canary with feedback, drift, an alarm, a notification, the guardian's rollback and retraining),
then a canary started again, and one headless Debian Chromium driven by Playwright, for the module.

Needs ``bash .ci/browser`` (chromium from apt, playwright in .venv). Without them the tests skip, except
under CI=true, where a missing browser is a failure: CI installs it, so a skip there would hide a break.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import http

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MLOPS_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(
    os.environ.get("MLOPS_SCREENSHOTS_DIR") or ROOT / "docs" / "screenshots"
)  # the README shows them
ENDPOINT, MODEL = "diagnosis", "breast-cancer"
OPERATOR, VIEWER, CALLER = "console-operator", "console-viewer", "console-caller"


def browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (bash .ci/browser installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed in this venv (bash .ci/browser installs it)"
    return None


def require_browser() -> None:
    missing = browser_missing()
    if missing and os.environ.get("CI"):  # .ci installs both: in CI a missing browser is a failure
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)


def wait_until(pred, timeout: float = 120.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    return pred()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The quickstart's stack, left running, with an operator key (read + deploy), a viewer key (read only)
    and canary v2 at 10% started again by the dev key after the guardian's rollback."""
    require_browser()
    from mlops.cli.local import read_state, stop_runtime
    from mlops.local.assemble import open_stack_store
    from mlops.local.setup import add_api_keys, local_api_key
    from mlops.names import DEPLOY_SCOPE, PREDICT_SCOPE, READ_SCOPE
    from mlops.registry import Registry
    from mlops.settings import load_stack

    run_dir = tmp_path_factory.mktemp("console") / "qs"
    cmd = [sys.executable, "-m", "mlops.cli", "quickstart", "--dir", str(run_dir), "--keep"]
    try:
        r = subprocess.run(
            [*cmd, "--callers", "40", "--requests", "300"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        settings = load_stack("quickstart", run_dir)
        state = read_state(settings)
        assert state, "the quickstart's runtime is not running"
        url, dev = state["url"], local_api_key(settings)
        registry = Registry(open_stack_store(settings))
        # the guardian's retraining registers v3 in the background: wait for it, so the pages hold still
        assert wait_until(lambda: len(registry.list_versions(MODEL)) >= 3, 180), (
            "the retraining did not register v3"
        )
        operator, viewer, caller = add_api_keys(
            settings,
            [(OPERATOR, [READ_SCOPE, DEPLOY_SCOPE]), (VIEWER, [READ_SCOPE]), (CALLER, [PREDICT_SCOPE])],
        )
        auth = {"Authorization": f"Bearer {dev}", "Content-Type": "application/json"}
        canary = {
            "action": "start_canary",
            "version": 2,
            "weight_bp": 1000,
            "reason": "console test: canary again",
        }
        resp = http("POST", f"{url}/v1/endpoints/{ENDPOINT}/deployment", canary, auth)
        assert resp.status == 200, resp
        yield {
            "url": url,
            "settings": settings,
            "registry": registry,
            "dev": dev,
            "operator": operator,
            "viewer": viewer,
            "caller": caller,
            "run_dir": run_dir,
        }
    finally:
        if (run_dir / "Pulumi.quickstart.yaml").exists():
            stop_runtime(load_stack("quickstart", run_dir))


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # root in a container: Chromium's sandbox needs user namespaces it may not have
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Tab:
    """One tab of its own browser context (its own sessionStorage), recording console errors and requests."""

    def __init__(self, browser, url: str) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list = []
        self.page.on(
            "console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r))

    def open(self, fragment: str = ""):
        return self.page.goto(f"{self.url}/ui/{fragment}")

    def login(self, key: str) -> None:
        self.open()
        self.page.fill("#login-key", key)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("main[aria-busy=false]")

    def show(self, fragment: str, heading: str) -> None:
        """Go to a page and wait until it has rendered its data under ``heading``."""
        self.page.evaluate("f => { location.hash = f; }", fragment)
        self.page.wait_for_selector(f"main[aria-busy=false] h1:text-is('{heading}')", timeout=30_000)
        self.page.wait_for_function("() => !document.querySelector('main .chart:empty')")

    def field(self, selector: str) -> str:
        return self.page.inner_text(selector).strip()

    def agrees(self, heading: str, shown, truth, timeout: float = 60.0) -> None:
        """The page shows what ``truth()`` reads from the stack. The stack may still be settling (the drift
        function reads the last shipped prediction logs, the evaluator the last metrics), so the page is
        reloaded and both are read again until they agree, within a generous deadline."""
        last: list = []

        def same() -> bool:
            self.page.reload()
            self.page.wait_for_selector(f"main[aria-busy=false] h1:text-is('{heading}')", timeout=30_000)
            last[:] = [shown(), truth()]
            return last[0] == last[1]

        if not wait_until(same, timeout, every=0.5):
            assert last[0] == last[1]

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        height = min(self.page.evaluate("document.documentElement.scrollHeight"), 2000)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(
            path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1400, "height": height}
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, stack):
    t = Tab(browser, stack["url"])
    yield t
    t.close()
