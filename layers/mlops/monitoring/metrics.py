"""Metric points and the one interface every metrics backend implements (SQLite, memory, OCI Monitoring).

A :class:`MetricPoint` is one raw datapoint in OCI's sense: ``value`` occurred ``count`` times at
``ts`` (epoch seconds) in the stream identified by ``(namespace, name, dimensions)``. Writers call
``put`` with a batch; readers (the local alarm evaluator, the CLI) call ``query_streams`` or
``query``. Windows are half-open at the start and closed at the end: ``start < ts <= end``, so the
window that ends "now" includes a point written at "now" and adjacent windows never share a point.

This module also holds the *producers' side of the metric contract* (see ``mlops.monitoring.alarms``
for the full table): :func:`invocation_points` for the ``oci_faas`` twin the local runtime writes
per invocation, and :func:`drift_points`, :func:`window_points`, :func:`canary_points` for the custom
metrics the drift function posts per window. Using these helpers keeps metric names and dimensions in
one place, so an alarm rule can never watch a metric nobody posts under that name.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from mlops.errors import UnprocessableError

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- names (the contract)

#: The namespace of the per-function metrics OCI Functions emits for free (doc "Function Metrics",
#: Functions/Reference/functionsmetrics.htm). The local runtime writes a twin of it into SQLite.
FAAS_NAMESPACE = "oci_faas"
FAAS_INVOCATIONS = "FunctionInvocationCount"  # count, one per invocation
FAAS_DURATION = "FunctionExecutionDuration"  # milliseconds
FAAS_RESPONSES = "FunctionResponseCount"  # count, dimension responseType
#: Dimensions of oci_faas metrics, the one place their names and value formats are written down
#: (doc "Function Metrics", docs.oracle.com/iaas/Content/Functions/Reference/functionsmetrics.htm:
#: RESOURCEID "The OCID of the function"; RESOURCEDISPLAYNAME "The name of the application containing
#: the function, and the name of the function", which public alarm queries write as
#: ``resourceDisplayName = "<application>:<function>"``; APPLICATIONID the application's OCID;
#: RESPONSETYPE Success | Error | Throttled). Queries use the camelCase names. Alarms filter on
#: ``resourceId`` only (:func:`faas_alarm_dimensions`): an OCID is exact and does not depend on how the
#: display name is composed. The local twin emits the same dimensions (:func:`faas_dimensions`) with a
#: stand-in id per function (``mlops.names.local_function_id``).
DIM_RESOURCE_ID = "resourceId"
DIM_RESOURCE_DISPLAY_NAME = "resourceDisplayName"
DIM_APPLICATION_ID = "applicationId"
DIM_RESPONSE_TYPE = "responseType"
DIM_FUNCTION_ID = DIM_RESOURCE_ID  # the dimension that names one function exactly
RESPONSE_SUCCESS, RESPONSE_ERROR, RESPONSE_THROTTLED = "Success", "Error", "Throttled"

#: Custom metrics (namespace from the stack settings, ``monitoring.namespace``, default "mlops").
DRIFT_DETECTED = "drift_detected"  # 1 if the window's dataset drifted (after persistence), else 0
DRIFT_SHARE = "drift_share"  # share of drifted features in the window, 0..1
PREDICTION_COUNT = "prediction_count"  # prediction records in the window
CONFIDENCE_MEAN = "confidence_mean"  # mean confidence of the window's records (count = n records)
ACCURACY = "accuracy"  # share of labelled predictions that were right (count = n labelled)
CANARY_LATENCY_RATIO = "canary_latency_ratio"  # p99 latency_ms canary / stable in the window
CANARY_CONFIDENCE_DROP = "canary_confidence_drop"  # mean confidence stable - canary in the window
CANARY_UNAVAILABLE = (
    "canary_unavailable"  # canary-cohort predictions stable served because the canary could not
)

# ----------------------------------------------------------------------------- points and streams


class MetricPoint(NamedTuple):
    """One raw datapoint: ``value`` observed ``count`` times at ``ts`` (epoch seconds)."""

    namespace: str
    name: str
    value: float
    dimensions: Mapping[str, str]
    ts: float
    # OCI's datapoint field name; at runtime it shadows tuple.count, which mypy's tuple stub cannot express
    count: int = 1  # type: ignore[assignment]


@dataclass
class Stream:
    """The points of one metric stream (one distinct dimension set) inside a query window."""

    dimensions: dict[str, str]
    points: list[tuple[float, float, int]] = field(default_factory=list)  # (ts, value, count), by ts


def stream_key(dimensions: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable, order-independent key for a dimension set."""
    return tuple(sorted((str(k), str(v)) for k, v in dimensions.items()))


