"""The metrics readers the console charts from: SQLite (bucketed in SQL) and OCI Monitoring
SummarizeMetricsData through the real oci SDK against the loopback fake."""

from __future__ import annotations

import pytest
from mlops.errors import BadRequestError
from mlops.monitoring.evaluator import aggregate
from mlops.monitoring.metrics import MetricPoint
from mlops.monitoring.reader import OciMetricsReader, SqliteMetricsReader, mql_query, weighted_percentile
from mlops.monitoring.sqlite import SqliteMetrics

from .conftest import verify_signature

T0 = 1_800_000_000.0
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaatest"


@pytest.fixture
def sqlite(tmp_path):
    store = SqliteMetrics(tmp_path / "m.sqlite")
    pts = []
    for i in range(120):  # two streams, one point a minute for two hours; values 0..119 and 1000+
        pts.append(MetricPoint("ns", "lat", float(i), {"fn": "a", "v": "s"}, T0 + 60 * (i + 1), 1 + i % 3))
        pts.append(MetricPoint("ns", "lat", 1000.0 + i, {"fn": "b", "v": "s"}, T0 + 60 * (i + 1)))
    store.put(pts)
    yield store
    store.close()


def test_sqlite_series_buckets_end_inclusive_and_match_the_evaluator(sqlite):
    r = SqliteMetricsReader(sqlite)
    sums = r.series("ns", "lat", {"fn": "a"}, T0, T0 + 7200, 600, "count")
    assert len(sums) == 12 and sum(sums) == sum(1 + i % 3 for i in range(120))
    # bucket 0 is (T0, T0+600]: points 1..10 minutes, the one on the bucket's end included
    assert sums[0] == sum(1 + i % 3 for i in range(10))
    p99 = r.series("ns", "lat", {"fn": "a"}, T0, T0 + 7200, 3600, "percentile", 0.99)
    first = [(float(i), 1 + i % 3) for i in range(60)]
    assert p99[0] == aggregate("percentile", [(0.0, v, c) for v, c in first], percentile=0.99)
    p50, p90 = r.percentile_series("ns", "lat", {"fn": "a"}, T0, T0 + 7200, 3600, (0.5, 0.9))
    assert p50[1] == weighted_percentile(sorted((float(i), 1 + i % 3) for i in range(60, 120)), 0.5)
    assert p90[1] > p50[1]
    means = r.series("ns", "lat", {"fn": "a"}, T0 - 3600, T0 + 7200, 3600, "mean")
    assert means[0] is None and means[1] is not None  # an empty bucket is None, not 0
    with pytest.raises(BadRequestError):
        r.series("ns", "lat", {}, T0, T0 + 60, 60, "median")


def test_sqlite_grouped_aggregates_in_one_scan(sqlite):
    r = SqliteMetricsReader(sqlite)
    groups = r.aggregate_groups("ns", "lat", {}, ("fn",), T0, T0 + 7200, "max")
    assert groups == {("a",): 119.0, ("b",): 1119.0}
    counts = r.aggregate_groups("ns", "lat", {"v": "s"}, ("v",), T0 + 3600, T0 + 7200, "count")
    assert counts == {("s",): sum(1 + i % 3 for i in range(60, 120)) + 60}
    p = r.aggregate_groups("ns", "lat", {}, ("fn",), T0, T0 + 7200, "percentile", 0.5)
    assert p[("b",)] == 1059.0
    assert r.aggregate_groups("ns", "nope", {}, ("fn",), T0, T0 + 7200, "sum") == {}


def test_mql_query_for_summarize():
    q = mql_query("FunctionExecutionDuration", {"resourceDisplayName": "app:fn"}, 900, "percentile", 0.99)
    assert q == 'FunctionExecutionDuration[15m]{resourceDisplayName = "app:fn"}.percentile(0.99)'
    assert mql_query("prediction_count", {}, 21600, "sum", None) == "prediction_count[6h].sum()"


