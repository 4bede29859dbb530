"""The stack's default alarm rules: per endpoint (its inference functions and custom metrics) and per
function, their kinds, and overrides from the stack settings (``monitoring.alarms``).

The rules are ``mlops.monitoring.alarms.AlarmRule`` values on the metric contract that module documents.

``default_rules``, per endpoint ``e`` with functions ``inference-e-stable`` and
``inference-e-canary`` (``mlops.names.inference_function_name``) and per other function ``f``.
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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlops.errors import ConfigError
from mlops.monitoring import metrics as m
from mlops.monitoring.alarms import ACTION_RETRAIN, ACTION_ROLLBACK, DEFAULT_DESTINATION, AlarmRule

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


# One endpoint's rules, in this order: (kind, target, watched function, its responseType, AlarmRule fields).
# In the strings "{e}" is the endpoint and "{stable}" / "{canary}" its inference functions. A rule that
# watches a function is on oci_faas, filtered on that function's resourceId; the others are on the
# stack's custom metrics, in its namespace.
_ROLLBACK = {ACTION_ROLLBACK: "{e}"}
_ENDPOINT_RULES: tuple[tuple[str, str, str | None, str | None, dict[str, Any]], ...] = (
    (
        "latency-p99",
        "{stable}",
        "{stable}",
        None,
        {
            "metric": m.FAAS_DURATION,
            "interval": "5m",
            "statistic": "percentile",
            "percentile": 0.99,
            "operator": ">",
            "threshold": 1000,
            "pending_duration": "PT5M",
            "severity": "WARNING",
            "body": "Requests to endpoint {e} are slow. Check the function log of {stable}, its memory "
            "and cold starts (provisioned concurrency).",
        },
    ),
    (
        "canary-latency-p99",
        "{e}",
        "{canary}",
        None,
        {
            "metric": m.FAAS_DURATION,
            "interval": "5m",
            "statistic": "percentile",
            "percentile": 0.99,
            "operator": ">",
            "threshold": 1000,
            "pending_duration": "PT3M",
            "severity": "CRITICAL",
            "actions": _ROLLBACK,
            "body": "The canary of endpoint {e} is slow; the guardian sets its weight to 0.",
        },
    ),
    (
        "errors",
        "{stable}",
        "{stable}",
        m.RESPONSE_ERROR,
        {
            "metric": m.FAAS_RESPONSES,
            "interval": "5m",
            "statistic": "sum",
            "operator": ">",
            "threshold": 5,
            "pending_duration": "PT1M",
            "severity": "ERROR",
            "body": "{stable} failed requests (502/504). Read its function log for the request ids.",
        },
    ),
    (
        "canary-errors",
        "{e}",
        "{canary}",
        m.RESPONSE_ERROR,
        {
            "metric": m.FAAS_RESPONSES,
            "interval": "5m",
            "statistic": "sum",
            "operator": ">",
            "threshold": 3,
            "pending_duration": "PT1M",
            "severity": "CRITICAL",
            "actions": _ROLLBACK,
            "body": "The canary of endpoint {e} fails requests; the guardian sets its weight to 0.",
        },
    ),
    (
        "drift",
        "{e}",
        None,
        None,
        {
            "metric": m.DRIFT_DETECTED,
            "dimensions": {"endpoint": "{e}"},
            "interval": "15m",
            "statistic": "max",
            "operator": ">=",
            "threshold": 1,
            "pending_duration": "PT1M",
            "severity": "WARNING",
            "actions": {ACTION_RETRAIN: "{e}"},
            "body": "The inputs of endpoint {e} drifted from the model's training data. See the drift report "
            "in the store (drift-reports/); the guardian requests retraining.",
        },
    ),
    (
        "confidence",
        "{e}-stable",
        None,
        None,
        {
            "metric": m.CONFIDENCE_MEAN,
            "dimensions": {"endpoint": "{e}", "variant": "stable"},
            "interval": "15m",
            "statistic": "mean",
            "operator": "<",
            "threshold": 0.5,
            "pending_duration": "PT5M",
            "severity": "WARNING",
            "body": "The production model of endpoint {e} is unsure of its answers; compare with the drift "
            "report and the accuracy metric.",
        },
    ),
    (
        "canary-confidence",
        "{e}",
        None,
        None,
        {
            "metric": m.CONFIDENCE_MEAN,
            "dimensions": {"endpoint": "{e}", "variant": "canary"},
            "interval": "15m",
            "statistic": "mean",
            "operator": "<",
            "threshold": 0.5,
            "pending_duration": "PT3M",
            "severity": "CRITICAL",
            "actions": _ROLLBACK,
            "body": "The canary of endpoint {e} is unsure of its answers; the guardian sets its weight to 0.",
        },
    ),
    (
        "canary-latency-ratio",
        "{e}",
        None,
        None,
        {
            "metric": m.CANARY_LATENCY_RATIO,
            "dimensions": {"endpoint": "{e}"},
            "interval": "15m",
            "statistic": "mean",
            "operator": ">",
            "threshold": 2,
            "pending_duration": "PT3M",
            "severity": "CRITICAL",
            "actions": _ROLLBACK,
            "body": "The canary of endpoint {e} is much slower than stable; the guardian sets its weight to 0.",
        },
    ),
    (
        "canary-confidence-drop",
        "{e}",
        None,
        None,
        {
            "metric": m.CANARY_CONFIDENCE_DROP,
            "dimensions": {"endpoint": "{e}"},
            "interval": "15m",
            "statistic": "mean",
            "operator": ">",
            "threshold": 0.1,
            "pending_duration": "PT3M",
            "severity": "CRITICAL",
            "actions": _ROLLBACK,
            "body": "The canary of endpoint {e} is less confident than stable; the guardian sets its weight to 0.",
        },
    ),
    (
        "canary-unavailable",
        "{e}",
        None,
        None,
        {
            "metric": m.CANARY_UNAVAILABLE,
            "dimensions": {"endpoint": "{e}"},
            "interval": "5m",
            "statistic": "sum",
            "operator": ">",
            "threshold": 0,
            "pending_duration": "PT1M",
            "severity": "CRITICAL",
            "actions": _ROLLBACK,
            "body": "The canary of endpoint {e} cannot serve its model version (its artifact failed verification "
            "or is missing; see the log of {canary}); its callers get the stable version meanwhile. "
            "The guardian sets its weight to 0.",
        },
    ),
)


def _fill(value: Any, names: Mapping[str, str]) -> Any:
    """A field of ``_ENDPOINT_RULES`` for one endpoint: ``names`` put into strings and dict values."""
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _faas_target(
    name: str, response_type: str | None, function_ids: Mapping[str, str] | None
) -> dict[str, Any]:
    """An oci_faas rule's target: the function and the dimensions that pick its streams."""
    fid = (function_ids or {}).get(name) or _local_function_id(name)
    return {
        "namespace": m.FAAS_NAMESPACE,
        "function": name,
        "dimensions": m.faas_alarm_dimensions(fid, response_type),
    }


