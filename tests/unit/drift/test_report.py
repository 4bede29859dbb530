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


# ----------------------------------------------------------------------------- issue 17: a readable page


@pytest.fixture(scope="module")
def wide():
    """Many numeric features on very different scales, a few shifted; names sort the stable ones first."""
    rng = np.random.default_rng(5)
    n = 3_000
    scales = {
        "a_area": 700.0,
        "b_ratio": 0.01,
        "c_count": 20.0,
        "d_big": 3e6,
        "z_shifted": 1.0,
        "y_shifted": 50.0,
    }
    ref = {k: rng.lognormal(0, 0.4, n) * s for k, s in scales.items()}
    cur = {k: rng.lognormal(0, 0.4, 1_000) * s for k, s in scales.items()}
    cur["z_shifted"] = cur["z_shifted"] + 1.0
    cur["y_shifted"] = cur["y_shifted"] * 1.5
    profile = build_reference_profile(ref, {k: "numeric" for k in scales})
    result = DriftDetector(profile).compare(cur)
    assert set(result.drifted_features) == {"z_shifted", "y_shifted"}
    return profile, cur, result


def test_drifted_features_come_first_in_the_table_and_the_plots(wide):
    profile, cur, result = wide
    page = render_html(result, profile, cur, title="wide")
    table_order = [
        html.unescape(n) for n in re.findall(r'<tr class="d?"><td class="l"><a href="#f-([^"]+)">', page)
    ]
    card_order = [html.unescape(n) for n in re.findall(r'<div class="card(?: d)?" id="f-([^"]+)">', page)]
    assert table_order == card_order and len(card_order) == 6
    assert set(card_order[:2]) == {"z_shifted", "y_shifted"}, card_order
    effects = [result.features[n].effect_size for n in card_order[:2]]
    assert effects == sorted(effects, reverse=True), "drifted ones by effect size, largest first"


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page)


def test_every_plot_has_a_labelled_y_axis_with_ticks(wide, case):
    for profile, cur, result in (wide, case):
        svgs = _svgs(render_html(result, profile, cur, title="t"))
        assert svgs
        for svg in svgs:
            if "no values" in svg:
                continue
            assert re.search(
                r'<text class="yl"[^>]*transform="rotate\(-90[^>]*>(% of rows|cumulative %)</text>', svg
            )
            yticks = re.findall(r'<text class="yt"[^>]*>([^<]*)</text>', svg)
            assert len(yticks) >= 2 and yticks[0] == "0%", yticks
            assert re.search(r'<text class="xl"[^>]*>[^<]+</text>', svg), "the x axis says which feature"


def test_x_tick_labels_are_short_round_numbers(wide):
    profile, cur, result = wide
    for svg in _svgs(render_html(result, profile, cur, title="t")):
        labels = re.findall(r'<text class="xt"[^>]*>([^<]*)</text>', svg)
        assert len(labels) >= 3, labels
        for label in labels:
            assert len(label) <= 8 and re.fullmatch(r"-?[\d,]+(\.\d{1,6})?|-?\d(\.\d)?e[+-]\d\d", label), (
                label
            )


def test_plots_are_small(wide):
    profile, cur, result = wide
    for svg in _svgs(render_html(result, profile, cur, title="t")):
        w, h = (int(v) for v in re.match(r'<svg width="(\d+)" height="(\d+)"', svg).groups())
        assert w <= 320 and h <= 180


def test_nice_ticks_and_labels():
    from mlops.drift.report import nice_ticks, tick_label

    assert nice_ticks(0.0, 1.0)[0] == [0.0, 0.5, 1.0]
    assert nice_ticks(13.0, 58.0) == ([20.0, 30.0, 40.0, 50.0], 10.0)
    ticks, step = nice_ticks(201.0, 2010.0)
    assert step == 500 and [tick_label(t, step) for t in ticks] == ["500", "1,000", "1,500", "2,000"]
    ticks, step = nice_ticks(0.0037, 0.101)
    assert [tick_label(t, step) for t in ticks] == ["0.025", "0.050", "0.075", "0.100"]
    assert tick_label(0.1 + 0.2, 0.1) == "0.3"
    assert tick_label(2_500_000.0, 500_000.0) == "2.5e+06"
