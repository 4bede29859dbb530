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

Default rules (``default_rules``), per endpoint ``e`` with functions ``inference-e-stable`` and
``inference-e-canary`` (``mlops.blueprint.inference_function_name``) and per other function ``f``.
Rules on oci_faas metrics filter on the watched function's ``resourceId`` (issue 13 G: OCI sets
``resourceDisplayName`` to ``<application>:<function>``, so a filter on the bare function name
never matched and those alarms could not fire):

- ``latency-p99-inference-e-stable`` / ``canary-latency-p99-e``: p99 FunctionExecutionDuration > 1000 ms
- ``errors-f`` / ``canary-errors-e``: sum of FunctionResponseCount{responseType = "Error"} over 5m
- ``drift-e``: max drift_detected over 15m >= 1 (action hint ``retrain``)
- ``confidence-e-stable`` / ``canary-confidence-e``: mean confidence_mean over 15m < 0.5
- ``canary-latency-ratio-e``: canary p99 more than twice stable's; ``canary-confidence-drop-e``:
  canary's mean confidence 0.1 below stable's
- ``canary-unavailable-e``: any canary-cohort prediction served by stable in 5m because the canary's
  version cannot be served (its artifact failed verification). None of the other rules can see this:
  the canary answers 200 with stable's predictions, so ``FunctionResponseCount{responseType = "Error"}``
  (fdk-level 502/504 only) stays flat, and the canary's own confidence and latency have no records.