def _endpoint_rules(
    e: str, namespace: str, dest: tuple[str, ...], function_ids: Mapping[str, str] | None
) -> list[AlarmRule]:
    """The rules of ``_ENDPOINT_RULES`` for endpoint ``e``, in table order."""
    slots = {
        "e": e,
        "stable": _inference_function_name(e, "stable"),
        "canary": _inference_function_name(e, "canary"),
    }
    rules = []
    for kind, target, watched, response_type, fields in _ENDPOINT_RULES:
        on = (
            _faas_target(watched.format(**slots), response_type, function_ids)
            if watched
            else {"namespace": namespace}
        )
        rules.append(
            AlarmRule(
                name=f"{kind}-{target.format(**slots)}",
                kind=kind,
                destinations=dest,
                **on,
                **{k: _fill(v, slots) for k, v in fields.items()},
            )
        )
    return rules


def _function_errors_rule(f: str, dest: tuple[str, ...], function_ids: Mapping[str, str] | None) -> AlarmRule:
    """The ``errors`` rule of a function that is not an endpoint's inference function."""
    return AlarmRule(
        name=f"errors-{f}",
        kind="errors",
        destinations=dest,
        metric=m.FAAS_RESPONSES,
        **_faas_target(f, m.RESPONSE_ERROR, function_ids),
        interval="5m",
        statistic="sum",
        operator=">",
        threshold=5,
        pending_duration="PT1M",
        severity="ERROR",
        body=f"Function {f} failed requests (502/504). Read its function log for the request ids.",
    )


def default_rules(
    endpoints: Sequence[str],
    functions: Sequence[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    namespace: str = "mlops",
    *,
    destinations: Sequence[str] = (DEFAULT_DESTINATION,),
    function_ids: Mapping[str, str] | None = None,
) -> list[AlarmRule]:
    """The stack's alarm rules: per inference function, per function, per endpoint and per canary.

    ``functions`` are every function of the stack (inference ones are recognised by name; the
    inference functions of ``endpoints`` are always included). ``overrides`` maps a rule name or a
    kind (see ``KINDS``) to field overrides, e.g. ``{"latency-p99": {"threshold": 500}}``; a rule's
    own name wins over its kind. An override that matches nothing is a ``ConfigError`` (a typo
    should not silently leave an alarm at its default).
    """
    dest = tuple(destinations)
    rules = [r for e in endpoints for r in _endpoint_rules(e, namespace, dest, function_ids)]
    inference = {_inference_function_name(e, v) for e in endpoints for v in ("stable", "canary")}
    rules += [_function_errors_rule(f, dest, function_ids) for f in functions if f not in inference]
    names = [r.name for r in rules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"duplicate alarm rule names: {', '.join(sorted(dup))}")
    return apply_overrides(rules, overrides or {})


def apply_overrides(
    rules: Sequence[AlarmRule], overrides: Mapping[str, Mapping[str, Any]], where: str = "monitoring.alarms"
) -> list[AlarmRule]:
    """Apply per-kind, then per-name overrides; a key that names no rule and no kind is an error."""
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: expected a mapping of rule name or kind to overrides")
    names = {r.name for r in rules}
    kinds = {r.kind for r in rules}
    for key, ov in overrides.items():
        if key not in names and key not in kinds:
            raise ConfigError(
                f"{where}.{key}: no alarm rule or kind of that name (kinds: {', '.join(sorted(kinds))})"
            )
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


def rules_for_settings(
    settings: Any, *, namespace: str | None = None, destinations: Sequence[str] = (DEFAULT_DESTINATION,)
) -> list[AlarmRule]:
    """``default_rules`` for a ``StackSettings``: its endpoints, every function, its namespace and overrides.

    oci_faas rules filter on each function's local stand-in id; Pulumi binds the OCID
    (``AlarmRule.to_alarm_args(function_id=...)``)."""
    from mlops.blueprint.functions import function_specs

    return default_rules(
        [e.name for e in settings.endpoints],
        [s.name for s in function_specs(settings)],
        settings.monitoring.alarms,
        namespace or settings.monitoring.namespace,
        destinations=destinations,
    )