def matches(dimensions: Mapping[str, str], dimensions_filter: Mapping[str, str] | None) -> bool:
    """True when every ``key = value`` of the filter holds for the stream's dimensions."""
    if not dimensions_filter:
        return True
    return all(dimensions.get(k) == v for k, v in dimensions_filter.items())


# ----------------------------------------------------------------------------- validation (shared)

# Metric names: "starts with an alphabetical character and includes only alphanumeric characters,
# dots, underscores, hyphens, and dollar signs" (oci.monitoring.models.MetricDataDetails.name).
_METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._$-]{0,254}\Z")
MAX_DIMENSIONS = 20  # per metric: 1..20 (PostMetricData per-call limits)
MAX_DIM_KEY = 256
MAX_DIM_VALUE = 512


def validate_metric_name(name: object) -> str:
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise UnprocessableError(
            f"metric name {str(name)[:80]!r} is not allowed: start with a letter and use only letters, "
            "digits, '.', '_', '-' or '$' (at most 255 characters)",
            code="invalid_metric",
        )
    return name


def validate_dimensions(dimensions: object, *, required: bool = True) -> dict[str, str]:
    """OCI's dimension rules: 1..20 pairs, keys printable ASCII without spaces (<=256), values 1..512 chars."""
    if not isinstance(dimensions, Mapping):
        raise UnprocessableError("dimensions must be a mapping of strings", code="invalid_metric")
    if required and not dimensions:
        raise UnprocessableError("a metric needs at least one dimension", code="invalid_metric")
    if len(dimensions) > MAX_DIMENSIONS:
        raise UnprocessableError(
            f"a metric may have at most {MAX_DIMENSIONS} dimensions, got {len(dimensions)}",
            code="invalid_metric",
        )
    out: dict[str, str] = {}
    for key, value in dimensions.items():
        if (
            not isinstance(key, str)
            or not key
            or len(key) > MAX_DIM_KEY
            or any(not (33 <= ord(ch) <= 126) for ch in key)
        ):
            raise UnprocessableError(
                f"dimension key {str(key)[:80]!r} is not allowed: 1-{MAX_DIM_KEY} printable ASCII characters, "
                "no spaces",
                code="invalid_metric",
            )
        if not isinstance(value, str) or not value or len(value) > MAX_DIM_VALUE:
            raise UnprocessableError(
                f"dimension {key}: value must be a non-empty string of at most {MAX_DIM_VALUE} characters",
                code="invalid_metric",
            )
        out[key] = value
    return out


def validate_point(p: MetricPoint) -> MetricPoint:
    """Name, dimensions, a finite value, a count >= 1 and a finite timestamp, or a 422 naming the problem."""
    validate_metric_name(p.name)
    validate_dimensions(p.dimensions)
    return _validate_numbers(p)


