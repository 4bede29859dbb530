"""OCI backends: custom metrics through PostMetricData, and the clients the functions build.

PostMetricData goes to the telemetry-*ingestion* endpoint
(``https://telemetry-ingestion.<region>.oraclecloud.com``), takes at most 50 metric streams per call
(50 TPS per tenancy), datapoints from the last two hours up to ten minutes ahead, and custom
namespaces that start with a letter, use letters, digits and ``_`` and do not start with ``oci_`` or
``oracle_`` (``oci.monitoring.MonitoringClient.post_metric_data`` and its models). The sink groups
the datapoints of one stream into one ``MetricDataDetails``, splits a batch into calls of <= 50
streams, and checks every rule before sending anything, with errors that name the broken point.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlops.errors import BadRequestError, RateLimitedError, UnavailableError, UnprocessableError
from mlops.monitoring.metrics import MetricPoint, MetricsSink, points_by_stream, validate_point

log = logging.getLogger(__name__)

MAX_STREAMS_PER_CALL = 50
MAX_AGE_S = 2 * 3600
MAX_AHEAD_S = 10 * 60
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
_RESOURCE_GROUP = re.compile(r"^[A-Za-z][A-Za-z0-9._$-]*\Z")


def call_oci(fn: Callable[[], Any], what: str, rejected_code: str) -> Any:
    """Run one oci SDK call; its failures become our errors (429 -> 429, other 4xx -> 400 with
    ``rejected_code``, 5xx and transport errors -> 503), with the service's message."""
    import oci

    try:
        return fn()
    except oci.exceptions.ServiceError as exc:
        msg = f"{what} failed: {exc.status} {exc.code}: {exc.message}"
        if exc.status == 429:
            raise RateLimitedError(msg) from None
        if 400 <= exc.status < 500:
            raise BadRequestError(msg, code=rejected_code) from None
        raise UnavailableError(msg) from None
    except (oci.exceptions.RequestException, OSError) as exc:
        raise UnavailableError(f"{what} failed: {type(exc).__name__}: {exc}") from None


def telemetry_ingestion_endpoint(region: str) -> str:
    """The PostMetricData endpoint of a region (other Monitoring calls use ``telemetry``)."""
    if not region or not re.match(r"^[a-z0-9-]+\Z", region):
        raise UnprocessableError(f"region {region!r} is not an OCI region identifier")
    return f"https://telemetry-ingestion.{region}.oraclecloud.com"


def validate_namespace(namespace: object) -> str:
    """Custom-metric namespace rules: a letter first, then letters, digits, '_'; no oci_/oracle_ prefix."""
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise UnprocessableError(
            f"metric namespace {str(namespace)[:80]!r} is not allowed: start with a letter and use only "
            "letters, digits and '_'",
            code="invalid_metric",
        )
    if namespace.lower().startswith(("oci_", "oracle_")):
        raise UnprocessableError(
            f"metric namespace {namespace!r} is reserved: custom metrics may not start with 'oci_' or 'oracle_' "
            "(oci_faas metrics come from OCI Functions itself)",
            code="invalid_metric",
        )
    return namespace


def _utc(ts: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC)


