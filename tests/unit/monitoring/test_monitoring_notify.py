"""Alarm messages in OCI's shape, and every notifier: NDJSON, webhook, function, fan-out."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlops.errors import BadRequestError, ConfigError, PayloadTooLargeError, UnavailableError
from mlops.monitoring.defaults import default_rules
from mlops.monitoring.evaluator import AlarmEvaluator
from mlops.monitoring.metrics import MemoryMetrics, MetricPoint, invocation_points
from mlops.monitoring.notify import (
    MAX_MESSAGE_BYTES,
    FanOut,
    FunctionNotifier,
    NdjsonNotifier,
    Notifier,
    WebhookNotifier,
    format_action_message,
    format_alarm_message,
    parse_alarm_message,
    publish_events,
    read_ndjson_messages,
)

T0 = 1_800_000_000.0


@pytest.fixture()
def canary_events():
    """The FIRING event of canary-errors-churn after ten 502s of the canary function."""
    store = MemoryMetrics()
    store.put([p for i in range(10) for p in invocation_points("inference-churn-canary", 502, 5.0, T0 - i)])
    return AlarmEvaluator(store, default_rules(["churn"], []), lambda: T0).evaluate()


def test_message_has_the_shape_oci_sends_to_function_subscribers(canary_events):
    firing = canary_events
    [event] = firing
    title, body = format_alarm_message(event)
    assert (
        title == "FIRING CRITICAL: canary-errors-churn (resourceDisplayName=local:inference-churn-canary, "
        "resourceId=local:fn:inference-churn-canary, responseType=Error)"
    )
    assert set(body) == {
        "dedupeKey",
        "title",
        "body",
        "type",
        "severity",
        "timestampEpochMillis",
        "timestamp",
        "alarmMetaData",
        "notificationType",
        "version",
    }
    assert (body["type"], body["severity"], body["title"]) == (
        "OK_TO_FIRING",
        "CRITICAL",
        "canary-errors-churn",
    )
    assert body["timestampEpochMillis"] == T0 * 1000 and body["timestamp"] == "2027-01-15T08:00:00.000Z"
    [md] = body["alarmMetaData"]
    assert set(md) >= {
        "id",
        "status",
        "severity",
        "namespace",
        "query",
        "totalMetricsFiring",
        "dimensions",
        "alarmSummary",
        "metricValues",
    }
    assert md["status"] == "FIRING" and md["totalMetricsFiring"] == 1 and md["namespace"] == "oci_faas"
    assert md["query"] == event.rule.to_mql()
    assert md["dimensions"] == [
        {
            "resourceId": "local:fn:inference-churn-canary",
            "resourceDisplayName": "local:inference-churn-canary",
            "responseType": "Error",
        }
    ]
    assert md["metricValues"] == [{event.rule.metric_expression(): "10"}]
    text = body["body"]
    for needle in (
        "What:",
        "Where: resourceDisplayName=local:inference-churn-canary",
        "How bad:",
        "10 > 3",
        "Action pending: rollback_canary churn",
    ):
        assert needle in text
    assert len(json.dumps(body).encode()) <= MAX_MESSAGE_BYTES


def test_action_taken_is_reported(canary_events):
    _title, body = format_alarm_message(canary_events[0], "canary weight of churn set to 0 (was 1000 bp)")
    assert "Action taken: canary weight of churn set to 0 (was 1000 bp)" in body["body"]


def test_same_stream_same_dedupe_key(canary_events):
    firing = canary_events
    a = format_alarm_message(firing[0])[1]["dedupeKey"]
    b = format_alarm_message(firing[0], "x")[1]["dedupeKey"]
    assert a == b and len(a) == 36


def test_parse_round_trip(canary_events):
    _title, body = format_alarm_message(canary_events[0])
    for payload in (body, json.dumps(body), json.dumps(body).encode(), [body]):
        n = parse_alarm_message(payload)
        assert n.firing and n.rule == "canary-errors-churn" and n.kind == "canary-errors"
        assert n.actions == {"rollback_canary": "churn"}
        assert n.dimensions() == [
            {
                "resourceId": "local:fn:inference-churn-canary",
                "resourceDisplayName": "local:inference-churn-canary",
                "responseType": "Error",
            }
        ]


def test_parse_an_alarm_message_as_oci_sends_it():
    """A message as OCI Monitoring posts it for an alarm created from ``AlarmRule.to_alarm_args``."""
    rule = next(r for r in default_rules(["churn"], []) if r.name == "drift-churn")
    args = rule.to_alarm_args("ocid1.compartment.oc1..c", "ocid1.onstopic.oc1..t")
    oci_message = {
        "dedupeKey": "1c0e8f3a-0c1b-4d55-9d7e-3b6f1f7d1a2b",
        "title": args["display_name"],
        "body": args["body"],
        "type": "REPEAT",
        "severity": "WARNING",
        "timestampEpochMillis": 1763830800000,
        "timestamp": "2025-11-22T17:00:00Z",
        "alarmMetaData": [
            {
                "id": "ocid1.alarm.oc1.eu-frankfurt-1.aaaa",
                "status": "FIRING",
                "severity": "WARNING",
                "namespace": "mlops",
                "query": args["query"],
                "totalMetricsFiring": 1,
                "dimensions": [{"endpoint": "churn", "model": "churn", "version": "7"}],
                "alarmUrl": "https://cloud.oracle.com/monitoring/alarms/ocid1.alarm.oc1..aaaa",
                "alarmSummary": 'Alarm "drift-churn" is in a "FIRING" state',
                "metricValues": [{rule.metric_expression(): "1.00"}],
            }
        ],
        "notificationType": "Split messages per metric stream",
        "version": 1.5,
    }
    n = parse_alarm_message(json.dumps(oci_message).encode())
    assert n.firing and n.type == "REPEAT"
    assert (n.rule, n.kind, n.actions) == ("drift-churn", "drift", {"retrain": "churn"})
    assert n.dimensions() == [{"endpoint": "churn", "model": "churn", "version": "7"}]
    assert n.streams[0].alarm_id.startswith("ocid1.alarm")


def test_an_ok_message_is_not_firing():
    store = MemoryMetrics()
    [rule] = [r for r in default_rules(["churn"], []) if r.name == "canary-errors-churn"]
    ev = AlarmEvaluator(store, [rule], lambda: T0)
    errors = [
        MetricPoint(
            "oci_faas",
            "FunctionResponseCount",
            1.0,
            {"resourceId": "local:fn:inference-churn-canary", "responseType": "Error"},
            t,
        )
        for t in (T0 - 3, T0 - 2, T0 - 1, T0)
    ]
    store.put(errors)
    assert [e.status for e in ev.evaluate()] == ["FIRING"]
    store.put([errors[0]._replace(ts=T0 + 599)])  # one error in the next window: below the threshold
    [ok] = ev.evaluate(T0 + 600)
    title, body = format_alarm_message(ok)
    assert title.startswith("OK: canary-errors-churn cleared") and body["type"] == "FIRING_TO_OK"
    assert body["alarmMetaData"][0]["totalMetricsFiring"] == 0
    assert not parse_alarm_message(body).firing
    assert "No automatic action." in body["body"]


@pytest.mark.parametrize("payload", [b"not json", "[]", {"title": "x"}, {"type": "OK_TO_FIRING"}, [{}, {}]])
def test_parse_rejects_what_is_not_an_alarm(payload):
    with pytest.raises(BadRequestError):
        parse_alarm_message(payload)


def test_action_message():
    title, body = format_action_message(
        "canary of churn rolled back",
        endpoint="churn",
        rule="canary-errors-churn",
        details={"weight_bp": 0},
        ts=T0,
    )
    assert title == "canary of churn rolled back"
    assert body["kind"] == "action" and body["details"] == {"weight_bp": 0}


# ----------------------------------------------------------------------------- NDJSON


def _append(path: str, worker: int, n: int) -> None:
    notifier = NdjsonNotifier(path)
    for i in range(n):
        notifier.publish(f"w{worker}-{i}", {"worker": worker, "i": i, "pad": "x" * 5000})


def test_ndjson_appends_whole_lines_from_several_processes(tmp_path):
    path = str(tmp_path / "notifications" / "alarms.ndjson")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(path, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    messages = read_ndjson_messages(path)
    assert len(messages) == 160
    assert sorted((m["body"]["worker"], m["body"]["i"]) for m in messages) == sorted(
        (w, i) for w in range(4) for i in range(40)
    )
    with open(path) as fh:
        assert all(json.loads(line) for line in fh)


def test_ndjson_refuses_oversized_messages(tmp_path):
    n = NdjsonNotifier(tmp_path / "a.ndjson", clock=lambda: T0)
    with pytest.raises(PayloadTooLargeError):
        n.publish("t", "x" * (MAX_MESSAGE_BYTES + 1))
    n.publish("t", "hello")
    assert read_ndjson_messages(tmp_path / "a.ndjson") == [
        {"ts": "2027-01-15T08:00:00.000Z", "title": "t", "body": "hello"}
    ]


# ----------------------------------------------------------------------------- webhooks


class Hook:
    def __init__(self, status=200, delay=0.0, redirect_to=None):
        self.received: list[tuple[dict, bytes]] = []
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                hook.received.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                if delay:
                    time.sleep(delay)
                if redirect_to:
                    self.send_response(307)
                    self.send_header("location", redirect_to)
                else:
                    self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hook():
    h = Hook()
    yield h
    h.close()


def test_webhook_posts_the_alarm_json_as_is(hook, canary_events):
    title, body = format_alarm_message(canary_events[0])
    WebhookNotifier(hook.url, headers={"X-Token": "t"}).publish(title, body)
    [(headers, raw)] = hook.received
    assert headers["content-type"] == "application/json" and headers["x-token"] == "t"
    assert json.loads(raw) == body


def test_webhook_wraps_text_messages(hook):
    WebhookNotifier(hook.url).publish("hello", "plain text")
    assert json.loads(hook.received[0][1]) == {"title": "hello", "body": "plain text"}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "http://10.0.0.1/x",
        "ftp://127.0.0.1/x",
        "https://user:pw@example.com/x",
        "file:///etc/passwd",
        "hook",
    ],
)
def test_webhook_allows_only_https_or_loopback(url):
    with pytest.raises(ConfigError):
        WebhookNotifier(url)


def test_webhook_allowed_urls():
    for url in (
        "https://hooks.example.com/x",
        "http://localhost:9/x",
        "http://127.0.0.1:9/x",
        "http://[::1]:9/x",
    ):
        WebhookNotifier(url)


def test_webhook_failures_raise_unavailable():
    for kw in ({"status": 500}, {"delay": 1.0}, {"redirect_to": "http://example.com/elsewhere"}):
        h = Hook(**kw)
        try:
            with pytest.raises(UnavailableError):
                WebhookNotifier(h.url, timeout=0.3).publish("t", {"a": 1})
            # the client may give up before the server's thread has read the request on a busy machine
            deadline = time.monotonic() + 30
            while not h.received and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(h.received) == 1  # the redirect was not followed anywhere
        finally:
            h.close()


# ----------------------------------------------------------------------------- function + fan-out


def test_function_notifier_hands_over_the_json_bytes(canary_events):
    got = []
    title, body = format_alarm_message(canary_events[0])
    FunctionNotifier(got.append, "guardian").publish(title, body)
    assert parse_alarm_message(got[0]).actions == {"rollback_canary": "churn"}


class Broken(Notifier):
    def publish(self, title, body):
        raise UnavailableError("the pager is down")


def test_fan_out_delivers_to_all_and_records_failures(tmp_path, hook, canary_events):
    got = []
    fan = FanOut(
        [
            Broken(),
            NdjsonNotifier(tmp_path / "n.ndjson"),
            WebhookNotifier(hook.url),
            FunctionNotifier(got.append),
            FunctionNotifier(lambda b: 1 / 0, "crashy"),
        ]
    )
    firing = canary_events
    assert publish_events(fan, firing) == 1
    assert len(read_ndjson_messages(tmp_path / "n.ndjson")) == 1 and len(hook.received) == 1 and len(got) == 1
    assert [e[0] for e in fan.errors] == ["Broken", "FunctionNotifier(crashy)"]
    assert "the pager is down" in fan.errors[0][1]
