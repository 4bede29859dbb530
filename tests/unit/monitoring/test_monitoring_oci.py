"""OciMonitoringSink and OnsNotifier through the real oci SDK against a loopback fake of OCI."""

from __future__ import annotations

import json

import pytest
from mlops.errors import (
    BadRequestError,
    PayloadTooLargeError,
    RateLimitedError,
    UnavailableError,
    UnprocessableError,
)
from mlops.monitoring.metrics import MetricPoint, invocation_points
from mlops.monitoring.notify import MAX_MESSAGE_BYTES, OnsNotifier
from mlops.monitoring.oci import OciMonitoringSink, telemetry_ingestion_endpoint, validate_namespace

from .conftest import verify_signature

NOW = 1_800_000_000.0
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaatest"


def sink(client, **kw):
    return OciMonitoringSink(client, COMPARTMENT, clock=lambda: NOW, **kw)


def point(name="confidence_mean", value=0.9, ts=NOW - 30, count=1, **dims):
    return MetricPoint("mlops", name, value, dims or {"endpoint": "churn", "variant": "stable"}, ts, count)


def test_posts_signed_non_atomic_batch_grouping_datapoints_of_one_stream(
    fake_oci, monitoring_client, rsa_key
):
    s = sink(monitoring_client, units={"confidence_mean": "ratio"})
    s.put(
        [
            point(value=0.9, ts=NOW - 60, count=10),
            point(value=0.8, ts=NOW - 30, count=5),
            point(value=0.7, endpoint="churn", variant="canary"),
        ]
    )
    assert len(fake_oci.requests) == 1
    req = fake_oci.requests[0]
    assert req.path == "/20180401/metrics"
    verify_signature(req, rsa_key.public_key())
    body = req.json
    assert body["batchAtomicity"] == "NON_ATOMIC"
    streams = {json.dumps(md["dimensions"], sort_keys=True): md for md in body["metricData"]}
    assert len(streams) == 2
    stable = streams[json.dumps({"endpoint": "churn", "variant": "stable"}, sort_keys=True)]
    assert stable["namespace"] == "mlops" and stable["name"] == "confidence_mean"
    assert stable["compartmentId"] == COMPARTMENT
    assert stable["metadata"] == {"unit": "ratio"}
    assert [(d["value"], d["count"]) for d in stable["datapoints"]] == [(0.9, 10), (0.8, 5)]
    assert stable["datapoints"][0]["timestamp"].startswith("2027-01-15T07:59:00")


def test_splits_into_calls_of_at_most_50_streams(fake_oci, monitoring_client):
    pts = [point(value=float(i), endpoint=f"e{i}", variant="stable") for i in range(120)]
    pts += [point(value=1.0, endpoint="e0", variant="stable", ts=NOW - 10)]  # same stream as e0
    s = sink(monitoring_client)
    s.put(pts)
    sizes = [len(r.json["metricData"]) for r in fake_oci.requests]
    assert sizes == [50, 50, 20] and s.calls == 3
    sent = [md for r in fake_oci.requests for md in r.json["metricData"]]
    assert len({json.dumps(md["dimensions"], sort_keys=True) for md in sent}) == 120
    assert sum(len(md["datapoints"]) for md in sent) == 121


@pytest.mark.parametrize(
    "namespace,needle",
    [
        ("oci_faas", "reserved"),
        ("oracle_x", "reserved"),
        ("1mlops", "start with a letter"),
        ("ml-ops", "letters, digits and '_'"),
        ("", "start with a letter"),
    ],
)
def test_namespace_rules(namespace, needle):
    with pytest.raises(UnprocessableError, match=needle):
        validate_namespace(namespace)


@pytest.mark.parametrize(
    "bad,needle",
    [
        (MetricPoint("mlops", "bad name", 1.0, {"a": "b"}, NOW), "metric name"),
        (MetricPoint("mlops", "9lives", 1.0, {"a": "b"}, NOW), "metric name"),
        (MetricPoint("mlops", "m", 1.0, {}, NOW), "at least one dimension"),
        (MetricPoint("mlops", "m", 1.0, {"has space": "b"}, NOW), "dimension key"),
        (MetricPoint("mlops", "m", 1.0, {"a": ""}, NOW), "non-empty"),
        (MetricPoint("mlops", "m", 1.0, {"a": "x" * 513}, NOW), "at most 512"),
        (MetricPoint("mlops", "m", 1.0, {f"k{i}": "v" for i in range(21)}, NOW), "at most 20"),
        (MetricPoint("mlops", "m", float("nan"), {"a": "b"}, NOW), "finite"),
        (MetricPoint("mlops", "m", 1.0, {"a": "b"}, NOW, 0), "count"),
        (MetricPoint("mlops", "m", 1.0, {"a": "b"}, NOW - 2 * 3600 - 1), "2 hours old"),
        (MetricPoint("mlops", "m", 1.0, {"a": "b"}, NOW + 601), "10 minutes ahead"),
        (MetricPoint("oci_faas", "FunctionInvocationCount", 1.0, {"a": "b"}, NOW), "reserved"),
    ],
)
def test_invalid_points_fail_the_batch_before_anything_is_sent(fake_oci, monitoring_client, bad, needle):
    with pytest.raises(UnprocessableError, match=needle):
        sink(monitoring_client).put([point(), bad])
    assert fake_oci.requests == []


