"""The local evaluator: OCI alarm semantics with an injected clock, deterministic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.monitoring.alarms import AlarmRule
from mlops.monitoring.defaults import default_rules
from mlops.monitoring.evaluator import AlarmEvaluator, aggregate
from mlops.monitoring.metrics import MemoryMetrics, MetricPoint, invocation_points
from mlops.monitoring.sqlite import SqliteMetrics

from tests.harness import ManualClock

T0 = 1_800_000_000.0


def rule(**kw):
    base = dict(
        name="lat",
        namespace="mlops",
        metric="latency",
        dimensions={"endpoint": "churn"},
        interval="1m",
        statistic="max",
        operator=">",
        threshold=100,
    )
    base.update(kw)
    return AlarmRule(**base)


def put(store, value, ts, **dims):
    store.put([MetricPoint("mlops", "latency", value, dims or {"endpoint": "churn"}, ts)])


def test_pt1m_fires_at_the_first_breach_and_clears_at_the_first_clear_minute():
    store, clock = MemoryMetrics(), ManualClock(T0)
    ev = AlarmEvaluator(store, [rule()], clock)
    put(store, 50, T0 - 10)
    assert ev.evaluate() == []
    clock.t += 60
    put(store, 150, clock.t - 5)
    [e] = ev.evaluate()
    assert (e.status, e.type, e.value, e.threshold, e.dimensions) == (
        "FIRING",
        "OK_TO_FIRING",
        150,
        100,
        {"endpoint": "churn"},
    )
    clock.t += 60
    put(store, 120, clock.t - 5)
    assert ev.evaluate() == []  # still firing, no repeat configured
    clock.t += 60
    put(store, 90, clock.t - 5)
    [ok] = ev.evaluate()
    assert (ok.status, ok.type, ok.value) == ("OK", "FIRING_TO_OK", 90)


def test_pending_duration_needs_the_condition_for_that_many_minutes():
    store, clock = MemoryMetrics(), ManualClock(T0)
    ev = AlarmEvaluator(store, [rule(pending_duration="PT3M")], clock)
    fired_at = []
    for minute in range(6):
        put(store, 150, clock.t - 1)
        if ev.evaluate():
            fired_at.append(minute)
        clock.t += 60
    assert fired_at == [2]  # breaching minutes 0, 1, 2 -> FIRING at the third


def test_an_interrupted_breach_starts_pending_over():
    store, clock = MemoryMetrics(), ManualClock(T0)
    ev = AlarmEvaluator(store, [rule(pending_duration="PT3M")], clock)
    events = []
    for v in (150, 150, 50, 150, 150, 150):
        put(store, v, clock.t - 1)
        events.append([e.status for e in ev.evaluate()])
        clock.t += 60
    assert events == [[], [], [], [], [], ["FIRING"]]


def test_repeat_notification_while_firing():
    store, clock = MemoryMetrics(), ManualClock(T0)
    ev = AlarmEvaluator(store, [rule(repeat_notification_duration="PT5M")], clock)
    statuses = []
    for _ in range(12):
        put(store, 150, clock.t - 1)
        statuses.append([e.status for e in ev.evaluate()])
        clock.t += 60
    assert statuses == [["FIRING"], [], [], [], [], ["REPEAT"], [], [], [], [], ["REPEAT"], []]


def test_no_data_is_no_transition_and_no_progress():
    store, clock = MemoryMetrics(), ManualClock(T0)
    ev = AlarmEvaluator(store, [rule()], clock)
    put(store, 150, clock.t - 1)
    assert [e.status for e in ev.evaluate()] == ["FIRING"]
    clock.t += 600  # nothing written for ten minutes
    assert ev.evaluate() == []
    assert ev.status()[0]["status"] == "FIRING"
    put(store, 10, clock.t - 1)
    assert [e.status for e in ev.evaluate()] == ["OK"]


def test_each_metric_stream_is_its_own_alarm_unless_grouped():
    store, clock = MemoryMetrics(), ManualClock(T0)
    for version, v in (("1", 150), ("2", 50), ("3", 130)):
        put(store, v, clock.t - 1, endpoint="churn", version=version)
    split = AlarmEvaluator(store, [rule()], clock).evaluate()
    assert sorted(e.dimensions["version"] for e in split) == ["1", "3"]
    grouped = AlarmEvaluator(store, [rule(grouping=True, statistic="mean")], clock).evaluate()
    assert [(e.dimensions, round(e.value, 6)) for e in grouped] == [({"endpoint": "churn"}, 110.0)]


def test_window_is_the_rule_interval():
    store, clock = MemoryMetrics(), ManualClock(T0)
    put(store, 500, clock.t - 61)  # just outside a 1m window
    put(store, 50, clock.t - 1)
    assert AlarmEvaluator(store, [rule()], clock).evaluate() == []
    assert [e.value for e in AlarmEvaluator(store, [rule(interval="2m")], clock).evaluate()] == [500]


def test_statistics_weigh_datapoint_counts():
    pts = [(T0, 10.0, 3), (T0 + 1, 40.0, 1)]
    assert aggregate("count", pts) == 4
    assert aggregate("sum", pts) == 70
    assert aggregate("mean", pts) == 17.5
    assert aggregate("max", pts) == 40 and aggregate("min", pts) == 10
    assert aggregate("percentile", pts, percentile=0.75) == 10
    assert aggregate("percentile", pts, percentile=0.76) == 40
    assert aggregate("increment", pts) == 30
    assert aggregate("rate", pts, interval_s=60) == 0.5
    assert aggregate("mean", []) is None


def test_percentile_is_the_nearest_rank_numpy_calls_inverted_cdf():
    rng = np.random.default_rng(7)
    for _ in range(20):
        values = rng.lognormal(3, 1, size=int(rng.integers(1, 400)))
        pts = [(T0 + i, float(v), 1) for i, v in enumerate(values)]
        for q in (0.5, 0.9, 0.99):
            assert aggregate("percentile", pts, percentile=q) == pytest.approx(
                float(np.percentile(values, q * 100, method="inverted_cdf"))
            )


def test_state_survives_a_restart_and_a_changed_rule_starts_over(tmp_path):
    store, clock = MemoryMetrics(), ManualClock(T0)
    state = tmp_path / "state" / "alarms.json"
    put(store, 150, clock.t - 1)
    assert [e.status for e in AlarmEvaluator(store, [rule()], clock, state_path=state).evaluate()] == [
        "FIRING"
    ]
    clock.t += 60
    put(store, 160, clock.t - 1)
    assert AlarmEvaluator(store, [rule()], clock, state_path=state).evaluate() == []  # still FIRING
    assert json.loads(state.read_text())["rules"]["lat"]["query"] == rule().to_mql()
    changed = AlarmEvaluator(store, [rule(threshold=155)], clock, state_path=state)
    assert [e.status for e in changed.evaluate()] == ["FIRING"]  # fresh state


def test_unreadable_state_starts_fresh(tmp_path):
    state = tmp_path / "alarms.json"
    state.write_text("{not json")
    store, clock = MemoryMetrics(), ManualClock(T0)
    put(store, 150, clock.t - 1)
    assert [e.status for e in AlarmEvaluator(store, [rule()], clock, state_path=state).evaluate()] == [
        "FIRING"
    ]


def test_disabled_rules_are_skipped():
    store, clock = MemoryMetrics(), ManualClock(T0)
    put(store, 150, clock.t - 1)
    assert AlarmEvaluator(store, [rule(is_enabled=False)], clock).evaluate() == []


def test_default_rules_on_local_oci_faas_twin_records(tmp_path):
    """The gateway's per-invocation records drive the canary error and latency rules."""
    store, clock = SqliteMetrics(tmp_path / "m.sqlite"), ManualClock(T0)
    rules = default_rules(["churn"], [])
    ev = AlarmEvaluator(store, rules, clock)
    pts = []
    for i in range(200):
        pts += invocation_points("inference-churn-stable", 200, 3.0 + (i % 7), clock.t - 100 + i * 0.5)
        pts += invocation_points(
            "inference-churn-canary", 502 if i % 20 == 0 else 200, 4.0, clock.t - 100 + i * 0.5
        )
    store.put(pts)
    events = {e.rule.name: e for e in ev.evaluate()}
    assert set(events) == {"canary-errors-churn"}
    e = events["canary-errors-churn"]
    assert e.value == 10 and e.rule.actions == {"rollback_canary": "churn"}
    assert e.dimensions == {
        "resourceId": "local:fn:inference-churn-canary",
        "resourceDisplayName": "local:inference-churn-canary",
        "responseType": "Error",
    }
    # a slow stable function fires after its five-minute pending duration
    fired = []
    for minute in range(1, 7):
        clock.t += 60
        store.put(
            [
                p
                for i in range(50)
                for p in invocation_points("inference-churn-stable", 200, 1500.0, clock.t - 30 + i * 0.1)
            ]
        )
        fired += [(minute, e.rule.name) for e in ev.evaluate()]
    assert "latency-p99-inference-churn-stable" in {n for _m, n in fired}
    assert min(m for m, n in fired if n == "latency-p99-inference-churn-stable") == 5
    store.close()