def _item(dims, points):
    return {
        "namespace": "oci_faas",
        "name": "FunctionExecutionDuration",
        "dimensions": dims,
        "aggregatedDatapoints": [{"timestamp": ts, "value": v} for ts, v in points],
    }


def test_oci_reader_asks_summarize_metrics_data_and_buckets_the_answer(fake_oci, monitoring_client, rsa_key):
    from datetime import UTC, datetime

    def stamp(t):
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

    fake_oci.answers.append(
        (200, [_item({"resourceDisplayName": "app:fn"}, [(stamp(T0 + 900), 12.5), (stamp(T0 + 2700), 40.0)])])
    )
    r = OciMetricsReader(monitoring_client, COMPARTMENT)
    out = r.series(
        "oci_faas",
        "FunctionExecutionDuration",
        {"resourceDisplayName": "app:fn"},
        T0,
        T0 + 3600,
        900,
        "percentile",
        0.99,
    )
    assert out == [12.5, None, 40.0, None]  # OCI stamps an interval with its end
    (req,) = fake_oci.requests
    assert req.path.startswith("/20180401/metrics/actions/summarizeMetricsData")
    assert f"compartmentId={COMPARTMENT}" in req.path.replace("%3A", ":")
    verify_signature(req, rsa_key.public_key())
    body = req.json
    assert body["namespace"] == "oci_faas" and body["resolution"] == "15m"
    assert body["query"] == 'FunctionExecutionDuration[15m]{resourceDisplayName = "app:fn"}.percentile(0.99)'
    assert body["startTime"].startswith("2027-01-15T08:00:00") and body["endTime"].startswith(
        "2027-01-15T09:00:00"
    )


def test_oci_reader_groups_streams_by_their_dimensions(fake_oci, monitoring_client):
    from datetime import UTC, datetime

    ts = datetime.fromtimestamp(T0 + 3600, UTC).isoformat()
    fake_oci.answers.append(
        (
            200,
            [
                _item({"resourceDisplayName": "app:a"}, [(ts, 3.0)]),
                _item({"resourceDisplayName": "app:b"}, [(ts, 5.0)]),
            ],
        )
    )
    r = OciMetricsReader(monitoring_client, COMPARTMENT)
    got = r.aggregate_groups(
        "oci_faas", "FunctionInvocationCount", {}, ("resourceDisplayName",), T0, T0 + 3600, "sum"
    )
    assert got == {("app:a",): 3.0, ("app:b",): 5.0}
    assert fake_oci.requests[0].json["query"] == "FunctionInvocationCount[1h].sum()"


def test_oci_reader_maps_a_rejected_query_to_a_400(fake_oci, monitoring_client):
    fake_oci.answers.append((400, {"code": "InvalidParameter", "message": "bad query"}))
    with pytest.raises(BadRequestError, match="bad query"):
        OciMetricsReader(monitoring_client, COMPARTMENT).series("mlops", "x", {}, T0, T0 + 60, 60, "sum")


def test_sqlite_series_keep_final_buckets_and_rescan_only_the_recent_ones(sqlite):
    r = SqliteMetricsReader(sqlite)
    end = T0 + 7200 + 3 * 3600  # the data's two hours are final: they ended over 2 h before the end
    first = r.series("ns", "lat", {"fn": "a"}, T0, end, 600, "sum")
    pcts = r.percentile_series("ns", "lat", {"fn": "a"}, T0, end, 600, (0.5, 0.99))
    sqlite.put(
        [MetricPoint("ns", "lat", 7.0, {"fn": "a", "v": "s"}, end - 30)]
    )  # a new point, in the last bucket
    again = r.series("ns", "lat", {"fn": "a"}, T0, end, 600, "sum")
    fresh = SqliteMetricsReader(sqlite).series("ns", "lat", {"fn": "a"}, T0, end, 600, "sum")
    assert again == fresh and again[:-1] == first[:-1] and again[-1] == 7.0 and first[-1] is None
    assert r.percentile_series("ns", "lat", {"fn": "a"}, T0, end, 600, (0.5, 0.99))[0][:-1] == pcts[0][:-1]
    assert r._final  # the final buckets were kept