Every rule on the canary carries the action hint ``{"rollback_canary": "<endpoint>"}``; the drift
rule carries ``{"retrain": "<endpoint>"}`` (the model and version come from the alarm's dimensions).
The hints travel in the alarm body as one machine-readable line (``mlops-alarm: {...}``) because
that body is the only text OCI copies from the alarm definition into every message; the guardian
reads it the same way locally and in the cloud (``mlops.monitoring.notify.parse_alarm_message``).

Cross-metric arithmetic is deliberately not used: OCI documents joins (``&&``/``||``) and nested
queries, so "canary worse than stable" is posted as one derived metric rather than computed in MQL.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
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
MESSAGE_FORMAT = "ONS_OPTIMIZED"   # email subscribers get the friendly layout; functions/HTTPS get raw JSON

UNITS = {m.FAAS_DURATION: " ms"}
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?\Z")


def duration_seconds(text: str) -> int:
    """Seconds of an ISO 8601 duration as OCI uses them (``PT5M``, ``PT1H``, ``P1D``, ``P1DT2H``)."""
    m_ = _DURATION.match(text or "")
    if not m_ or text in ("P", "PT") or text.endswith("T"):
        raise UnprocessableError(f"duration {text!r} is not ISO 8601 like PT5M, PT1H or P1D", code="invalid_rule")
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
    function: str = ""        # oci_faas rules: the function watched (its id is the resourceId filter)

    def __post_init__(self) -> None:
        where = f"alarm rule {self.name!r}"
        try:
            validate_name(self.name, "alarm rule name")
        except InvalidNameError as exc:
            raise ConfigError(exc.message) from None
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*\Z", self.namespace or ""):
            raise ConfigError(f"{where}: namespace {self.namespace!r} must start with a letter and use letters, "
                              "digits and '_'")
        try:
            m.validate_metric_name(self.metric)
            object.__setattr__(self, "dimensions", m.validate_dimensions(dict(self.dimensions), required=False))
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
            raise ConfigError(f"{where}: pending_duration must be whole minutes from PT1M to PT1H, "
                              f"got {self.pending_duration}")
        if self.repeat_notification_duration is not None:
            try:
                rep = duration_seconds(self.repeat_notification_duration)
            except UnprocessableError as exc:
                raise ConfigError(f"{where}: repeat_notification_duration: {exc.message}") from None
            if not 60 <= rep <= 30 * 86400:
                raise ConfigError(f"{where}: repeat_notification_duration must be PT1M..P30D, "
                                  f"got {self.repeat_notification_duration}")

    def __hash__(self) -> int:     # dict fields: hash what identifies the alarm
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
        return render_alarm(self.metric, self.interval, dict(self.dimensions), self.statistic,
                            percentile=self.percentile, grouping=self.grouping)

    def to_mql(self) -> str:
        """OCI MQL, e.g. ``FunctionExecutionDuration[5m]{resourceId = "ocid1.fnfunc..."}.percentile(0.99) > 1000``."""
        return render_alarm(self.metric, self.interval, dict(self.dimensions), self.statistic,
                            percentile=self.percentile, grouping=self.grouping, predicate=self.predicate())

    def describe(self) -> str:
        """One line a person understands: the summary, or what the query checks."""
        if self.summary:
            return self.summary
        pct = self.percentile     # set exactly when the statistic is "percentile" (validated)
        stat = f"p{round(pct * 100, 3):g}" if self.statistic == "percentile" and pct is not None else self.statistic
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        unit = UNITS.get(self.metric, "")
        return (f"{stat} of {self.metric}{' (' + where + ')' if where else ''} over {self.interval} "
                f"{self.operator} {self.threshold:g}{unit}")

    def machine_line(self) -> str:
        """The line that carries the rule name and action hints inside every alarm message."""
        return MACHINE_PREFIX + json.dumps({"rule": self.name, "kind": self.kind, "actions": dict(self.actions)},
                                           sort_keys=True, separators=(",", ":"))

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

    def to_alarm_args(self, compartment_id: Any, topic_id: Any, *, metric_compartment_id: Any = None,
                      display_name_prefix: str = "", function_id: Any = None) -> dict[str, Any]:
        """Keyword arguments of ``pulumi_oci.monitoring.Alarm`` (topic ids may be Pulumi outputs).

        ``function_id`` (a string or a Pulumi output) is the OCID of the function an oci_faas rule
        watches; the query and body then filter on it instead of the local stand-in id.

        ``topic_id`` is the alarm topic, or a mapping from destination name to topic id; OCI allows
        one Notifications destination per alarm, so the rule's destinations must resolve to one topic.
        """
        if isinstance(topic_id, Mapping):
            missing = [d for d in self.destinations if d not in topic_id]
            if missing:
                raise ConfigError(f"alarm rule {self.name!r}: no topic for destination {missing[0]!r} "
                                  f"(known: {', '.join(sorted(topic_id))})")
            topics: list[Any] = []
            for d in self.destinations:
                if not any(t is topic_id[d] for t in topics):
                    topics.append(topic_id[d])
            if len(topics) != 1:
                raise ConfigError(f"alarm rule {self.name!r}: destinations {list(self.destinations)} resolve to "
                                  f"{len(topics)} topics; OCI allows one Notifications topic per alarm")
            topic = topics[0]
        else:
            topic = topic_id
        if topic is None or topic == "":
            raise ConfigError(f"alarm rule {self.name!r}: an alarm needs a destination topic")
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
            "is_notifications_per_metric_dimension_enabled": True,   # split: one message per stream
            "freeform_tags": {"mlops-rule": self.name, "mlops-kind": self.kind or "custom"},
        }
        if self.repeat_notification_duration:
            args["repeat_notification_duration"] = self.repeat_notification_duration
        if function_id is not None:
            if hasattr(function_id, "apply"):    # a Pulumi output: render once the OCID is known
                args["query"] = function_id.apply(lambda i: self.with_function_id(i).to_mql())
                args["body"] = function_id.apply(lambda i: self.with_function_id(i).alarm_body())
            else:
                bound = self.with_function_id(function_id)
                args["query"], args["body"] = bound.to_mql(), bound.alarm_body()
        return args

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
            raise ConfigError(f"{where or self.name}.{bad[0]}: cannot be overridden "
                              f"(overridable: {', '.join(sorted(OVERRIDABLE))})")
        kw = dict(overrides)
        if "enabled" in kw:
            kw["is_enabled"] = kw.pop("enabled")
        if "destinations" in kw and isinstance(kw["destinations"], (list, tuple)):
            kw["destinations"] = tuple(kw["destinations"])
        if "statistic" in kw and kw["statistic"] != "percentile" and "percentile" not in kw:
            kw["percentile"] = None
        return dataclasses.replace(self, **kw)


OVERRIDABLE = frozenset({"interval", "statistic", "percentile", "operator", "threshold", "pending_duration",
                         "repeat_notification_duration", "severity", "summary", "body", "destinations",
                         "is_enabled", "enabled", "grouping", "actions"})

# ----------------------------------------------------------------------------- defaults

#: kind -> what the rule is about, for docs and the CLI
KINDS = {
    "latency-p99": "p99 execution time of a stable inference function",
    "canary-latency-p99": "p99 execution time of a canary inference function (rolls the canary back)",
    "errors": "error responses of a function",
    "canary-errors": "error responses of a canary inference function (rolls the canary back)",
    "drift": "the drift function found the endpoint's inputs drifted (requests retraining)",
    "confidence": "mean prediction confidence of the stable variant",
    "canary-confidence": "mean prediction confidence of the canary (rolls the canary back)",
    "canary-latency-ratio": "canary p99 latency relative to stable's (rolls the canary back)",
    "canary-confidence-drop": "canary confidence below stable's (rolls the canary back)",
    "canary-unavailable": "the canary's version cannot be served; stable answers its cohort (rolls the canary back)",
}