class OciMonitoringSink(MetricsSink):
    """Posts custom metrics with ``MonitoringClient.post_metric_data`` (NON_ATOMIC batches).

    ``client`` must point at the telemetry-ingestion endpoint (see :func:`monitoring_client`).
    Points that OCI accepted partially are logged; ``last_failures`` keeps the failed records of
    the last ``put``. ``units`` maps a metric name to its ``unit`` metadata.
    """

    def __init__(
        self,
        client: Any,
        compartment_id: str,
        *,
        resource_group: str | None = None,
        units: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not compartment_id:
            raise UnprocessableError("OciMonitoringSink needs the compartment OCID the metrics belong to")
        if resource_group is not None and not _RESOURCE_GROUP.match(resource_group):
            raise UnprocessableError(f"resource group {resource_group!r} is not allowed")
        self.client = client
        self.compartment_id = compartment_id
        self.resource_group = resource_group
        self.units = dict(units or {})
        self.clock = clock
        self.calls = 0
        self.last_failures: list[dict[str, Any]] = []

    def check(self, point: MetricPoint, now: float | None = None) -> None:
        validate_point(point)
        validate_namespace(point.namespace)
        t = self.clock() if now is None else now
        if point.ts < t - MAX_AGE_S:
            raise UnprocessableError(
                f"metric {point.namespace}/{point.name}: datapoint at {_utc(point.ts).isoformat()} is more than "
                "2 hours old; PostMetricData would reject it",
                code="invalid_metric",
            )
        if point.ts > t + MAX_AHEAD_S:
            raise UnprocessableError(
                f"metric {point.namespace}/{point.name}: datapoint at {_utc(point.ts).isoformat()} is more than "
                "10 minutes ahead; PostMetricData would reject it",
                code="invalid_metric",
            )

    def batches(self, points: Sequence[MetricPoint]) -> list[list[Any]]:
        """The ``MetricDataDetails`` lists this sink would post: one per call, <= 50 streams each."""
        from oci.monitoring.models import Datapoint, MetricDataDetails

        now = self.clock()
        for p in points:
            self.check(p, now)
        details = []
        for (ns, name, dims), pts in points_by_stream(points).items():
            pts = sorted(pts, key=lambda p: p.ts)
            md = MetricDataDetails(
                namespace=ns,
                compartment_id=self.compartment_id,
                name=name,
                dimensions=dict(dims),
                datapoints=[
                    Datapoint(timestamp=_utc(p.ts), value=float(p.value), count=int(p.count)) for p in pts
                ],
            )
            if self.resource_group:
                md.resource_group = self.resource_group
            if name in self.units:
                md.metadata = {"unit": self.units[name]}
            details.append(md)
        return [details[i : i + MAX_STREAMS_PER_CALL] for i in range(0, len(details), MAX_STREAMS_PER_CALL)]

    def put(self, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        from oci.monitoring.models import PostMetricDataDetails

        self.last_failures = []
        for chunk in self.batches(points):
            details = PostMetricDataDetails(metric_data=chunk, batch_atomicity="NON_ATOMIC")
            resp = call_oci(
                functools.partial(self.client.post_metric_data, details), "PostMetricData", "metrics_rejected"
            )
            self.calls += 1
            data = getattr(resp, "data", None)
            failed = getattr(data, "failed_metrics", None) or []
            for rec in failed:
                md = getattr(rec, "metric_data", None)
                self.last_failures.append(
                    {
                        "message": getattr(rec, "message", ""),
                        "name": getattr(md, "name", None),
                        "dimensions": getattr(md, "dimensions", None),
                    }
                )
            if failed:
                log.warning(
                    "PostMetricData rejected %d of %d streams, first: %s",
                    len(failed),
                    len(chunk),
                    self.last_failures[-len(failed)]["message"],
                )


# ----------------------------------------------------------------------------- clients


def resource_principal_signer() -> Any:
    """The signer of a function's resource principal (reads the OCI_RESOURCE_PRINCIPAL_* env vars)."""
    import oci

    return oci.auth.signers.get_resource_principals_signer()


def monitoring_client(
    region: str, *, signer: Any = None, config: Mapping[str, Any] | None = None, timeout: float = 10.0
) -> Any:
    """A ``MonitoringClient`` on the region's telemetry-ingestion endpoint (resource principal by default)."""
    import oci

    signer = signer if signer is not None or config else resource_principal_signer()
    return oci.monitoring.MonitoringClient(
        dict(config or {}),
        signer=signer,
        timeout=timeout,
        service_endpoint=telemetry_ingestion_endpoint(region),
    )


def notification_client(
    *,
    signer: Any = None,
    config: Mapping[str, Any] | None = None,
    timeout: float = 10.0,
    service_endpoint: str | None = None,
) -> Any:
    """A ``NotificationDataPlaneClient`` (resource principal by default) for :class:`OnsNotifier`."""
    import oci

    signer = signer if signer is not None or config else resource_principal_signer()
    cfg = dict(config or {})
    if signer is not None and "region" not in cfg and getattr(signer, "region", None):
        cfg["region"] = signer.region
    kw: dict[str, Any] = {"signer": signer, "timeout": timeout}
    if service_endpoint:
        kw["service_endpoint"] = service_endpoint
    return oci.ons.NotificationDataPlaneClient(cfg, **kw)
