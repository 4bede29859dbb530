"""Notifications behind one interface - ONS in the cloud; locally an NDJSON file, webhooks on loopback
and function subscriptions - and the alarm message format they all carry.

The alarm message mirrors what OCI Monitoring sends to a topic's subscribers (doc "Alarm Message
Format", Monitoring/alarm-message-format.htm; raw JSON to ORACLE_FUNCTIONS and HTTPS subscriptions,
the friendly layout only to email when ``message_format = ONS_OPTIMIZED``)::

    {"dedupeKey": "...", "title": "<alarm display name>", "body": "<alarm body>",
     "type": "OK_TO_FIRING" | "FIRING_TO_OK" | "REPEAT", "severity": "CRITICAL",
     "timestampEpochMillis": 1763830800000, "timestamp": "2025-11-22T17:00:00Z",
     "alarmMetaData": [{"id": "<alarm id>", "status": "FIRING" | "OK", "severity": "CRITICAL",
                        "namespace": "oci_faas", "query": "<MQL>", "totalMetricsFiring": 1,
                        "dimensions": [{"resourceId": "ocid1.fnfunc...", ...}],
                        "alarmSummary": "...", "metricValues": [{"<MQL without predicate>": "7"}]}],
     "notificationType": "Split messages per metric stream", "version": 1.5}

Our rules put one machine-readable line in the body (``mlops-alarm: {"rule", "kind", "actions"}``),
so :func:`parse_alarm_message` (``mlops.monitoring.alarmmessage``) gives the guardian the rule, its
action hints and each stream's dimensions from the very same JSON locally and in the cloud. Messages
are at most 64 KB (ONS).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops.errors import (
    ConfigError,
    MlopsError,
    PayloadTooLargeError,
    UnavailableError,
)
from mlops.monitoring.alarmmessage import FIRING_TYPES, AlarmNotice, AlarmStreamInfo, parse_alarm_message
from mlops.monitoring.evaluator import FIRING, OK, REPEAT, AlarmEvent

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # ONS publish limit per message
MAX_TITLE_CHARS = 250  # an email subject line
NOTIFICATION_TYPE_SPLIT = "Split messages per metric stream"
MESSAGE_VERSION = 1.5


# ----------------------------------------------------------------------------- interface


class Notifier(ABC):
    """Somewhere a message goes. ``body`` is a JSON object (alarm messages) or plain text."""

    @abstractmethod
    def publish(self, title: str, body: dict | str) -> None:
        """Deliver one message or raise an ``MlopsError`` saying why not."""

    def __repr__(self) -> str:
        return type(self).__name__


def encode_body(body: dict | str) -> str:
    """The wire text of a body: compact JSON for objects, the text itself otherwise; <= 64 KB."""
    text = (
        body
        if isinstance(body, str)
        else json.dumps(body, separators=(",", ":"), sort_keys=False, default=str)
    )
    n = len(text.encode())
    if n > MAX_MESSAGE_BYTES:
        raise PayloadTooLargeError(f"a notification body may be at most {MAX_MESSAGE_BYTES} bytes, got {n}")
    return text


def _clip_title(title: str) -> str:
    title = " ".join(str(title).split())
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


# ----------------------------------------------------------------------------- the message


def _iso(ts: float) -> str:
    d = _dt.datetime.fromtimestamp(ts, tz=_dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _dedupe_key(rule_name: str, dims: Mapping[str, str]) -> str:
    h = hashlib.sha256(json.dumps([rule_name, sorted(dims.items())]).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _where(dims: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(dims.items())) or "all streams"


def format_alarm_message(
    event: AlarmEvent, action_taken: str | None = None, *, alarm_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(title, body)`` for one alarm event: what, where, how bad, and what was (or will be) done.

    The body has OCI's alarm message shape (see the module docstring); the title is a one-line
    summary for email subjects and Slack. ``action_taken`` describes an action already performed
    (e.g. by the guardian); without it, the rule's action hints are announced as pending.
    """
    rule = event.rule
    where = _where(event.dimensions)
    headline, human = _human_lines(event, where, action_taken)
    text = "\n".join(human + [rule.machine_line()])
    body = _oci_message(event, text, alarm_id)
    size = len(json.dumps(body, separators=(",", ":")).encode())
    if size > MAX_MESSAGE_BYTES:  # only a pathological body text can do this: cut the human part
        cut = size - MAX_MESSAGE_BYTES + 64
        body["body"] = "\n".join(human)[:-cut] + "…\n" + rule.machine_line()
        encode_body(body)
    return _clip_title(headline), body