def _local_function_id(name: str) -> str:
    from mlops.names import local_function_id

    return local_function_id(name)


def _inference_function_name(endpoint: str, variant: str) -> str:
    from mlops.names import inference_function_name

    return inference_function_name(endpoint, variant)


def default_rules(endpoints: Sequence[str], functions: Sequence[str] = (),
                  overrides: Mapping[str, Mapping[str, Any]] | None = None, namespace: str = "mlops", *,
                  destinations: Sequence[str] = (DEFAULT_DESTINATION,),
                  function_ids: Mapping[str, str] | None = None) -> list[AlarmRule]:
    """The stack's alarm rules: per inference function, per function, per endpoint and per canary.

    ``functions`` are every function of the stack (inference ones are recognised by name; the
    inference functions of ``endpoints`` are always included). ``overrides`` maps a rule name or a
    kind (see ``KINDS``) to field overrides, e.g. ``{"latency-p99": {"threshold": 500}}``; a rule's
    own name wins over its kind. An override that matches nothing is a ``ConfigError`` (a typo
    should not silently leave an alarm at its default).
    """
    dest = tuple(destinations)
    rules: list[AlarmRule] = []
    faas = m.FAAS_NAMESPACE

    def fn(name: str, response_type: str | None = None) -> dict[str, Any]:
        """An oci_faas rule's target: the function and the dimensions that pick its streams."""
        fid = (function_ids or {}).get(name) or _local_function_id(name)
        return {"function": name, "dimensions": m.faas_alarm_dimensions(fid, response_type)}

    inference: dict[str, tuple[str, str]] = {}
    for e in endpoints:
        for variant in ("stable", "canary"):
            inference[_inference_function_name(e, variant)] = (e, variant)

    def add(kind: str, target: str, **kw: Any) -> None:
        rules.append(AlarmRule(name=f"{kind}-{target}", kind=kind, destinations=dest, **kw))

    for e in endpoints:
        _inference_rules(e, add, fn)
        _endpoint_metric_rules(e, namespace, add)
    for f in functions:
        if f in inference:
            continue
        add("errors", f, namespace=faas, metric=m.FAAS_RESPONSES, **fn(f, m.RESPONSE_ERROR),
            interval="5m", statistic="sum", operator=">", threshold=5, pending_duration="PT1M", severity="ERROR",
            body=f"Function {f} failed requests (502/504). Read its function log for the request ids.")
    names = [r.name for r in rules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"duplicate alarm rule names: {', '.join(sorted(dup))}")
    return apply_overrides(rules, overrides or {})


_Add = Callable[..., None]                       # add(kind, target, **AlarmRule fields)
_Target = Callable[..., dict[str, Any]]          # fn(function name, responseType=None) -> rule fields


def _inference_rules(e: str, add: _Add, fn: _Target) -> None:
    """The oci_faas rules of one endpoint's inference functions: latency and errors, stable and canary."""
    faas = m.FAAS_NAMESPACE
    stable_fn = _inference_function_name(e, "stable")
    canary_fn = _inference_function_name(e, "canary")
    rollback = {ACTION_ROLLBACK: e}
    add("latency-p99", stable_fn, namespace=faas, metric=m.FAAS_DURATION, **fn(stable_fn),
        interval="5m", statistic="percentile", percentile=0.99, operator=">", threshold=1000,
        pending_duration="PT5M", severity="WARNING",
        body=f"Requests to endpoint {e} are slow. Check the function log of {stable_fn}, its memory "
             "and cold starts (provisioned concurrency).")
    add("canary-latency-p99", e, namespace=faas, metric=m.FAAS_DURATION, **fn(canary_fn),
        interval="5m", statistic="percentile", percentile=0.99, operator=">", threshold=1000,
        pending_duration="PT3M", severity="CRITICAL", actions=rollback,
        body=f"The canary of endpoint {e} is slow; the guardian sets its weight to 0.")
    add("errors", stable_fn, namespace=faas, metric=m.FAAS_RESPONSES, **fn(stable_fn, m.RESPONSE_ERROR),
        interval="5m", statistic="sum", operator=">", threshold=5, pending_duration="PT1M", severity="ERROR",
        body=f"{stable_fn} failed requests (502/504). Read its function log for the request ids.")
    add("canary-errors", e, namespace=faas, metric=m.FAAS_RESPONSES, **fn(canary_fn, m.RESPONSE_ERROR),
        interval="5m", statistic="sum", operator=">", threshold=3, pending_duration="PT1M",
        severity="CRITICAL", actions=rollback,
        body=f"The canary of endpoint {e} fails requests; the guardian sets its weight to 0.")


