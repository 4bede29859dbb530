"""Alarm rules: one structured definition each, rendered as OCI MQL for ``oci.monitoring.Alarm`` and
interpreted by the local evaluator with the same semantics.

The metric contract
===================
Every default rule watches a metric that a named component posts. Producers build their points with
the helpers in ``mlops.monitoring.metrics`` so names and dimensions cannot drift apart.

=========================  ===============================================  ======================================
metric (namespace)         dimensions                                       posted by, value
=========================  ===============================================  ======================================
FunctionInvocationCount,   resourceId (function OCID; locally                 OCI Functions itself in the cloud; the
FunctionExecutionDuration  ``local:fn:<function>``), resourceDisplayName    local runtime per invocation with
(ms), FunctionResponseCount (``<application>:<function>``), optional         ``invocation_points(function, status,
(``oci_faas``)             applicationId; FunctionResponseCount also        duration_ms, ts)`` (``faas_dimensions``)
                           responseType = Success | Error | Throttled
drift_detected (custom)    endpoint, model, version                         drift function per window: 1 if the
                                                                            dataset drifted (after k-of-n
                                                                            persistence) else 0 (``drift_points``)
drift_share (custom)       endpoint, model, version                         drift function: share of drifted
                                                                            features 0..1 (``drift_points``)
prediction_count,          endpoint, model, version, variant                drift function per window and variant
confidence_mean,                                                            (``window_points``); confidence_mean
accuracy (custom)                                                           and accuracy carry count = records
canary_latency_ratio       endpoint                                         drift function per window when both
(custom)                                                                    variants served >= 20 records: p99
                                                                            latency_ms canary / stable
canary_confidence_drop     endpoint                                         same: mean confidence stable - canary
(custom)                                                                    (``canary_points``)
canary_unavailable         endpoint                                         drift function per window with canary
(custom)                                                                    traffic: canary-cohort predictions the
                                                                            stable version served because the
                                                                            canary's version could not be served
                                                                            (``canary_unavailable_points``)
=========================  ===============================================  ======================================

Custom metrics live in the stack's namespace (``monitoring.namespace``, default ``mlops``).

The stack's default rules on these metrics are ``mlops.monitoring.defaults``.

Cross-metric arithmetic is deliberately not used: OCI documents joins (``&&``/``||``) and nested
queries, so "canary worse than stable" is posted as one derived metric rather than computed in MQL.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import ConfigError, InvalidNameError, UnprocessableError
from mlops.monitoring import metrics as m
from mlops.monitoring.mql import Predicate, interval_seconds, render_alarm
from mlops.names import validate_name

STATISTICS = ("mean", "max", "min", "sum", "count", "rate", "percentile")
OPERATORS = (">", ">=", "<", "<=", "==", "!=")
SEVERITIES = ("CRITICAL", "ERROR", "WARNING", "INFO")
ACTION_ROLLBACK = "rollback_canary"
ACTION_RETRAIN = "retrain"
MACHINE_PREFIX = "mlops-alarm: "
DEFAULT_DESTINATION = "alarms"
MESSAGE_FORMAT = "ONS_OPTIMIZED"  # email subscribers get the friendly layout; functions/HTTPS get raw JSON

UNITS = {m.FAAS_DURATION: " ms"}
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?\Z")


def duration_seconds(text: str) -> int:
    """Seconds of an ISO 8601 duration as OCI uses them (``PT5M``, ``PT1H``, ``P1D``, ``P1DT2H``)."""
    m_ = _DURATION.match(text or "")
    if not m_ or text in ("P", "PT") or text.endswith("T"):
        raise UnprocessableError(
            f"duration {text!r} is not ISO 8601 like PT5M, PT1H or P1D", code="invalid_rule"
        )
    d, h, mi, s = (int(x) if x else 0 for x in m_.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _bool(v: Any, where: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise ConfigError(f"{where}: expected true or false, got {v!r}")


@dataclass(frozen=True)
class AlarmRule:
    """One alarm: what to watch, how to aggregate, when it fires, who hears about it, what may be done."""

    name: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    interval: str = "5m"
    statistic: str = "mean"
    percentile: float | None = None
    operator: str = ">"
    threshold: float = 0.0
    pending_duration: str = "PT1M"
    repeat_notification_duration: str | None = None
    severity: str = "WARNING"
    summary: str = ""
    body: str = ""
    actions: Mapping[str, str] = field(default_factory=dict)
    destinations: tuple[str, ...] = (DEFAULT_DESTINATION,)
    grouping: bool = False
    is_enabled: bool = True
    kind: str = ""
    function: str = ""  # oci_faas rules: the function watched (its id is the resourceId filter)

    def __post_init__(self) -> None:
        where = f"alarm rule {self.name!r}"
        try:
            validate_name(self.name, "alarm rule name")
        except InvalidNameError as exc:
            raise ConfigError(exc.message) from None
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*\Z", self.namespace or ""):
            raise ConfigError(
                f"{where}: namespace {self.namespace!r} must start with a letter and use letters, "
                "digits and '_'"
            )
        try:
            m.validate_metric_name(self.metric)
            object.__setattr__(
                self, "dimensions", m.validate_dimensions(dict(self.dimensions), required=False)
            )
            interval_seconds(self.interval)
        except UnprocessableError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None
        self._check_statistic(where)
        if self.operator not in OPERATORS:
            raise ConfigError(f"{where}: operator {self.operator!r} is not one of {' '.join(OPERATORS)}")
        try:
            object.__setattr__(self, "threshold", float(self.threshold))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: threshold must be a number, got {self.threshold!r}") from None
        if self.threshold != self.threshold or abs(self.threshold) == float("inf"):
            raise ConfigError(f"{where}: threshold must be finite")
        self._check_durations(where)
        if self.severity not in SEVERITIES:
            raise ConfigError(f"{where}: severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")
        dest = self.destinations
        if isinstance(dest, str):
            dest = (dest,)
        dest = tuple(str(d) for d in dest)
        if not dest or any(not d for d in dest):
            raise ConfigError(f"{where}: an alarm needs at least one destination")
        object.__setattr__(self, "destinations", dest)
        object.__setattr__(self, "actions", {str(k): str(v) for k, v in dict(self.actions).items()})
        object.__setattr__(self, "grouping", _bool(self.grouping, f"{where}.grouping"))
        object.__setattr__(self, "is_enabled", _bool(self.is_enabled, f"{where}.is_enabled"))

    def _check_statistic(self, where: str) -> None:
        """The statistic is known; a percentile statistic has its 0 < p < 1, no other has one."""
        if self.statistic not in STATISTICS:
            raise ConfigError(f"{where}: statistic {self.statistic!r} is not one of {', '.join(STATISTICS)}")
        if self.statistic == "percentile":
            needs = f"{where}: the percentile statistic needs percentile=0<p<1"
            if self.percentile is None:
                raise ConfigError(needs)
            try:
                p = float(self.percentile)
            except (TypeError, ValueError):
                raise ConfigError(needs) from None
            if not 0 < p < 1:
                raise ConfigError(f"{where}: percentile must be between 0 and 1, got {p}")
            object.__setattr__(self, "percentile", p)
        elif self.percentile is not None:
            raise ConfigError(f"{where}: percentile is only for statistic='percentile'")

    def _check_durations(self, where: str) -> None:
        """pending_duration is whole minutes in PT1M..PT1H; repeat_notification_duration, if set, PT1M..P30D."""
        try:
            pend = duration_seconds(self.pending_duration)
        except UnprocessableError as exc:
            raise ConfigError(f"{where}: pending_duration: {exc.message}") from None
        if not 60 <= pend <= 3600 or pend % 60:
            raise ConfigError(
                f"{where}: pending_duration must be whole minutes from PT1M to PT1H, "
                f"got {self.pending_duration}"
            )
        if self.repeat_notification_duration is not None:
            try:
                rep = duration_seconds(self.repeat_notification_duration)
            except UnprocessableError as exc:
                raise ConfigError(f"{where}: repeat_notification_duration: {exc.message}") from None
            if not 60 <= rep <= 30 * 86400:
                raise ConfigError(
                    f"{where}: repeat_notification_duration must be PT1M..P30D, "
                    f"got {self.repeat_notification_duration}"
                )

    def __hash__(self) -> int:  # dict fields: hash what identifies the alarm
        return hash((self.name, self.namespace, self.to_mql()))

    # -- derived
    @property
    def interval_s(self) -> int:
        return interval_seconds(self.interval)

    @property
    def pending_s(self) -> int:
        return duration_seconds(self.pending_duration)

    @property
    def repeat_s(self) -> int | None:
        r = self.repeat_notification_duration
        return duration_seconds(r) if r else None

    def predicate(self) -> Predicate:
        return Predicate(self.operator, value=self.threshold)

    def metric_expression(self) -> str:
        """The query without its predicate: what OCI reports in ``metricValues``."""
        return render_alarm(
            self.metric,
            self.interval,
            dict(self.dimensions),
            self.statistic,
            percentile=self.percentile,
            grouping=self.grouping,
        )

    def to_mql(self) -> str:
        """OCI MQL, e.g. ``FunctionExecutionDuration[5m]{resourceId = "ocid1.fnfunc..."}.percentile(0.99) > 1000``."""
        return render_alarm(
            self.metric,
            self.interval,
            dict(self.dimensions),
            self.statistic,
            percentile=self.percentile,
            grouping=self.grouping,
            predicate=self.predicate(),
        )

    def describe(self) -> str:
        """One line a person understands: the summary, or what the query checks."""
        if self.summary:
            return self.summary
        pct = self.percentile  # set exactly when the statistic is "percentile" (validated)
        stat = (
            f"p{round(pct * 100, 3):g}"
            if self.statistic == "percentile" and pct is not None
            else self.statistic
        )
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        unit = UNITS.get(self.metric, "")
        return (
            f"{stat} of {self.metric}{' (' + where + ')' if where else ''} over {self.interval} "
            f"{self.operator} {self.threshold:g}{unit}"
        )

    def machine_line(self) -> str:
        """The line that carries the rule name and action hints inside every alarm message."""
        return MACHINE_PREFIX + json.dumps(
            {"rule": self.name, "kind": self.kind, "actions": dict(self.actions)},
            sort_keys=True,
            separators=(",", ":"),
        )

    def alarm_body(self) -> str:
        """The alarm's configured body: what it means, what to do, and the machine line."""
        parts = [self.describe()]
        if self.body:
            parts.append(self.body)
        parts.append(self.machine_line())
        return "\n".join(parts)

    def with_function_id(self, function_id: str) -> AlarmRule:
        """This rule watching the function with id ``function_id`` (the cloud's OCID for the local id)."""
        if not self.function:
            raise ConfigError(f"alarm rule {self.name!r} does not watch a function")
        return dataclasses.replace(self, dimensions={**self.dimensions, m.DIM_FUNCTION_ID: str(function_id)})

    def to_alarm_args(
        self,
        compartment_id: Any,
        topic_id: Any,
        *,
        metric_compartment_id: Any = None,
        display_name_prefix: str = "",
        function_id: Any = None,
    ) -> dict[str, Any]:
        """Keyword arguments of ``pulumi_oci.monitoring.Alarm`` (topic ids may be Pulumi outputs).

        ``function_id`` (a string or a Pulumi output) is the OCID of the function an oci_faas rule
        watches; the query and body then filter on it instead of the local stand-in id.

        ``topic_id`` is the alarm topic, or a mapping from destination name to topic id; OCI allows
        one Notifications destination per alarm, so the rule's destinations must resolve to one topic.
        """
        topic = self._topic(topic_id)
        args: dict[str, Any] = {
            "compartment_id": compartment_id,
            "destinations": [topic],
            "display_name": f"{display_name_prefix}{self.name}",
            "is_enabled": self.is_enabled,
            "metric_compartment_id": metric_compartment_id or compartment_id,
            "namespace": self.namespace,
            "query": self.to_mql(),
            "severity": self.severity,
            "pending_duration": self.pending_duration,
            "body": self.alarm_body(),
            "message_format": MESSAGE_FORMAT,
            "resolution": "1m",
            "is_notifications_per_metric_dimension_enabled": True,  # split: one message per stream
            "freeform_tags": {"mlops-rule": self.name, "mlops-kind": self.kind or "custom"},
        }
        if self.repeat_notification_duration:
            args["repeat_notification_duration"] = self.repeat_notification_duration
        if function_id is not None:
            if hasattr(function_id, "apply"):  # a Pulumi output: render once the OCID is known
                args["query"] = function_id.apply(lambda i: self.with_function_id(i).to_mql())
                args["body"] = function_id.apply(lambda i: self.with_function_id(i).alarm_body())
            else:
                bound = self.with_function_id(function_id)
                args["query"], args["body"] = bound.to_mql(), bound.alarm_body()
        return args

    def _topic(self, topic_id: Any) -> Any:
        """The one topic this rule's destinations resolve to (``topic_id`` or a destination -> topic map)."""
        if isinstance(topic_id, Mapping):
            missing = [d for d in self.destinations if d not in topic_id]
            if missing:
                raise ConfigError(
                    f"alarm rule {self.name!r}: no topic for destination {missing[0]!r} "
                    f"(known: {', '.join(sorted(topic_id))})"
                )
            topics: list[Any] = []
            for d in self.destinations:
                if not any(t is topic_id[d] for t in topics):
                    topics.append(topic_id[d])
            if len(topics) != 1:
                raise ConfigError(
                    f"alarm rule {self.name!r}: destinations {list(self.destinations)} resolve to "
                    f"{len(topics)} topics; OCI allows one Notifications topic per alarm"
                )
            topic = topics[0]
        else:
            topic = topic_id
        if topic is None or topic == "":
            raise ConfigError(f"alarm rule {self.name!r}: an alarm needs a destination topic")
        return topic

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dimensions"] = dict(self.dimensions)
        d["actions"] = dict(self.actions)
        d["destinations"] = list(self.destinations)
        d["query"] = self.to_mql()
        return d

    def with_overrides(self, overrides: Mapping[str, Any], where: str = "") -> AlarmRule:
        """A copy with some fields replaced; unknown or fixed fields fail naming the key."""
        bad = sorted(set(overrides) - OVERRIDABLE)
        if bad:
            raise ConfigError(
                f"{where or self.name}.{bad[0]}: cannot be overridden "
                f"(overridable: {', '.join(sorted(OVERRIDABLE))})"
            )
        kw = dict(overrides)
        if "enabled" in kw:
            kw["is_enabled"] = kw.pop("enabled")
        if "destinations" in kw and isinstance(kw["destinations"], (list, tuple)):
            kw["destinations"] = tuple(kw["destinations"])
        if "statistic" in kw and kw["statistic"] != "percentile" and "percentile" not in kw:
            kw["percentile"] = None
        return dataclasses.replace(self, **kw)


OVERRIDABLE = frozenset(
    {
        "interval",
        "statistic",
        "percentile",
        "operator",
        "threshold",
        "pending_duration",
        "repeat_notification_duration",
        "severity",
        "summary",
        "body",
        "destinations",
        "is_enabled",
        "enabled",
        "grouping",
        "actions",
    }
)