def _validate_numbers(p: MetricPoint) -> MetricPoint:
    if isinstance(p.value, bool) or not isinstance(p.value, (int, float)) or not math.isfinite(p.value):
        raise UnprocessableError(
            f"metric {p.name}: value must be a finite number, got {p.value!r}", code="invalid_metric"
        )
    if isinstance(p.count, bool) or not isinstance(p.count, int) or p.count < 1:
        raise UnprocessableError(
            f"metric {p.name}: count must be an integer >= 1, got {p.count!r}", code="invalid_metric"
        )
    if isinstance(p.ts, bool) or not isinstance(p.ts, (int, float)) or not math.isfinite(p.ts):
        raise UnprocessableError(
            f"metric {p.name}: ts must be epoch seconds, got {p.ts!r}", code="invalid_metric"
        )
    return p


# ----------------------------------------------------------------------------- interfaces


class MetricsSink(ABC):
    """Somewhere metric points go. ``put`` takes a batch; backends decide how to write it."""

    @abstractmethod
    def put(self, points: Sequence[MetricPoint]) -> None:
        """Write a batch of points; an invalid point fails the batch with a 422 before anything is written."""

    def check(self, point: MetricPoint) -> None:
        """Raise ``UnprocessableError`` when this sink would refuse ``point``."""
        validate_point(point)

    def flush(self) -> None:  # noqa: B027 - optional for unbuffered sinks
        """Write anything buffered (no-op for unbuffered sinks)."""

    def close(self) -> None:  # noqa: B027
        """Release resources; buffered sinks flush first."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MetricsStore(MetricsSink):
    """A sink that can also be read back (the local SQLite store, the in-memory store)."""

    @abstractmethod
    def query_streams(
        self, namespace: str, name: str, dimensions_filter: Mapping[str, str] | None, start: float, end: float
    ) -> list[Stream]:
        """Every stream of ``namespace/name`` matching the filter, with its points in ``start < ts <= end``."""

    def query(
        self,
        namespace: str,
        name: str,
        dimensions_filter: Mapping[str, str] | None = None,
        start: float = float("-inf"),
        end: float = float("inf"),
    ) -> list[tuple[float, float]]:
        """``(ts, value)`` of every matching point in the window, all streams merged, by time."""
        out = [
            (ts, v)
            for s in self.query_streams(namespace, name, dimensions_filter, start, end)
            for ts, v, _c in s.points
        ]
        out.sort(key=lambda tv: tv[0])
        return out


class MemoryMetrics(MetricsStore):
    """An in-process store with the same semantics as :class:`~mlops.monitoring.sqlite.SqliteMetrics`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, str, tuple], Stream] = {}

    def put(self, points: Sequence[MetricPoint]) -> None:
        checked = [validate_point(p) for p in points]
        with self._lock:
            for p in checked:
                key = (p.namespace, p.name, stream_key(p.dimensions))
                s = self._streams.get(key)
                if s is None:
                    s = self._streams[key] = Stream(dict(p.dimensions))
                s.points.append((float(p.ts), float(p.value), int(p.count)))

    def query_streams(self, namespace, name, dimensions_filter, start, end) -> list[Stream]:
        with self._lock:
            found = [
                (k, s)
                for k, s in self._streams.items()
                if k[0] == namespace and k[1] == name and matches(s.dimensions, dimensions_filter)
            ]
            out = []
            for _k, s in sorted(found, key=lambda ks: ks[0][2]):
                pts = sorted(p for p in s.points if start < p[0] <= end)
                if pts:
                    out.append(Stream(dict(s.dimensions), pts))
            return out


# ----------------------------------------------------------------------------- producers' helpers


def response_type(status: int) -> str:
    """oci_faas ``responseType`` of a function's wire status (the fdk puts only 200/502/504 on it)."""
    if 200 <= status < 300:
        return RESPONSE_SUCCESS
    if status == 429:
        return RESPONSE_THROTTLED
    return RESPONSE_ERROR


def faas_display_name(application: str, function: str) -> str:
    """``resourceDisplayName`` of a function's oci_faas metrics: ``<application>:<function>``."""
    return f"{application}:{function}"


