"""The prediction/feedback join: shuffled, missing, duplicated feedback; noise; windows; metrics."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from mlops.ab.join import Joiner, iter_records, join, metrics, parse_ts, percentile, window_metrics
from mlops.errors import BadRequestError

from .factory import Experiment


def pred(
    pid,
    variant="stable",
    *,
    ts="2026-11-22T17:00:00.000Z",
    prediction=1,
    latency=1.0,
    version=3,
    principal="p1",
    **extra,
):
    return {
        "kind": "prediction",
        "ts": ts,
        "prediction_id": pid,
        "request_id": "r",
        "endpoint": "churn",
        "model": "churn",
        "version": version,
        "variant": variant,
        "cohort": "stable" if variant == "shadow" else variant,
        "principal": principal,
        "latency_ms": latency,
        "prediction": prediction,
        "confidence": 0.9,
        **extra,
    }


def fb(pid, actual, ts="2026-11-22T17:05:00Z", endpoint="churn"):
    return {"kind": "feedback", "ts": ts, "prediction_id": pid, "endpoint": endpoint, "actual": actual}


def test_shuffled_missing_and_duplicated_feedback():
    records = [
        pred("a"),
        pred("b"),
        pred("c"),
        pred("d", "canary", version=4),
        fb("a", 1),
        fb("b", 0),
        fb("c", 0, ts="2026-11-22T17:09:00Z"),
        fb("c", 1, ts="2026-11-22T17:10:00Z"),  # later wins
        fb("d", 1, ts="2026-11-22T17:10:00Z"),
        fb("d", 0, ts="2026-11-22T17:10:00Z"),
    ]  # tie: last read wins
    expected = {"a": 1, "b": 0, "c": 1}
    for seed in range(20):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        # Keep the tie's arrival order (it is the documented tiebreak); everything else is shuffled.
        tie = [r for r in shuffled if r.get("prediction_id") == "d" and r["kind"] == "feedback"]
        if tie[0]["actual"] == 0:
            i, j = shuffled.index(tie[0]), shuffled.index(tie[1])
            shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
        j = join(shuffled)
        got = {pid: p.actual for pid, p in j.by_variant["stable"].items()}
        assert got == expected, seed
        assert j.by_variant["canary"]["d"].actual == 0
        assert j.stats.duplicate_feedback == 2
        assert j.stats.orphan_feedback == 0


def test_missing_feedback_leaves_predictions_unlabelled_and_counted_in_coverage():
    j = join([pred("a"), pred("b"), pred("c", prediction=0), fb("a", 1), fb("c", 1)])
    m = metrics(j)["stable"]
    assert (m.predictions, m.labelled, m.successes) == (3, 2, 1.0)
    assert m.coverage == pytest.approx(2 / 3) and m.outcome_rate == pytest.approx(0.5)
    assert not j.by_variant["stable"]["b"].labelled


def test_one_feedback_labels_the_stable_record_and_its_shadow_twin():
    j = join([pred("a"), pred("a", "shadow", version=4, prediction=0), fb("a", 0)])
    assert j.by_variant["stable"]["a"].actual == 0 and j.by_variant["shadow"]["a"].actual == 0
    m = metrics(j)
    assert m["stable"].outcome_rate == 0.0 and m["shadow"].outcome_rate == 1.0


def test_duplicate_prediction_records_keep_the_first():
    j = join([pred("a", latency=1.0), pred("a", latency=9.0), fb("a", 1)])
    assert j.stats.duplicate_predictions == 1
    assert j.by_variant["stable"]["a"].latency_ms == 1.0
    assert metrics(j)["stable"].predictions == 1


def test_noise_lines_other_endpoints_invalid_and_orphans_are_counted_not_used():
    blob = b"\n".join(
        [
            json.dumps(pred("a")).encode(),
            b"INFO some function log line",
            b'{"kind": "other", "x": 1}',
            b"[1, 2, 3]",
            b"{not json",
            b"",
            json.dumps(pred("x", variant="blue")).encode(),  # unknown variant
            json.dumps({"kind": "prediction", "variant": "stable"}).encode(),  # no prediction_id
            json.dumps(fb("zzz", 1)).encode(),  # orphan
            json.dumps(fb("a", 1, endpoint="other")).encode(),  # another endpoint
            json.dumps(fb("a", 1)).encode(),
        ]
    )
    j = join(blob, endpoint="churn")
    s = j.stats
    assert (s.lines_ignored, s.invalid_records, s.orphan_feedback, s.other_endpoint) == (4, 2, 1, 1)
    assert j.by_variant["stable"]["a"].actual == 1


def test_errors_are_counted_and_never_labelled():
    j = join(
        [
            pred("a", error={"code": "internal_error"}, prediction=None),
            pred("b", status=503),
            pred("c", status=422),
            pred("d"),
            fb("a", 1),
            fb("b", 1),
            fb("c", 1),
            fb("d", 1),
        ]
    )
    m = metrics(j)["stable"]
    assert (m.predictions, m.errors, m.labelled) == (4, 2, 2)
    assert m.error_rate == 0.5 and m.coverage == 1.0


def test_window_filters_predictions_by_their_time_and_orphans_feedback_outside_it():
    recs = [
        pred("early", ts="2026-11-22T16:59:59.999Z"),
        pred("in", ts="2026-11-22T17:00:00Z"),
        pred("late", ts="2026-11-22T18:00:00Z"),
        fb("early", 1),
        fb("in", 1),
        fb("late", 1),
    ]
    j = join(recs, since="2026-11-22T17:00:00Z", until="2026-11-22T18:00:00+00:00")
    assert list(j.by_variant["stable"]) == ["in"]
    assert j.stats.outside_window == 2 and j.stats.orphan_feedback == 2
    with pytest.raises(BadRequestError):
        Joiner(since="yesterday")


def test_streaming_input_shapes_agree():
    exp = Experiment(n_requests=600, shadow_share=0.3, duplicate_feedback=0.1, noise_lines=20, seed=5)
    recs = exp.records()
    blob = exp.ndjson()
    chunks = blob.split(b"\n")
    per_object = [b"\n".join(chunks[i : i + 50]) for i in range(0, len(chunks), 50)]
    a, b, c = join(recs), join(blob), join(iter(per_object))
    for variant in ("stable", "canary", "shadow"):
        ma, mb, mc = (metrics(x).get(variant) for x in (a, b, c))
        assert ma == mb == mc and ma is not None
    assert a.stats.duplicate_feedback > 0 and a.stats.lines_ignored == 20


def test_metrics_latency_percentiles_match_numpy():
    rng = np.random.default_rng(1)
    lat = rng.lognormal(0, 1, 999)
    j = join([pred(f"p{i}", latency=float(x)) for i, x in enumerate(lat)])
    m = metrics(j)["stable"]
    for q, got in ((50, m.latency_p50_ms), (95, m.latency_p95_ms), (99, m.latency_p99_ms)):
        assert got == pytest.approx(float(np.percentile(lat, q)))
    assert percentile([], 50) is None


def test_window_metrics_bucket_by_prediction_time():
    recs = [
        pred("a", ts="2026-11-22T17:00:10Z"),
        pred("b", ts="2026-11-22T17:00:50Z", prediction=0),
        pred("c", ts="2026-11-22T17:01:10Z"),
        pred("d", "canary", ts="2026-11-22T17:01:20Z"),
        fb("a", 1),
        fb("b", 1),
        fb("c", 1),
        fb("d", 1),
    ]
    windows = window_metrics(join(recs), 60)
    assert len(windows) == 2
    assert windows[0]["variants"]["stable"].outcome_rate == 0.5
    assert windows[1]["variants"]["stable"].outcome_rate == 1.0 and "canary" in windows[1]["variants"]
    assert windows[1]["start"] - windows[0]["start"] == 60


def test_parse_ts_and_iter_records_edge_cases():
    assert (
        parse_ts("2026-11-22T17:00:00Z")
        == parse_ts("2026-11-22T17:00:00+00:00")
        == parse_ts("2026-11-22T17:00:00")
    )
    assert parse_ts("2026-11-22T17:00:00.5Z") - parse_ts("2026-11-22T17:00:00Z") == pytest.approx(0.5)
    assert parse_ts("nope") is None and parse_ts(True) is None and parse_ts(float("nan")) is None
    assert list(iter_records({"kind": "feedback"})) == [{"kind": "feedback"}]
    with pytest.raises(BadRequestError):
        list(iter_records(42))
