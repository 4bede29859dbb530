"""Drift reports: the HTML page is self-contained and shows every feature; the JSON is strict."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from mlops.drift import DriftDetector, build_reference_profile
from mlops.drift.report import render_html, render_json


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    n = 5_000
    ref = {
        "age": rng.normal(40, 10, n),
        "plan": rng.choice(np.array(["basic", "pro"]), size=n),
        "<script>alert(1)</script>": rng.normal(size=n),
    }
    kinds = {"age": "numeric", "plan": "categorical", "<script>alert(1)</script>": "numeric"}
    profile = build_reference_profile(ref, kinds)
    cur = {
        "age": rng.normal(48, 10, 2_000),
        "plan": rng.choice(np.array(["basic", "pro", "team"]), size=2_000),
        "<script>alert(1)</script>": np.full(2_000, np.nan),
    }
    result = DriftDetector(profile).compare(cur, window={"endpoint": "churn", "version": 2})
    return profile, cur, result


def test_html_is_self_contained_with_a_plot_per_feature(case):
    profile, cur, result = case
    page = render_html(result, profile, cur, title="churn v2")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not any(k in ("src", "href") and v and not v.startswith("#") for k, v in parser.attrs)
    assert parser.tags.count("svg") == 2 + 1 + 2  # histogram + ECDF, bars, histogram + ECDF
    assert "<style>" in page and "DRIFT DETECTED" in page
    assert "team" in page  # the unseen category is shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_html_accepts_the_json_result_and_no_current_data(case):
    profile, _, result = case
    page = render_html(json.loads(render_json(result)), json.loads(json.dumps(profile)), None, title="t")
    assert page.count("<svg") == 5 and "http" not in page


def test_html_marks_drifted_features(case):
    profile, cur, result = case
    page = render_html(result, profile, cur, title="x")
    rows = re.findall(r'<tr class="(d?)">.*?<a href="#f-([^"]+)">', page)
    assert {html.unescape(name) for flag, name in rows if flag == "d"} == set(result.drifted_features)
    assert result.drifted_features == ["age", "plan", "<script>alert(1)</script>"]


def test_json_is_strict_and_round_trips(case):
    _, _, result = case
    text = render_json(result)
    assert json.loads(text) == result.to_dict()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(render_json(result.to_dict(), indent=2)) == result.to_dict()
