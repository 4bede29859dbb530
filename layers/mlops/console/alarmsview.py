"""Alarms for the console: the rules with their MQL, each rule's state per stream, the state changes and
notifications (newest first), and what the guardian did (its audit entries).

Locally the alarm evaluator keeps its state in ``<state>/alarm-state.json`` and every notification is a
line of ``<state>/notifications.ndjson`` (``{"ts", "title", "body"}``, the body in OCI's alarm message
shape for alarm transitions; ``mlops.monitoring.notify.NdjsonNotifier``). Only the file's last
``TAIL_BYTES`` are read, so the page costs the same after a year of notifications.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.times import iso

TAIL_BYTES = 1 << 20
GUARDIAN_ACTOR = "guardian"
AUDIT_SCAN = 2000  # newest audit entries searched for the guardian's actions


def tail_messages(path: Path | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` notification lines (newest first); a torn or cut first line is skipped."""
    if path is None or not path.exists():
        return []
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - TAIL_BYTES))
        data = fh.read()
    lines = data.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]
    out = []
    for line in reversed(lines):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
        if len(out) >= limit:
            break
    return out


def _transition(msg: Mapping[str, Any]) -> dict[str, Any] | None:
    body = msg.get("body")
    if not isinstance(body, Mapping) or not isinstance(body.get("alarmMetaData"), list):
        return None
    meta = (body.get("alarmMetaData") or [{}])[0] or {}
    values = meta.get("metricValues") or [{}]
    value = next(iter((values[0] or {}).values()), None) if values else None
    dims = meta.get("dimensions") or [{}]
    return {
        "at": body.get("timestamp") or msg.get("ts"),
        "rule": body.get("title"),
        "status": meta.get("status"),
        "type": body.get("type"),
        "severity": body.get("severity"),
        "value": float(value) if isinstance(value, (int, float, str)) and _is_number(value) else None,
        "dimensions": dims[0] if dims else {},
        "title": msg.get("title"),
    }


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _state(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    rules = doc.get("rules") if isinstance(doc, dict) else None
    return rules if isinstance(rules, dict) else {}


def rule_states(src: ConsoleSources) -> dict[str, list[dict[str, Any]]]:
    """``{rule: [{status, since, value, evaluated_at, dimensions}]}`` from the evaluator's state file."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, st in _state(src.alarm_state_path).items():
        streams = (st or {}).get("streams") or {}
        out[name] = [
            {
                "status": s.get("status"),
                "since": iso(s["changed_at"]) if s.get("changed_at") else None,
                "value": s.get("value"),
                "evaluated_at": iso(s["evaluated_at"]) if s.get("evaluated_at") else None,
                "dimensions": s.get("dimensions") or {},
            }
            for s in streams.values()
        ]
    return out


def rule_endpoint(rule: Any) -> str | None:
    """The endpoint a rule concerns: its ``endpoint`` dimension, else the endpoint of the inference function
    it watches (``inference-<endpoint>-<variant>``: oci_faas rules filter on the function's id), else None."""
    endpoint = dict(rule.dimensions).get("endpoint")
    if endpoint:
        return str(endpoint)
    fn = str(getattr(rule, "function", "") or "")
    for variant in ("stable", "canary"):
        if fn.startswith("inference-") and fn.endswith(f"-{variant}"):
            return fn[len("inference-") : -len(variant) - 1] or None
    return None


def firing(src: ConsoleSources) -> list[dict[str, Any]]:
    """Every stream whose alarm is FIRING now, with its rule's severity and the endpoint it concerns."""
    severity = {r.name: r.severity for r in src.alarm_rules}
    endpoints = {r.name: rule_endpoint(r) for r in src.alarm_rules}
    out = []
    for name, streams in rule_states(src).items():
        for s in streams:
            if s["status"] == "FIRING":
                out.append(
                    {
                        "rule": name,
                        "severity": severity.get(name),
                        "endpoint": s["dimensions"].get("endpoint") or endpoints.get(name),
                        **{k: s[k] for k in ("since", "value", "dimensions")},
                    }
                )
    return out


def guardian_actions(src: ConsoleSources, limit: int) -> list[dict[str, Any]]:
    """The guardian's audit entries (rollbacks, promotions, retraining requests), newest first."""
    out = []
    for e in src.registry.audit.history(limit=AUDIT_SCAN):
        if e.get("actor") == GUARDIAN_ACTOR:
            d = e.get("details") or {}
            out.append(
                {
                    "seq": e.get("seq"),
                    "ts": e.get("ts"),
                    "action": e.get("action"),
                    "subject": e.get("subject"),
                    "reason": d.get("reason"),
                }
            )
            if len(out) >= limit:
                break
    return out


def alarms(src: ConsoleSources, limit: int) -> dict[str, Any]:
    states = rule_states(src)
    rules = [
        {
            "name": r.name,
            "mql": r.to_mql(),
            "namespace": r.namespace,
            "metric": r.metric,
            "severity": r.severity,
            "enabled": r.is_enabled,
            "pending": r.pending_duration,
            "kind": r.kind,
            "description": r.summary,
            "actions": dict(r.actions),
            "state": states.get(r.name, []),
        }
        for r in src.alarm_rules
    ]
    messages = tail_messages(src.notify_file, limit)
    history = [t for t in (_transition(m) for m in messages) if t is not None]
    return {
        "rules": rules,
        "history": history,
        "guardian_actions": guardian_actions(src, limit),
        "notifications": [
            {"at": m.get("ts"), "title": m.get("title"), "body": m.get("body")} for m in messages
        ],
        "sources": {
            "rules": "stack settings" if src.alarm_rules else None,
            "state": src.alarm_state_path.name if src.alarm_state_path else None,
            "notifications": src.notify_file.name if src.notify_file else None,
        },
    }
