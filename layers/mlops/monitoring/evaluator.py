"""The local alarm evaluator: OCI Monitoring's alarm semantics over a local metrics store.

Each rule's *rendered MQL* is parsed back (``mlops.monitoring.mql``) and evaluated, so the local
condition is exactly the query deployed to OCI. Per evaluation at time ``now``:

- the window is ``now - interval < ts <= now``; each metric stream (distinct dimension set) is
  evaluated on its own, as OCI does without a grouping function; ``.grouping()`` merges all
  matching streams into one and ``.groupBy(k)`` merges per value of ``k``;
- a datapoint ``(value, count)`` means ``value`` occurred ``count`` times (OCI's Datapoint), so
  ``count = Σc``, ``sum = Σv·c``, ``mean = sum / count``, ``max``/``min`` over values,
  ``percentile(p)`` = the smallest value whose cumulative count reaches ``p·count`` (nearest rank),
  ``first``/``last`` by time, ``increment = last - first`` and ``rate = increment / interval``
  in seconds (the MQL reference calls rate "the per-interval average rate of change, per second";
  how OCI treats counters is UNVERIFIED, and no default rule uses rate);
- OK -> FIRING once the condition has held for ``pending_duration``, counting each evaluation as
  covering one resolution minute (OCI: "under the default value of PT1M, the first evaluation that
  breaches the alarm updates the state to FIRING"; PT5M fires at the fifth breaching minute);
- FIRING -> OK at the first evaluation where the condition is clear ("clear for the most recent
  minute"); a FIRING stream re-notifies (REPEAT) every ``repeat_notification_duration``;
- a stream without data in the window changes nothing (no transition, no progress, no reset).

State is kept per rule and stream (optionally in a JSON file, written atomically), so transitions
survive restarts; a rule whose query changed starts from OK.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeGuard, TypeVar

from mlops.errors import UnprocessableError
from mlops.localfiles import locked, write_atomic
from mlops.monitoring.alarms import AlarmRule
from mlops.monitoring.metrics import MetricsStore, stream_key
from mlops.monitoring.mql import Alarm, parse_alarm

log = logging.getLogger(__name__)

RESOLUTION_S = 60  # OCI alarms evaluate at 1-minute resolution
FIRING, OK, REPEAT = "FIRING", "OK", "REPEAT"
MESSAGE_TYPES = {FIRING: "OK_TO_FIRING", OK: "FIRING_TO_OK", REPEAT: "REPEAT"}


@dataclass(frozen=True)
class AlarmEvent:
    """A transition of one rule on one metric stream."""

    rule: AlarmRule
    status: str  # FIRING | OK | REPEAT
    value: float
    threshold: float
    dimensions: dict[str, str]
    ts: float
    message: str

    @property
    def type(self) -> str:
        """The OCI message type: OK_TO_FIRING, FIRING_TO_OK or REPEAT."""
        return MESSAGE_TYPES[self.status]

    @property
    def alarm_status(self) -> str:
        """The alarm's state after the event: FIRING (also for REPEAT) or OK."""
        return OK if self.status == OK else FIRING

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "status": self.status,
            "type": self.type,
            "severity": self.rule.severity,
            "value": self.value,
            "threshold": self.threshold,
            "dimensions": dict(self.dimensions),
            "ts": self.ts,
            "message": self.message,
            "query": self.rule.to_mql(),
            "actions": dict(self.rule.actions),
        }


def aggregate(
    statistic: str,
    points: Sequence[tuple[float, float, int]],
    *,
    percentile: float | None = None,
    interval_s: float = 60.0,
) -> float | None:
    """One statistic over weighted datapoints ``(ts, value, count)``; None when there is no data."""
    if not points:
        return None
    if statistic == "count":
        return float(sum(c for _t, _v, c in points))
    if statistic in ("sum", "mean", "avg"):
        total = sum(v * c for _t, v, c in points)
        if statistic == "sum":
            return float(total)
        return float(total / sum(c for _t, _v, c in points))
    if statistic == "max":
        return float(max(v for _t, v, _c in points))
    if statistic == "min":
        return float(min(v for _t, v, _c in points))
    ordered = sorted(points, key=lambda p: p[0])
    if statistic == "first":
        return float(ordered[0][1])
    if statistic == "last":
        return float(ordered[-1][1])
    if statistic in ("increment", "rate"):
        inc = ordered[-1][1] - ordered[0][1]
        return float(inc if statistic == "increment" else inc / interval_s)
    if statistic == "percentile":
        if percentile is None or not 0 < percentile < 1:
            raise UnprocessableError("percentile needs 0 < p < 1", code="invalid_rule")
        by_value = sorted((v, c) for _t, v, c in points)
        need = percentile * sum(c for _v, c in by_value)
        acc = 0
        for v, c in by_value:
            acc += c
            if acc >= need:
                return float(v)
        return float(by_value[-1][0])
    raise UnprocessableError(f"the local evaluator does not support {statistic}()", code="invalid_rule")


