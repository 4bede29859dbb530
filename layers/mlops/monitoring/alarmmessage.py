"""Reading an alarm message: OCI's raw JSON alarm message (or ours, the same shape) into an ``AlarmNotice``.

The message format is documented in ``mlops.monitoring.notify``; the rule name, kind and action hints
come from the one machine-readable line our rules put in the alarm body (``mlops-alarm: {...}``,
``mlops.monitoring.alarms.MACHINE_PREFIX``), each stream's dimensions from ``alarmMetaData``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import BadRequestError
from mlops.monitoring.alarms import MACHINE_PREFIX

log = logging.getLogger(__name__)

FIRING_TYPES = ("OK_TO_FIRING", "REPEAT")


@dataclass(frozen=True)
class AlarmStreamInfo:
    status: str
    severity: str
    namespace: str
    query: str
    dimensions: list[dict[str, str]]
    metric_values: list[dict[str, str]] = field(default_factory=list)
    alarm_id: str = ""


@dataclass(frozen=True)
class AlarmNotice:
    """An alarm message as the guardian needs it, from OCI or from the local evaluator."""

    title: str
    type: str
    severity: str
    timestamp_ms: int
    rule: str
    kind: str
    actions: dict[str, str]
    body: str
    streams: list[AlarmStreamInfo]
    dedupe_key: str = ""

    @property
    def firing(self) -> bool:
        """True for OK_TO_FIRING and REPEAT (the alarm is in FIRING)."""
        return self.type in FIRING_TYPES

    def dimensions(self) -> list[dict[str, str]]:
        """Every stream's dimension sets, flattened."""
        return [d for s in self.streams for d in s.dimensions]


def parse_alarm_message(payload: bytes | str | Mapping[str, Any]) -> AlarmNotice:
    """Read an alarm message (OCI's raw JSON or ours); a 400 when it is not one."""
    data = _decode(payload)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping) or "type" not in data or not isinstance(data.get("alarmMetaData"), list):
        raise BadRequestError(
            "not an alarm message: expected an object with 'type' and 'alarmMetaData'",
            code="invalid_alarm_message",
        )
    body = str(data.get("body") or "")
    rule, kind, actions = _machine_line(body, str(data.get("title") or ""))
    return AlarmNotice(
        title=str(data.get("title") or ""),
        type=str(data["type"]),
        severity=str(data.get("severity") or ""),
        timestamp_ms=int(data.get("timestampEpochMillis") or 0),
        rule=rule,
        kind=kind,
        actions=actions,
        body=body,
        streams=_streams(data),
        dedupe_key=str(data.get("dedupeKey") or ""),
    )


def _decode(payload: bytes | str | Mapping[str, Any]) -> Any:
    """The payload as JSON data (a mapping passes through); a 400 when the text is not JSON."""
    data: Any = payload
    if isinstance(payload, (bytes, bytearray)):
        try:
            data = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestError(
                f"the alarm message is not JSON: {exc}", code="invalid_alarm_message"
            ) from None
    elif isinstance(payload, str):
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise BadRequestError(
                f"the alarm message is not JSON: {exc}", code="invalid_alarm_message"
            ) from None
    return data


def _machine_line(body: str, rule: str) -> tuple[str, str, dict[str, str]]:
    """``(rule, kind, actions)`` from the body's machine line; ``rule`` (the title) when there is none."""
    kind: str = ""
    actions: dict[str, str] = {}
    for line in body.splitlines():
        line = line.strip()
        if line.startswith(MACHINE_PREFIX):
            try:
                meta = json.loads(line[len(MACHINE_PREFIX) :])
                rule = str(meta.get("rule") or rule)
                kind = str(meta.get("kind") or "")
                actions = {str(k): str(v) for k, v in (meta.get("actions") or {}).items()}
            except (json.JSONDecodeError, AttributeError):
                log.warning("alarm %s: unreadable %s line ignored", rule, MACHINE_PREFIX.strip())
    return rule, kind, actions


def _streams(data: Mapping[str, Any]) -> list[AlarmStreamInfo]:
    """One ``AlarmStreamInfo`` per ``alarmMetaData`` entry (entries that are not objects are skipped)."""
    streams = []
    for md in data["alarmMetaData"]:
        if not isinstance(md, Mapping):
            continue
        dims = md.get("dimensions") or []
        if isinstance(dims, Mapping):
            dims = [dims]
        streams.append(
            AlarmStreamInfo(
                status=str(md.get("status") or ""),
                severity=str(md.get("severity") or data.get("severity") or ""),
                namespace=str(md.get("namespace") or ""),
                query=str(md.get("query") or ""),
                dimensions=[{str(k): str(v) for k, v in d.items()} for d in dims if isinstance(d, Mapping)],
                metric_values=[dict(v) for v in (md.get("metricValues") or []) if isinstance(v, Mapping)],
                alarm_id=str(md.get("id") or ""),
            )
        )
    return streams