def _human_lines(event: AlarmEvent, where: str, action_taken: str | None) -> tuple[str, list[str]]:
    """The headline and the lines a person reads: what, where, how bad, what was (or will be) done."""
    rule = event.rule
    if event.status == OK:
        headline = f"OK: {rule.name} cleared ({where})"
        how_bad = (
            f"{rule.metric_expression()} = {event.value:.4g}, back within {rule.operator} {rule.threshold:g}"
        )
    else:
        word = "still FIRING" if event.status == REPEAT else "FIRING"
        headline = f"{word} {rule.severity}: {rule.name} ({where})"
        ratio = (
            f" ({event.value / rule.threshold:.3g}x the threshold)" if rule.threshold not in (0.0,) else ""
        )
        how_bad = (
            f"{rule.metric_expression()} = {event.value:.4g} {rule.operator} {rule.threshold:g}{ratio}; "
            f"severity {rule.severity}"
        )
    if action_taken:
        done = f"Action taken: {action_taken}"
    elif rule.actions and event.status != OK:
        done = (
            "Action pending: "
            + ", ".join(f"{k} {v}" for k, v in sorted(rule.actions.items()))
            + " (the guardian acts on this alarm)"
        )
    else:
        done = "No automatic action."
    human = [f"What: {rule.describe()}", f"Where: {where}", f"How bad: {how_bad}", done]
    if rule.body:
        human.append(rule.body)
    return headline, human