_T = TypeVar("_T")


class _SqlStore(Protocol):
    """A store that computes alarm statistics itself (``mlops.monitoring.sqlite.SqliteMetrics``)."""

    SQL_STATISTICS: frozenset[str]

    def stream_ids(
        self, namespace: str, name: str, dimensions_filter: Mapping[str, str] | None
    ) -> list[tuple[int, dict[str, str]]]: ...

    def aggregate_window(
        self, ids: Sequence[int], start: float, end: float, statistic: str, percentile: float | None = None
    ) -> float | None: ...


def _aggregates_in_sql(store: object, statistic: str) -> TypeGuard[_SqlStore]:
    """Whether ``store`` computes ``statistic`` itself (it lists it in ``SQL_STATISTICS``)."""
    return statistic in getattr(store, "SQL_STATISTICS", frozenset())


def _groups(
    alarm: Alarm, streams: Sequence[tuple[Mapping[str, str], Sequence[_T]]]
) -> list[tuple[dict[str, str], list[_T]]]:
    """``(dimensions, items)`` per group of streams as the alarm groups them; items are a stream's
    points, or its id when the store aggregates (the same rules for both)."""
    fuzzy = [d for d in alarm.dimensions if d.op != "="]
    streams = [s for s in streams if all(d.matches(s[0].get(d.key)) for d in fuzzy)]
    if alarm.grouping:
        pts = [p for s in streams for p in s[1]]
        return [(alarm.exact_dimensions(), pts)] if pts else []
    if alarm.group_by:
        merged: dict[tuple[tuple[str, str], ...], list[_T]] = {}
        for dims, items in streams:
            key = tuple((k, dims.get(k, "")) for k in alarm.group_by)
            merged.setdefault(key, []).extend(items)
        return [({k: v for k, v in key if v}, pts) for key, pts in sorted(merged.items())]
    return [(dict(dims), list(items)) for dims, items in streams]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class AlarmEvaluator:
    """Evaluates alarm rules against a :class:`MetricsStore` and reports transitions.

    ``state`` may be a dict you own (it is updated in place) or ``state_path`` a JSON file; with
    neither, state lives in memory for the evaluator's lifetime.
    """

    def __init__(
        self,
        store: MetricsStore,
        rules: Sequence[AlarmRule],
        clock: Callable[[], float] = time.time,
        *,
        state_path: str | os.PathLike | None = None,
        state: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.state_path = Path(state_path) if state_path else None
        self._lock = threading.Lock()
        self._parsed: dict[str, Alarm] = {}
        self.rules: list[AlarmRule] = []
        if state is not None:
            self.state = state
        elif self.state_path and self.state_path.exists():
            self.state = self._load(self.state_path)
        else:
            self.state = {}
        self.state.setdefault("rules", {})
        self.set_rules(rules)

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("rules"), dict):
                return data
            raise ValueError("not an alarm state document")
        except (OSError, ValueError) as exc:
            log.warning("alarm state %s is unreadable (%s); starting with every alarm OK", path, exc)
            return {}

    def set_rules(self, rules: Sequence[AlarmRule]) -> None:
        """Replace the rule set; state of removed rules is dropped, changed queries start over."""
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise UnprocessableError("alarm rule names must be unique", code="invalid_rule")
        with self._lock:
            self.rules = list(rules)
            self._parsed = {r.name: parse_alarm(r.to_mql()) for r in self.rules}
            self._align_state()

    def _align_state(self) -> None:
        states = self.state.setdefault("rules", {})
        for name in list(states):
            if name not in self._parsed:
                del states[name]
        for r in self.rules:
            st = states.get(r.name)
            if st is None or st.get("query") != r.to_mql():
                states[r.name] = {"query": r.to_mql(), "streams": {}}

    def evaluate(self, now: float | None = None) -> list[AlarmEvent]:
        """Evaluate every enabled rule once at ``now`` (default: the clock) and return the transitions."""
        t = float(self.clock() if now is None else now)
        events: list[AlarmEvent] = []
        # with a state file: read-modify-write under its lock, re-reading what another evaluator (another
        # `mlops alarms eval --state`, the runtime) saved, so no transition is lost or reported twice
        with self._lock, locked(self.state_path) if self.state_path else contextlib.nullcontext():
            if self.state_path and self.state_path.exists():
                self.state = self._load(self.state_path)
                self._align_state()
            for rule in self.rules:
                if not rule.is_enabled:
                    continue
                try:
                    events.extend(self._evaluate_rule(rule, t))
                except UnprocessableError:
                    raise
                except Exception as exc:  # one broken read must not silence every other alarm
                    log.warning(
                        "alarm rule %s could not be evaluated: %s: %s", rule.name, type(exc).__name__, exc
                    )
            if self.state_path:
                self._save()
        return events

    def _values(
        self, alarm: Alarm, namespace: str, start: float, end: float
    ) -> list[tuple[dict[str, str], float | None]]:
        """The statistic of every group of streams in the window ``start < ts <= end``.

        A store that aggregates itself (SQLite) is asked for one number per group, so an evaluation holds no
        points in memory however busy the window; other stores hand over the points.
        """
        window = end - start
        store = self.store
        if _aggregates_in_sql(store, alarm.statistic):
            if alarm.statistic == "percentile" and (alarm.percentile is None or not 0 < alarm.percentile < 1):
                raise UnprocessableError("percentile needs 0 < p < 1", code="invalid_rule")
            found = store.stream_ids(namespace, alarm.metric, alarm.exact_dimensions())
            if len(found) <= 500:
                # the grouping rules of _groups, applied to stream ids in place of points
                groups = _groups(alarm, [(d, [sid]) for sid, d in found])
                return [
                    (
                        dims,
                        store.aggregate_window(
                            [int(sid) for sid in ids],
                            start,
                            end,
                            alarm.statistic,
                            percentile=alarm.percentile,
                        ),
                    )
                    for dims, ids in groups
                ]
        streams = self.store.query_streams(namespace, alarm.metric, alarm.exact_dimensions(), start, end)
        return [
            (dims, aggregate(alarm.statistic, pts, percentile=alarm.percentile, interval_s=window))
            for dims, pts in _groups(alarm, [(s.dimensions, s.points) for s in streams])
        ]

    def _evaluate_rule(self, rule: AlarmRule, now: float) -> list[AlarmEvent]:
        alarm = self._parsed[rule.name]
        window = alarm.interval_s
        states = self.state["rules"][rule.name]["streams"]
        out: list[AlarmEvent] = []
        for dims, value in self._values(alarm, rule.namespace, now - window, now):
            if value is None:
                continue
            key = json.dumps(stream_key(dims))
            st = states.setdefault(
                key,
                {
                    "status": OK,
                    "breach_since": None,
                    "last_notified": None,
                    "changed_at": None,
                    "dimensions": dims,
                },
            )
            st["value"], st["evaluated_at"] = value, now
            breach = alarm.predicate.holds(value) if alarm.predicate else bool(value)
            if breach:
                if st["breach_since"] is None:
                    st["breach_since"] = now
                if st["status"] == OK:
                    if now - st["breach_since"] + RESOLUTION_S >= rule.pending_s:
                        st.update(status=FIRING, changed_at=now, last_notified=now)
                        out.append(self._event(rule, FIRING, value, dims, now))
                elif rule.repeat_s and now - (st["last_notified"] or now) >= rule.repeat_s:
                    st["last_notified"] = now
                    out.append(self._event(rule, REPEAT, value, dims, now))
            else:
                st["breach_since"] = None
                if st["status"] == FIRING:
                    st.update(status=OK, changed_at=now, last_notified=None)
                    out.append(self._event(rule, OK, value, dims, now))
        return out

    @staticmethod
    def _event(rule: AlarmRule, status: str, value: float, dims: Mapping[str, str], now: float) -> AlarmEvent:
        where = ", ".join(f"{k}={v}" for k, v in sorted(dims.items())) or "all streams"
        cond = f"{rule.metric_expression()} = {_fmt(value)}"
        if status == OK:
            msg = f"{rule.name} OK: {cond}, no longer {rule.operator} {_fmt(rule.threshold)} ({where})"
        else:
            verb = "still firing" if status == REPEAT else "FIRING"
            msg = f"{rule.name} {verb} [{rule.severity}]: {cond} {rule.operator} {_fmt(rule.threshold)} ({where})"
        return AlarmEvent(rule, status, value, rule.threshold, dict(dims), now, msg)

    def status(self) -> list[dict[str, Any]]:
        """The current state of every rule and stream seen so far (for the CLI and the status page)."""
        out = []
        with self._lock:
            for rule in self.rules:
                streams = self.state["rules"].get(rule.name, {}).get("streams", {})
                if not streams:
                    out.append(
                        {
                            "rule": rule.name,
                            "status": "NO_DATA",
                            "severity": rule.severity,
                            "dimensions": dict(rule.dimensions),
                            "value": None,
                        }
                    )
                for st in streams.values():
                    out.append(
                        {
                            "rule": rule.name,
                            "status": st["status"],
                            "severity": rule.severity,
                            "dimensions": st.get("dimensions", {}),
                            "value": st.get("value"),
                            "since": st.get("changed_at"),
                        }
                    )
        return out

    def _save(self) -> None:
        if self.state_path is None:  # state in memory only: nothing to write
            return
        write_atomic(self.state_path, json.dumps(self.state, sort_keys=True))