def faas_dimensions(
    function_id: str, *, application: str, function: str, application_id: str | None = None
) -> dict[str, str]:
    """The dimensions OCI Functions puts on a function's oci_faas metrics (``responseType`` is added on
    FunctionResponseCount). The local twin emits exactly these; see the names' source above."""
    dims = {DIM_RESOURCE_ID: function_id, DIM_RESOURCE_DISPLAY_NAME: faas_display_name(application, function)}
    if application_id:
        dims[DIM_APPLICATION_ID] = application_id
    return dims


def faas_alarm_dimensions(function_id: str, response_type: str | None = None) -> dict[str, str]:
    """What an alarm on one function's oci_faas metrics filters on: its OCID (and a response type)."""
    dims = {DIM_RESOURCE_ID: function_id}
    if response_type is not None:
        dims[DIM_RESPONSE_TYPE] = response_type
    return dims


def invocation_points(
    function: str,
    status: int,
    duration_ms: float,
    ts: float | None = None,
    *,
    application: str = "local",
    function_id: str | None = None,
    application_id: str | None = None,
) -> list[MetricPoint]:
    """The three ``oci_faas`` twin points of one invocation: count, duration (ms) and response type.

    Dimensions are :func:`faas_dimensions`; ``function_id`` defaults to the function's local stand-in
    id (``mlops.names.local_function_id``), the id the local alarm rules filter on.
    ``status`` is the status the function runtime saw (the fdk's 200/502/504, or 429 when throttled),
    not the ``fn-http-status`` an application error travels in: OCI counts an app-level 404 that the
    fdk answered with 200 as a success too, and the local twin must agree with the cloud.
    """
    t = time.time() if ts is None else ts
    rtype = response_type(status)
    key = (function, application, application_id, function_id, rtype)
    cached = _INVOCATION_DIMS.get(key)
    if cached is None:  # points share these dicts: treat a point's dimensions as read-only
        if function_id is None:
            from mlops.names import local_function_id

            function_id = local_function_id(function)
        dims = faas_dimensions(
            function_id, application=application, function=function, application_id=application_id
        )
        cached = (dims, {**dims, DIM_RESPONSE_TYPE: rtype})
        if len(_INVOCATION_DIMS) < 4096:
            _INVOCATION_DIMS[key] = cached
    dims, rdims = cached
    return [
        MetricPoint(FAAS_NAMESPACE, FAAS_INVOCATIONS, 1.0, dims, t),
        MetricPoint(FAAS_NAMESPACE, FAAS_DURATION, float(duration_ms), dims, t),
        MetricPoint(FAAS_NAMESPACE, FAAS_RESPONSES, 1.0, rdims, t),
    ]


_INVOCATION_DIMS: dict[tuple, tuple[dict[str, str], dict[str, str]]] = {}


def _model_dims(endpoint: str, model: str, version: int | str, variant: str | None = None) -> dict[str, str]:
    d = {"endpoint": endpoint, "model": model, "version": str(version)}
    if variant is not None:
        d["variant"] = variant
    return d


def drift_points(
    namespace: str,
    endpoint: str,
    model: str,
    version: int | str,
    *,
    drifted: bool,
    drift_share: float,
    ts: float,
) -> list[MetricPoint]:
    """``drift_detected`` (0/1) and ``drift_share`` for one window of one model version."""
    dims = _model_dims(endpoint, model, version)
    return [
        MetricPoint(namespace, DRIFT_DETECTED, 1.0 if drifted else 0.0, dims, ts),
        MetricPoint(namespace, DRIFT_SHARE, float(drift_share), dims, ts),
    ]