def _endpoint_metric_rules(e: str, namespace: str, add: _Add) -> None:
    """The rules on one endpoint's custom metrics: drift, confidence and the canary comparisons."""
    canary_fn = _inference_function_name(e, "canary")
    rollback = {ACTION_ROLLBACK: e}
    add("drift", e, namespace=namespace, metric=m.DRIFT_DETECTED, dimensions={"endpoint": e},
        interval="15m", statistic="max", operator=">=", threshold=1, pending_duration="PT1M",
        severity="WARNING", actions={ACTION_RETRAIN: e},
        body=f"The inputs of endpoint {e} drifted from the model's training data. See the drift report "
             "in the store (drift-reports/); the guardian requests retraining.")
    add("confidence", f"{e}-stable", namespace=namespace, metric=m.CONFIDENCE_MEAN,
        dimensions={"endpoint": e, "variant": "stable"}, interval="15m", statistic="mean", operator="<",
        threshold=0.5, pending_duration="PT5M", severity="WARNING",
        body=f"The production model of endpoint {e} is unsure of its answers; compare with the drift "
             "report and the accuracy metric.")
    add("canary-confidence", e, namespace=namespace, metric=m.CONFIDENCE_MEAN,
        dimensions={"endpoint": e, "variant": "canary"}, interval="15m", statistic="mean", operator="<",
        threshold=0.5, pending_duration="PT3M", severity="CRITICAL", actions=rollback,
        body=f"The canary of endpoint {e} is unsure of its answers; the guardian sets its weight to 0.")
    add("canary-latency-ratio", e, namespace=namespace, metric=m.CANARY_LATENCY_RATIO,
        dimensions={"endpoint": e}, interval="15m", statistic="mean", operator=">", threshold=2,
        pending_duration="PT3M", severity="CRITICAL", actions=rollback,
        body=f"The canary of endpoint {e} is much slower than stable; the guardian sets its weight to 0.")
    add("canary-confidence-drop", e, namespace=namespace, metric=m.CANARY_CONFIDENCE_DROP,
        dimensions={"endpoint": e}, interval="15m", statistic="mean", operator=">", threshold=0.1,
        pending_duration="PT3M", severity="CRITICAL", actions=rollback,
        body=f"The canary of endpoint {e} is less confident than stable; the guardian sets its weight to 0.")
    add("canary-unavailable", e, namespace=namespace, metric=m.CANARY_UNAVAILABLE,
        dimensions={"endpoint": e}, interval="5m", statistic="sum", operator=">", threshold=0,
        pending_duration="PT1M", severity="CRITICAL", actions=rollback,
        body=f"The canary of endpoint {e} cannot serve its model version (its artifact failed verification "
             f"or is missing; see the log of {canary_fn}); its callers get the stable version meanwhile. "
             "The guardian sets its weight to 0.")


def apply_overrides(rules: Sequence[AlarmRule], overrides: Mapping[str, Mapping[str, Any]],
                    where: str = "monitoring.alarms") -> list[AlarmRule]:
    """Apply per-kind, then per-name overrides; a key that names no rule and no kind is an error."""
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: expected a mapping of rule name or kind to overrides")
    names = {r.name for r in rules}
    kinds = {r.kind for r in rules}
    for key, ov in overrides.items():
        if key not in names and key not in kinds:
            raise ConfigError(f"{where}.{key}: no alarm rule or kind of that name (kinds: "
                              f"{', '.join(sorted(kinds))})")
        if not isinstance(ov, Mapping):
            raise ConfigError(f"{where}.{key}: expected a mapping of fields to values")
    out = []
    for r in rules:
        if r.kind in overrides:
            r = r.with_overrides(overrides[r.kind], f"{where}.{r.kind}")
        if r.name in overrides:
            r = r.with_overrides(overrides[r.name], f"{where}.{r.name}")
        out.append(r)
    return out


def rules_for_settings(settings: Any, *, namespace: str | None = None,
                       destinations: Sequence[str] = (DEFAULT_DESTINATION,)) -> list[AlarmRule]:
    """``default_rules`` for a ``StackSettings``: its endpoints, every function, its namespace and overrides.

    oci_faas rules filter on each function's local stand-in id; Pulumi binds the OCID
    (``AlarmRule.to_alarm_args(function_id=...)``)."""
    from mlops.blueprint.functions import function_specs

    return default_rules([e.name for e in settings.endpoints], [s.name for s in function_specs(settings)],
                         settings.monitoring.alarms, namespace or settings.monitoring.namespace,
                         destinations=destinations)
