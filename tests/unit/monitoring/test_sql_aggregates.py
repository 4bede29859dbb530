"""The local evaluator's statistics computed inside SQLite (issue 13 F: memory must not grow with traffic).

An evaluation used to load every point of each rule's window (up to 15 minutes of invocations) into Python
lists, so the runtime's memory grew with requests per second x window (found by bench_soak.py). SQLite now
computes count/sum/mean/max/min/percentile itself; these tests pin that its answers are the evaluator's own
definitions, and that an evaluation over SQLite no longer reads the points at all.
"""

from __future__ import annotations

import random

import pytest
from mlops.monitoring.alarms import AlarmRule
from mlops.monitoring.defaults import default_rules
from mlops.monitoring.evaluator import AlarmEvaluator, aggregate
from mlops.monitoring.metrics import MemoryMetrics, MetricPoint, invocation_points
from mlops.monitoring.sqlite import SqliteMetrics

T0 = 1_800_000_000.0


@pytest.mark.parametrize("seed", range(5))
def test_sql_statistics_equal_the_evaluators_definitions(tmp_path, seed):
    rng = random.Random(seed)
    store = SqliteMetrics(tmp_path / "m.sqlite")
    pts = [
        MetricPoint(
            "mlops",
            "latency",
            rng.choice([rng.uniform(0, 500), float(rng.randint(0, 9))]),
            {"endpoint": rng.choice(["a", "b", "c"])},
            T0 + rng.uniform(-30, 90),
            rng.choice([1, 1, 1, 3]),
        )
        for _ in range(rng.randint(1, 400))
    ]
    store.put(pts)
    found = store.stream_ids("mlops", "latency", None)
    ids = [sid for sid, _d in found]
    start, end = T0, T0 + 60
    points = [(p.ts, p.value, p.count) for p in pts if start < p.ts <= end]
    for stat in ("count", "sum", "mean", "avg", "max", "min"):
        want = aggregate(stat, points)
        got = store.aggregate_window(ids, start, end, stat)
        assert (got is None) == (want is None), stat
        if want is not None:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-9), stat
    for q in (0.01, 0.5, 0.9, 0.99, 0.999):
        assert store.aggregate_window(ids, start, end, "percentile", q) == aggregate(
            "percentile", points, percentile=q
        )
    assert store.aggregate_window(ids, T0 + 1000, T0 + 2000, "percentile", 0.99) is None
    store.close()


class NoPointsSqlite(SqliteMetrics):
    def query_streams(self, *a, **kw):  # an evaluation must not load the window's points any more
        raise AssertionError("the evaluator loaded the points of a window")


def test_an_evaluation_over_sqlite_reads_no_points_and_decides_as_over_the_points(tmp_path):
    rules = default_rules(["churn"], []) + [
        AlarmRule(
            name="grouped-p50",
            namespace="oci_faas",
            metric="FunctionExecutionDuration",
            dimensions={},
            interval="5m",
            statistic="percentile",
            percentile=0.5,
            operator=">",
            threshold=4.0,
            grouping=True,
        )
    ]
    sql, mem = NoPointsSqlite(tmp_path / "m.sqlite"), MemoryMetrics()
    t = T0
    events = {"sql": [], "mem": []}
    evs = {"sql": AlarmEvaluator(sql, rules, lambda: t), "mem": AlarmEvaluator(mem, rules, lambda: t)}
    rng = random.Random(7)
    for minute in range(8):
        t = T0 + 60 * minute
        batch = []
        for i in range(300):
            slow = minute >= 2
            batch += invocation_points(
                "inference-churn-stable", 200, (1500.0 if slow else 3.0) + rng.random(), t - 60 + i * 0.2
            )
            batch += invocation_points(
                "inference-churn-canary", 502 if i % 25 == 0 else 200, 4.0 + rng.random(), t - 60 + i * 0.2
            )
        sql.put(batch)
        mem.put(batch)
        for k in evs:
            events[k] += [
                (minute, e.rule.name, e.status, round(e.value, 9), tuple(sorted(e.dimensions.items())))
                for e in evs[k].evaluate()
            ]
    assert events["sql"] == events["mem"]
    names = {ev[1] for ev in events["sql"]}
    assert {"canary-errors-churn", "latency-p99-inference-churn-stable", "grouped-p50"} <= names
    sql.close()