def window_points(
    namespace: str,
    endpoint: str,
    model: str,
    version: int | str,
    variant: str,
    *,
    predictions: int,
    confidence_mean: float | None = None,
    accuracy: float | None = None,
    labelled: int = 0,
    ts: float,
) -> list[MetricPoint]:
    """Per-variant window summary: ``prediction_count``, ``confidence_mean`` and ``accuracy`` when known.

    ``confidence_mean`` is posted with ``count = predictions`` so that a mean over several windows
    weighs each record once; a window without confidences (regressors) posts none.
    """
    dims = _model_dims(endpoint, model, version, variant)
    out = [MetricPoint(namespace, PREDICTION_COUNT, float(predictions), dims, ts)]
    if confidence_mean is not None and predictions > 0:
        out.append(
            MetricPoint(namespace, CONFIDENCE_MEAN, float(confidence_mean), dims, ts, int(predictions))
        )
    if accuracy is not None and labelled > 0:
        out.append(MetricPoint(namespace, ACCURACY, float(accuracy), dims, ts, int(labelled)))
    return out


@dataclass(frozen=True)
class VariantWindow:
    """What one variant did in a window, as read from its prediction records."""

    predictions: int
    latency_p99_ms: float | None = None
    confidence_mean: float | None = None


def canary_points(
    namespace: str,
    endpoint: str,
    stable: VariantWindow,
    canary: VariantWindow,
    *,
    ts: float,
    min_predictions: int = 20,
) -> list[MetricPoint]:
    """Canary-versus-stable comparisons of one window; nothing when either side has too few records.

    ``canary_latency_ratio`` = canary p99 / stable p99; ``canary_confidence_drop`` = stable mean
    confidence - canary mean confidence. Posting nothing on thin traffic means "no data", which an
    alarm never treats as a breach.
    """
    if stable.predictions < min_predictions or canary.predictions < min_predictions:
        return []
    dims = {"endpoint": endpoint}
    out = []
    if stable.latency_p99_ms and canary.latency_p99_ms is not None:
        out.append(
            MetricPoint(
                namespace, CANARY_LATENCY_RATIO, canary.latency_p99_ms / stable.latency_p99_ms, dims, ts
            )
        )
    if stable.confidence_mean is not None and canary.confidence_mean is not None:
        out.append(
            MetricPoint(
                namespace, CANARY_CONFIDENCE_DROP, stable.confidence_mean - canary.confidence_mean, dims, ts
            )
        )
    return out


def canary_unavailable_points(
    namespace: str, endpoint: str, fallbacks: int, *, ts: float
) -> list[MetricPoint]:
    """``canary_unavailable``: how many of the window's canary-cohort predictions the stable version served
    because the canary's own version could not be served (its artifact failed verification, ...)."""
    return [MetricPoint(namespace, CANARY_UNAVAILABLE, float(fallbacks), {"endpoint": endpoint}, ts)]


def validated_rows(
    points: Sequence[MetricPoint],
) -> dict[tuple[str, str, str], list[tuple[float, float, int]]]:
    """Validate a batch and group it as ``(namespace, name, canonical dims JSON) -> [(ts, value, count)]``.

    Names and dimension sets repeat across a batch (the same function, the same endpoint), so each
    distinct dict and name is validated and serialized once per batch.
    """
    import json

    dims_json: dict[int, str] = {}
    names: set[str] = set()
    out: dict[tuple[str, str, str], list[tuple[float, float, int]]] = {}
    for p in points:
        d = p.dimensions
        dj = dims_json.get(id(d))
        if dj is None:
            validate_dimensions(d)
            dj = dims_json[id(d)] = json.dumps(
                dict(d), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
        if p.name not in names:
            validate_metric_name(p.name)
            names.add(p.name)
        _validate_numbers(p)
        out.setdefault((p.namespace, p.name, dj), []).append((float(p.ts), float(p.value), int(p.count)))
    return out


def points_by_stream(points: Iterable[MetricPoint]) -> dict[tuple, list[MetricPoint]]:
    """Group points by ``(namespace, name, dimensions)``: one entry per metric stream."""
    out: dict[tuple, list[MetricPoint]] = {}
    for p in points:
        out.setdefault((p.namespace, p.name, stream_key(p.dimensions)), []).append(p)
    return out