def _oci_message(event: AlarmEvent, text: str, alarm_id: str | None) -> dict[str, Any]:
    """The message body in OCI's alarm message shape, with ``text`` as its ``body``."""
    rule = event.rule
    status = event.alarm_status
    trigger_minutes = max(1, rule.pending_s // 60)
    summary = (
        f'Alarm "{rule.name}" is in a "{status}" state; because the resources with dimensions listed '
        f'below {"meet" if status == FIRING else "no longer meet"} the trigger rule: "{rule.to_mql()}", '
        f"with a trigger delay of {trigger_minutes} minute{'s' if trigger_minutes > 1 else ''}"
    )
    body: dict[str, Any] = {
        "dedupeKey": _dedupe_key(rule.name, event.dimensions),
        "title": rule.name,
        "body": text,
        "type": event.type,
        "severity": rule.severity,
        "timestampEpochMillis": int(round(event.ts * 1000)),
        "timestamp": _iso(event.ts),
        "alarmMetaData": [
            {
                "id": alarm_id or f"local.alarm.{rule.name}",
                "status": status,
                "severity": rule.severity,
                "namespace": rule.namespace,
                "query": rule.to_mql(),
                "totalMetricsFiring": 0 if status == OK else 1,
                "dimensions": [dict(event.dimensions)],
                "alarmSummary": summary,
                "metricValues": [{rule.metric_expression(): f"{event.value:.6g}"}],
            }
        ],
        "notificationType": NOTIFICATION_TYPE_SPLIT,
        "version": MESSAGE_VERSION,
    }
    return body


def format_action_message(
    what: str,
    *,
    endpoint: str | None = None,
    rule: str | None = None,
    details: Mapping[str, Any] | None = None,
    ts: float | None = None,
) -> tuple[str, dict]:
    """``(title, body)`` for a notice about an action (e.g. "canary of churn rolled back")."""
    t = time.time() if ts is None else ts
    body = {
        "kind": "action",
        "what": what,
        "endpoint": endpoint,
        "rule": rule,
        "details": dict(details or {}),
        "timestamp": _iso(t),
        "timestampEpochMillis": int(round(t * 1000)),
    }
    encode_body(body)
    return _clip_title(what), body


# ----------------------------------------------------------------------------- notifiers


class OnsNotifier(Notifier):
    """Publishes to an ONS topic with ``oci.ons.NotificationDataPlaneClient.publish_message``."""

    def __init__(self, client: Any, topic_id: str) -> None:
        if not topic_id:
            raise ConfigError("OnsNotifier needs a topic OCID")
        self.client = client
        self.topic_id = topic_id

    def publish(self, title: str, body: dict | str) -> None:
        import oci  # lazy: only the cloud path pays for the SDK import

        from mlops.monitoring.oci import call_oci

        details = oci.ons.models.MessageDetails(title=_clip_title(title), body=encode_body(body))
        call_oci(
            lambda: self.client.publish_message(self.topic_id, details),
            f"ONS publish to {self.topic_id}",
            "notification_rejected",
        )

    def __repr__(self) -> str:
        return f"OnsNotifier({self.topic_id})"


class NdjsonNotifier(Notifier):
    """Appends one JSON line ``{"ts", "title", "body"}`` per message to a file (under ``flock``)."""

    def __init__(self, path: str | os.PathLike, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock

    def publish(self, title: str, body: dict | str) -> None:
        encode_body(body)
        line = (
            json.dumps(
                {"ts": _iso(self.clock()), "title": _clip_title(title), "body": body},
                separators=(",", ":"),
                default=str,
            )
            + "\n"
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # owner-only
            with open(fd, "a", encoding="utf-8") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    fh.write(line)
                    fh.flush()
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            raise UnavailableError(f"cannot append to {self.path}: {exc}") from None

    def __repr__(self) -> str:
        return f"NdjsonNotifier({self.path})"


def read_ndjson_messages(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every message an :class:`NdjsonNotifier` wrote (a torn last line is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        try:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return out


def _loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # a redirect could leave loopback
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


class WebhookNotifier(Notifier):
    """POSTs each message as JSON to ``url``: https anywhere, plain http on loopback only.

    An alarm message (a JSON object) is posted as is, like ONS posts to an HTTPS subscription; a
    text message is posted as ``{"title", "body"}``. Redirects are refused.
    """

    def __init__(self, url: str, *, timeout: float = 5.0, headers: Mapping[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https" and host:
            pass
        elif parts.scheme == "http" and _loopback_host(host):
            pass
        else:
            raise ConfigError(
                f"webhook {url!r} is not allowed: use https://, or http:// on 127.0.0.1/localhost"
            )
        if parts.username or parts.password:
            raise ConfigError("webhook URLs must not carry credentials; keep them in a secret")
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._opener = urllib.request.build_opener(_NoRedirect)

    def publish(self, title: str, body: dict | str) -> None:
        payload = body if isinstance(body, dict) else {"title": _clip_title(title), "body": body}
        data = encode_body(payload).encode()
        req = urllib.request.Request(
            self.url, data=data, method="POST", headers={"Content-Type": "application/json", **self.headers}
        )
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                resp.read(1024)
        except urllib.error.HTTPError as exc:
            raise UnavailableError(f"webhook {self.url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnavailableError(f"webhook {self.url} failed: {reason}") from None

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.url})"


class FunctionNotifier(Notifier):
    """Hands each message to a function subscription: ``invoke(payload_bytes)``, as ONS would.

    The payload is the message body exactly as a subscribed function receives it: the alarm JSON
    for alarm messages, the text for plain ones. The local runtime wires ``invoke`` to the
    guardian's fdk process.
    """

    def __init__(self, invoke: Callable[[bytes], Any], name: str = "function") -> None:
        self.invoke = invoke
        self.name = name

    def publish(self, title: str, body: dict | str) -> None:
        self.invoke(encode_body(body).encode())

    def __repr__(self) -> str:
        return f"FunctionNotifier({self.name})"


class FanOut(Notifier):
    """Publishes to every notifier; a failing one is logged and recorded in ``errors``, never raised."""

    def __init__(self, notifiers: Iterable[Notifier], *, keep_errors: int = 100) -> None:
        self.notifiers = list(notifiers)
        self.errors: deque[tuple[str, str]] = deque(maxlen=keep_errors)

    def publish(self, title: str, body: dict | str) -> None:
        for n in self.notifiers:
            try:
                n.publish(title, body)
            except Exception as exc:
                text = exc.message if isinstance(exc, MlopsError) else f"{type(exc).__name__}: {exc}"
                self.errors.append((repr(n), text))
                log.warning("notification %r via %r failed: %s", _clip_title(title), n, text)


def publish_events(notifier: Notifier, events: Sequence[AlarmEvent], action_taken: str | None = None) -> int:
    """Format and publish each event; returns how many were handed to the notifier."""
    for ev in events:
        title, body = format_alarm_message(ev, action_taken)
        notifier.publish(title, body)
    return len(events)


__all__ = [
    "AlarmNotice",
    "AlarmStreamInfo",
    "FanOut",
    "FIRING",
    "FIRING_TYPES",
    "FunctionNotifier",
    "MAX_MESSAGE_BYTES",
    "NdjsonNotifier",
    "Notifier",
    "OnsNotifier",
    "WebhookNotifier",
    "encode_body",
    "format_action_message",
    "format_alarm_message",
    "parse_alarm_message",
    "publish_events",
    "read_ndjson_messages",
]