def test_custom_metrics_drive_drift_and_confidence_rules():
    from mlops.monitoring import metrics as m

    store, clock = MemoryMetrics(), ManualClock(T0)
    ev = AlarmEvaluator(store, default_rules(["churn"], []), clock)
    store.put(m.drift_points("mlops", "churn", "churn", 3, drifted=True, drift_share=0.5, ts=clock.t - 30))
    store.put(
        m.window_points(
            "mlops", "churn", "churn", 4, "canary", predictions=200, confidence_mean=0.3, ts=clock.t - 30
        )
    )
    fired = {e.rule.name: e for e in ev.evaluate()}
    assert set(fired) == {"drift-churn"}
    assert fired["drift-churn"].dimensions == {"endpoint": "churn", "model": "churn", "version": "3"}
    for _ in range(2):  # canary confidence has a three-minute pending duration
        clock.t += 60
        store.put(
            m.window_points(
                "mlops", "churn", "churn", 4, "canary", predictions=200, confidence_mean=0.3, ts=clock.t - 30
            )
        )
        fired = {e.rule.name for e in ev.evaluate()}
    assert fired == {"canary-confidence-churn"}


def test_two_evaluators_sharing_a_state_file_report_a_transition_once(tmp_path):
    """issue 13 B: the state file is read-modify-written under its lock, so a second evaluator (another
    `mlops alarms eval --state`) sees the first one's transition instead of overwriting it."""
    store, clock = MemoryMetrics(), ManualClock(T0)
    state = tmp_path / "alarms.json"
    first = AlarmEvaluator(store, [rule()], clock, state_path=state)
    second = AlarmEvaluator(store, [rule()], clock, state_path=state)  # loaded before first saved
    put(store, 150, clock.t - 1)
    assert [e.status for e in first.evaluate()] == ["FIRING"]
    assert second.evaluate() == []  # not FIRING a second time
    assert json.loads(state.read_text())["rules"]["lat"]["streams"]
    assert state.stat().st_mode & 0o777 == 0o600
