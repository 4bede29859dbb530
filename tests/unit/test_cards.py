"""Model cards (issues 17 and 18 §1): importances, class names, deployment history, readable HTML."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mlops.cards import card_facts, render_html, render_markdown, write_card
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.harness import ManualClock

N_FEATURES = 20


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    """v1 stable on endpoint `ep`, v2 a canary at 10% then rolled back, v3 never deployed."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, N_FEATURES))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    names = [f"x{i:02d}" for i in range(N_FEATURES)]
    reg = Registry(FileStore(tmp_path_factory.mktemp("store")), clock=ManualClock(), actor="alice")
    for n_trees in (5, 8, 12):  # depth-1 stumps on two informative features: most features never split
        model = GradientBoostingClassifier(n_estimators=n_trees, max_depth=1, random_state=0).fit(X, y)
        v = reg.register_version(
            "m", model, X, y, feature_names=names, target_name="sick", tags={"class_names": "healthy,sick"}
        )["version"]
        reg.request_approval("m", v, comment="please")
        reg.with_actor("bob").decide_approval("m", v, "approve", comment="ok")
    ops = reg.with_actor("carol")
    ops.deployments().set_stable("ep", "m", 1, reason="first deploy")
    ops.deployments().start_canary("ep", 2, 1000, reason="try v2")
    reg.with_actor("guardian").deployments().rollback("ep", reason="drift while the canary ran")
    return reg


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    end = md.find("\n## ", start + 1)
    return md[start : end if end > 0 else None]


def test_importances_show_mean_abs_shap_next_to_impurity_sorted_with_zeros_folded(lifecycle):
    md = render_markdown(card_facts(lifecycle, "m", 1))
    sec = _section(md, "Feature importances")
    assert "| # | feature | mean abs SHAP | impurity importance |" in sec
    assert "mean absolute SHAP value over 400 training rows" in sec
    rows = [line.split("|") for line in sec.splitlines() if re.match(r"\| \d+ \|", line)]
    shap = [float(r[3]) for r in rows]
    assert shap == sorted(shap, reverse=True) and all(v > 0 for v in shap)
    assert rows[0][2].strip() == "x00"
    folded = [line for line in sec.splitlines() if "with zero importance" in line]
    assert len(folded) == 1, "zero-importance features are one line, not one row each"
    n_zero = N_FEATURES - len(rows)
    assert n_zero >= 10 and folded[0].startswith(f"- {n_zero} features with zero importance: x")
    assert "| 0 |" not in sec and "0.0000" not in sec


def test_classes_show_their_names(lifecycle):
    md = render_markdown(card_facts(lifecycle, "m", 1))
    assert "- Classes: 0 = healthy, 1 = sick" in md


def test_class_names_fall_back_to_the_target_for_01_labels():
    from mlops.cardparts import class_labels

    sig = {"classes": [0, 1], "target": {"name": "benign", "dtype": "int64"}}
    assert class_labels(sig, {}) == "0 = not benign, 1 = benign (target `benign`)"
    assert "no class names recorded" in class_labels({"classes": ["a", "b", "c"]}, None)
    assert class_labels({"classes": None}, None) == "- (not a classifier)"


def test_stable_version_card_does_not_print_an_empty_canary(lifecycle):
    sec = _section(render_markdown(card_facts(lifecycle, "m", 1, endpoint="ep")), "Deployment")
    assert "canary v- " not in sec and "v-" not in sec
    assert "- Endpoint `ep`: stable v1 (this version)" in sec
    assert "| ep | start_canary | carol | stable v1 | stable v1, canary v2 at 10% | try v2 |" in sec


def test_rolled_back_canary_card_has_a_deployment_section_with_its_history(lifecycle):
    md = render_markdown(card_facts(lifecycle, "m", 2))  # written without an endpoint, like the quickstart
    sec = _section(md, "Deployment")
    assert "Not serving now: m v2 was deployed before" in sec
    assert "| ep | start_canary | carol | stable v1 | stable v1, canary v2 at 10% | try v2 |" in sec
    assert (
        "| ep | rollback | guardian | stable v1, canary v2 at 10% | stable v1 | drift while the canary ran |"
        in sec
    )


def test_never_deployed_version_says_so(lifecycle):
    sec = _section(render_markdown(card_facts(lifecycle, "m", 3)), "Deployment")
    assert "- Not deployed: no endpoint has served m v3" in sec
    assert "canary" not in sec


def test_html_uses_real_lists_not_glued_bullets(lifecycle):
    page = render_html(card_facts(lifecycle, "m", 2))
    assert "<ul><li>Estimator: <code>GradientBoostingClassifier</code>" in page
    assert ":before" not in page and "\\2022" not in page, "no CSS bullet that eats the space after it"
    assert "<strong>approved</strong>" in page
    assert page.count("<ul>") == page.count("</ul>") and page.count("<table>") == page.count("</table>")
    assert "`" not in page and "http://" not in page and "https://" not in page


def test_write_card_stores_both_forms(lifecycle):
    keys = write_card(lifecycle, "m", 3)
    assert lifecycle.store.get(keys["html"]).data.startswith(b"<!doctype html>")
    assert b"## Feature importances" in lifecycle.store.get(keys["markdown"]).data