def test_edges_of_the_time_window_are_accepted(fake_oci, monitoring_client):
    sink(monitoring_client).put([point(ts=NOW - 2 * 3600 + 1), point(ts=NOW + 599, variant="canary")])
    assert len(fake_oci.requests) == 1


def test_oci_faas_twin_points_cannot_be_posted_as_custom_metrics(monitoring_client):
    with pytest.raises(UnprocessableError, match="oci_faas metrics come from OCI Functions"):
        sink(monitoring_client).put(invocation_points("inference-churn-stable", 200, 3.0, NOW))


def test_partial_rejection_is_recorded(fake_oci, monitoring_client):
    fake_oci.answers.append(
        (
            200,
            {
                "failedMetricsCount": 1,
                "failedMetrics": [
                    {
                        "message": "dimension value too long",
                        "metricData": {
                            "namespace": "mlops",
                            "name": "confidence_mean",
                            "compartmentId": COMPARTMENT,
                            "dimensions": {"endpoint": "churn"},
                            "datapoints": [],
                        },
                    }
                ],
            },
        )
    )
    s = sink(monitoring_client)
    s.put([point()])
    assert s.last_failures == [
        {
            "message": "dimension value too long",
            "name": "confidence_mean",
            "dimensions": {"endpoint": "churn"},
        }
    ]


@pytest.mark.parametrize(
    "status,code,error",
    [
        (429, "TooManyRequests", RateLimitedError),
        (400, "InvalidParameter", BadRequestError),
        (500, "InternalServerError", UnavailableError),
    ],
)
def test_service_errors_map_to_the_error_family(fake_oci, monitoring_client, status, code, error):
    fake_oci.answers.append((status, {"code": code, "message": "nope"}))
    with pytest.raises(error, match=code):
        sink(monitoring_client).put([point()])


def test_unreachable_endpoint_is_unavailable(oci_config):
    import socket

    import oci

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = oci.monitoring.MonitoringClient(
        oci_config,
        service_endpoint=f"http://127.0.0.1:{port}",
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=(2, 2),
    )
    with pytest.raises(UnavailableError, match="PostMetricData failed"):
        sink(client).put([point()])


def test_ingestion_endpoint_is_the_telemetry_ingestion_host():
    assert (
        telemetry_ingestion_endpoint("eu-frankfurt-1")
        == "https://telemetry-ingestion.eu-frankfurt-1.oraclecloud.com"
    )
    with pytest.raises(UnprocessableError):
        telemetry_ingestion_endpoint("eu frankfurt")


# ----------------------------------------------------------------------------- ONS


def test_ons_publish_message_sends_title_and_json_body(fake_oci, ons_client, rsa_key):
    topic = "ocid1.onstopic.oc1..aaaaaaaatopic"
    OnsNotifier(ons_client, topic).publish(
        "FIRING CRITICAL: canary-errors-churn", {"type": "OK_TO_FIRING", "n": 1}
    )
    req = fake_oci.requests[0]
    assert req.path == f"/20181201/topics/{topic}/messages"
    verify_signature(req, rsa_key.public_key())
    assert req.json["title"] == "FIRING CRITICAL: canary-errors-churn"
    assert json.loads(req.json["body"]) == {"type": "OK_TO_FIRING", "n": 1}


def test_ons_refuses_more_than_64_kb_without_calling(fake_oci, ons_client):
    with pytest.raises(PayloadTooLargeError):
        OnsNotifier(ons_client, "ocid1.onstopic.oc1..t").publish("t", "x" * (MAX_MESSAGE_BYTES + 1))
    assert fake_oci.requests == []
    OnsNotifier(ons_client, "ocid1.onstopic.oc1..t").publish("t", "x" * MAX_MESSAGE_BYTES)
    assert len(fake_oci.requests) == 1


def test_ons_throttling_is_rate_limited(fake_oci, ons_client):
    fake_oci.answers.append((429, {"code": "TooManyRequests", "message": "60 per minute"}))
    with pytest.raises(RateLimitedError):
        OnsNotifier(ons_client, "ocid1.onstopic.oc1..t").publish("t", "b")
