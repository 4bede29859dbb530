"""One contract suite for every readable metrics store, plus BufferedSink and the producers' helpers."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from mlops.errors import UnavailableError, UnprocessableError
from mlops.monitoring import metrics as m
from mlops.monitoring.buffered import BufferedSink
from mlops.monitoring.metrics import MemoryMetrics, MetricPoint, MetricsSink, VariantWindow
from mlops.monitoring.sqlite import SqliteMetrics

T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = MemoryMetrics() if request.param == "memory" else SqliteMetrics(tmp_path / "metrics.sqlite")
    yield s
    s.close()


def p(name="latency", value=1.0, ts=T0, count=1, ns="mlops", **dims):
    return MetricPoint(ns, name, value, dims or {"endpoint": "churn"}, ts, count)


# ----------------------------------------------------------------------------- contract


def test_round_trip_by_stream_with_counts(store):
    store.put(
        [p(value=1.0, ts=T0 + 1, count=3), p(value=2.0, ts=T0 + 2), p(value=5.0, ts=T0 + 3, endpoint="other")]
    )
    streams = store.query_streams("mlops", "latency", None, T0, T0 + 10)
    assert [(s.dimensions, s.points) for s in streams] == [
        ({"endpoint": "churn"}, [(T0 + 1, 1.0, 3), (T0 + 2, 2.0, 1)]),
        ({"endpoint": "other"}, [(T0 + 3, 5.0, 1)]),
    ]
    assert store.query("mlops", "latency", None, T0, T0 + 10) == [(T0 + 1, 1.0), (T0 + 2, 2.0), (T0 + 3, 5.0)]


def test_filter_is_a_subset_match_and_names_and_namespaces_are_separate(store):
    store.put(
        [
            p(endpoint="churn", variant="stable"),
            p(endpoint="churn", variant="canary", value=2.0),
            p(name="other", endpoint="churn", variant="stable", value=3.0),
            p(ns="oci_faas", endpoint="churn", variant="stable", value=4.0),
        ]
    )
    assert sorted(v for _t, v in store.query("mlops", "latency", {"endpoint": "churn"})) == [1.0, 2.0]
    assert [v for _t, v in store.query("mlops", "latency", {"variant": "canary"})] == [2.0]
    assert store.query("mlops", "latency", {"variant": "shadow"}) == []
    assert [v for _t, v in store.query("oci_faas", "latency")] == [4.0]


def test_window_excludes_its_start_and_includes_its_end(store):
    store.put([p(ts=T0), p(ts=T0 + 60), p(ts=T0 + 61)])
    assert [t for t, _v in store.query("mlops", "latency", None, T0, T0 + 60)] == [T0 + 60]
    assert [t for t, _v in store.query("mlops", "latency", None, T0 - 1, T0)] == [T0]


def test_dimension_order_does_not_split_a_stream(store):
    store.put(
        [
            MetricPoint("mlops", "x", 1.0, {"a": "1", "b": "2"}, T0),
            MetricPoint("mlops", "x", 2.0, {"b": "2", "a": "1"}, T0 + 1),
        ]
    )
    assert len(store.query_streams("mlops", "x", None, T0 - 1, T0 + 1)) == 1


@pytest.mark.parametrize(
    "bad",
    [
        p(name="has space"),
        MetricPoint("mlops", "x", 1.0, {}, T0),
        p(value=float("inf")),
        p(count=0),
        p(ts=float("nan")),
    ],
)
def test_invalid_points_are_refused_and_nothing_is_written(store, bad):
    with pytest.raises(UnprocessableError):
        store.put([p(), bad])
    assert store.query("mlops", "latency") == []


def test_sqlite_persists_across_reopen_and_prunes(tmp_path):
    path = tmp_path / "m.sqlite"
    with SqliteMetrics(path) as s:
        s.put([p(ts=T0 - 7200), p(ts=T0)])
    with SqliteMetrics(path) as s:
        assert len(s.query("mlops", "latency")) == 2
        assert s.names() == [("mlops", "latency", 1)]
        assert s.prune(3600, now=T0) == 1
        assert s.query("mlops", "latency") == [(T0, 1.0)]


def test_sqlite_uses_wal(tmp_path):
    with SqliteMetrics(tmp_path / "m.sqlite") as s:
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _writer(path: str, worker: int, n: int) -> None:
    s = SqliteMetrics(path)
    for i in range(n):  # one transaction per small batch: many interleaved writers
        s.put([MetricPoint("mlops", "w", float(i), {"worker": str(worker), "k": str(i % 3)}, T0 + i)])
    s.close()


def test_sqlite_several_processes_write_concurrently_without_losing_points(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    SqliteMetrics(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 150)) for w in range(4)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    with SqliteMetrics(path) as s:
        streams = s.query_streams("mlops", "w", None, T0 - 1, T0 + 1000)
        assert len(streams) == 12  # 4 workers x 3 k values, each stream created once
        assert sum(len(st.points) for st in streams) == 600


def test_sqlite_threads_share_one_store(tmp_path):
    s = SqliteMetrics(tmp_path / "m.sqlite")

    def work(k):
        for i in range(100):
            s.put([p(ts=T0 + i, worker=str(k))])

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert len(s.query("mlops", "latency")) == 400
    s.close()


def test_sqlite_unwritable_location_is_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((UnavailableError, OSError)):
        SqliteMetrics(blocker / "m.sqlite")


# ----------------------------------------------------------------------------- BufferedSink


class Recording(MetricsSink):
    def __init__(self, fail: int = 0, refuse=None):
        self.batches: list[list[MetricPoint]] = []
        self.fail = fail
        self.refuse = refuse
        self.wrote = threading.Event()

    def put(self, points):
        if self.fail:
            self.fail -= 1
            raise UnavailableError("down")
        for q in points:
            self.check(q)
        self.batches.append(list(points))
        self.wrote.set()

    def check(self, point):
        m.validate_point(point)
        if self.refuse and self.refuse(point):
            raise UnprocessableError("refused")

    @property
    def points(self):
        return [q for b in self.batches for q in b]


def test_buffered_put_only_appends_and_close_flushes():
    inner = Recording()
    b = BufferedSink(inner, max_points=1000, max_delay_s=60)
    b.put([p(value=float(i)) for i in range(10)])
    assert inner.points == [] and b.pending() == 10
    b.close()
    assert [q.value for q in inner.points] == [float(i) for i in range(10)]
    with pytest.raises(RuntimeError):
        b.put([p()])


def test_buffered_flushes_from_the_background_when_max_points_wait():
    inner = Recording()
    b = BufferedSink(inner, max_points=5, max_delay_s=60)
    caller = threading.get_ident()
    seen = []
    orig = inner.put
    inner.put = lambda pts: (seen.append(threading.get_ident()), orig(pts))
    b.put([p() for _ in range(5)])
    assert inner.wrote.wait(10)
    assert seen and seen[0] != caller
    b.close()


def test_buffered_flushes_after_max_delay():
    inner = Recording()
    b = BufferedSink(inner, max_points=1000, max_delay_s=0.05)
    b.add(p())
    assert inner.wrote.wait(10)
    assert len(inner.points) == 1
    b.close()


def test_buffered_keeps_points_while_the_sink_is_down_and_writes_them_later():
    inner = Recording(fail=2)
    b = BufferedSink(inner, max_points=1000, max_delay_s=60)
    b.put([p(value=1.0)])
    b.flush()
    b.put([p(value=2.0)])
    b.flush()
    assert inner.points == [] and b.pending() == 2
    b.flush()
    assert [q.value for q in inner.points] == [1.0, 2.0] and b.dropped == 0
    b.close()


def test_buffered_drops_invalid_points_and_writes_the_rest():
    inner = Recording(refuse=lambda q: q.value < 0)
    b = BufferedSink(inner, max_points=1000, max_delay_s=60)
    b.put([p(value=1.0), p(value=-1.0), p(value=2.0)])
    b.close()
    assert [q.value for q in inner.points] == [1.0, 2.0] and b.dropped == 1


def test_buffered_caps_memory_when_the_sink_stays_down():
    inner = Recording(fail=10**6)
    b = BufferedSink(inner, max_points=10, max_delay_s=60, max_buffer=50)
    for i in range(200):
        b.put([p(value=float(i))])
    assert b.pending() <= 50 and b.dropped >= 150
    inner.fail = 0
    b.close()
    assert [q.value for q in inner.points] == [float(i) for i in range(150, 200)]


# ----------------------------------------------------------------------------- producers' helpers


def test_invocation_points_are_the_oci_faas_twin():
    pts = m.invocation_points(
        "inference-churn-canary", 502, 12.5, T0, application="mlops-dev-app", application_id="app1"
    )
    assert [(q.namespace, q.name, q.value) for q in pts] == [
        ("oci_faas", "FunctionInvocationCount", 1.0),
        ("oci_faas", "FunctionExecutionDuration", 12.5),
        ("oci_faas", "FunctionResponseCount", 1.0),
    ]
    assert pts[0].dimensions == {
        "resourceId": "local:fn:inference-churn-canary",
        "resourceDisplayName": "mlops-dev-app:inference-churn-canary",
        "applicationId": "app1",
    }
    assert pts[2].dimensions["responseType"] == "Error"
    assert [m.response_type(s) for s in (200, 204, 429, 502, 504)] == [
        "Success",
        "Success",
        "Throttled",
        "Error",
        "Error",
    ]


def test_window_and_drift_points_follow_the_contract():
    d = m.drift_points("mlops", "churn", "churn", 3, drifted=True, drift_share=0.4, ts=T0)
    assert [(q.name, q.value, dict(q.dimensions)) for q in d] == [
        ("drift_detected", 1.0, {"endpoint": "churn", "model": "churn", "version": "3"}),
        ("drift_share", 0.4, {"endpoint": "churn", "model": "churn", "version": "3"}),
    ]
    w = m.window_points("mlops", "churn", "churn", 3, "canary", predictions=40, confidence_mean=0.8, ts=T0)
    assert [(q.name, q.count) for q in w] == [("prediction_count", 1), ("confidence_mean", 40)]
    assert w[1].dimensions["variant"] == "canary"
    for q in d + w:
        m.validate_point(q)


def test_canary_points_need_traffic_on_both_sides():
    stable = VariantWindow(predictions=100, latency_p99_ms=2.0, confidence_mean=0.9)
    assert (
        m.canary_points("mlops", "churn", stable, VariantWindow(predictions=5, latency_p99_ms=9.0), ts=T0)
        == []
    )
    pts = m.canary_points(
        "mlops",
        "churn",
        stable,
        VariantWindow(predictions=50, latency_p99_ms=6.0, confidence_mean=0.6),
        ts=T0,
    )
    assert {q.name: round(q.value, 6) for q in pts} == {
        "canary_latency_ratio": 3.0,
        "canary_confidence_drop": 0.3,
    }
