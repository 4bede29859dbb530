"""Reading metrics back as numbers and bucketed series: one small protocol, a SQLite and an OCI reader.

The console (and anything else that charts metrics) asks two questions of a metric stream set:

- ``aggregate``: one statistic over ``start < ts <= end`` (the last hour's p99, error count, ...);
- ``series``: the same statistic per bucket of ``step`` seconds; bucket ``i`` is
  ``(start + i*step, start + (i+1)*step]`` and the answer has ``ceil((end-start)/step)`` values
  (``None`` where a bucket holds no point).

Statistics follow MQL's definitions as ``evaluator.aggregate`` does (weighted by each point's
``count``): ``sum`` (of ``value*count``), ``count`` (of ``count``), ``mean``, ``max``, ``min`` and
``percentile`` (the first value whose cumulative count reaches ``p * total``).

:class:`SqliteMetricsReader` computes sums, counts and means inside SQLite (``GROUP BY`` bucket over
the ``(stream_id, ts)`` index) and percentiles from one ordered scan of the window, so a 30-day
chart reads each row once. :class:`OciMetricsReader` asks OCI Monitoring's ``SummarizeMetricsData``
with an MQL query whose interval is the step (the cloud twin; the registry function uses it when no
SQLite file is configured).
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from mlops.errors import BadRequestError
from mlops.monitoring.mql import render_number, render_string

STATISTICS = ("sum", "count", "mean", "max", "min", "percentile")
#: PostMetricData takes datapoints up to two hours old (``mlops.monitoring.oci.MAX_AGE_S``) and the local
#: runtime writes "now": a bucket that ended that long before a query's end gets no more points
LATE_S = 2 * 3600
MAX_FINAL_BUCKETS = 200_000
_MISS = object()


class MetricsReader(Protocol):
    """What a chart needs from a metrics backend."""

    def aggregate_groups(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        group_by: Sequence[str],
        start: float,
        end: float,
        statistic: str,
        percentile: float | None = None,
    ) -> dict[tuple[str, ...], float | None]: ...

    def series(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        start: float,
        end: float,
        step: int,
        statistic: str,
        percentile: float | None = None,
    ) -> list[float | None]: ...

    def percentile_series(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        start: float,
        end: float,
        step: int,
        percentiles: Sequence[float],
    ) -> list[list[float | None]]: ...


def bucket_count(start: float, end: float, step: int) -> int:
    if step <= 0 or end <= start:
        raise BadRequestError("a series needs step > 0 and end > start", code="invalid_query")
    return int(math.ceil((end - start) / step - 1e-9))


def _check(statistic: str, percentile: float | None) -> None:
    if statistic not in STATISTICS:
        raise BadRequestError(f"unknown statistic {statistic!r}", code="invalid_query")
    if statistic == "percentile" and (percentile is None or not 0 < percentile < 1):
        raise BadRequestError("the percentile statistic needs 0 < p < 1", code="invalid_query")


def weighted_percentile(values: Sequence[tuple[float, int]], p: float) -> float | None:
    """``values`` sorted by value: the first value whose cumulative count reaches ``p * total``."""
    total = sum(c for _, c in values)
    if total <= 0:
        return None
    need, acc = p * total, 0
    for v, c in values:
        acc += c
        if acc >= need:
            return float(v)
    return float(values[-1][0])


_SQL = {
    "sum": "SUM(value * count)",
    "count": "SUM(count)",
    "mean": "SUM(value * count) / SUM(count)",
    "max": "MAX(value)",
    "min": "MIN(value)",
}


class SqliteMetricsReader:
    """A :class:`MetricsReader` over the local store (``mlops.monitoring.sqlite.SqliteMetrics``).

    Series keep their final buckets (``_memo``): a 30-day chart reads the whole month once per process,
    then only its newest buckets."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._final: OrderedDict[tuple, Any] = OrderedDict()

    def _ids(self, namespace: str, name: str, dimensions: Mapping[str, str]) -> list[int]:
        return [int(sid) for sid, _ in self.store.stream_ids(namespace, name, dict(dimensions))][:500]

    def _rows(self, sql: str, args: Sequence[Any]) -> list[tuple]:
        return self.store.read_rows(sql, args)

    def aggregate_groups(
        self, namespace, name, dimensions, group_by, start, end, statistic, percentile=None
    ) -> dict[tuple[str, ...], float | None]:
        """One statistic per group of streams (streams grouped by the values of ``group_by``), from one
        scan of the window: sums and counts per stream in SQL, combined per group here."""
        _check(statistic, percentile)
        groups: dict[int, tuple[str, ...]] = {
            int(sid): tuple(str(d.get(k, "")) for k in group_by)
            for sid, d in self.store.stream_ids(namespace, name, dict(dimensions))
        }
        out: dict[tuple[str, ...], float | None] = {g: None for g in groups.values()}
        ids = list(groups)[:500]
        if not ids:
            return out
        where = f"stream_id IN ({','.join('?' * len(ids))}) AND ts > ? AND ts <= ?"
        args = (*ids, float(start), float(end))
        if statistic == "percentile":
            per: dict[tuple[str, ...], list[tuple[float, int]]] = {}
            sql = f"SELECT stream_id, value, count FROM points WHERE {where} ORDER BY value"
            for sid, v, c in self._rows(sql, args):
                per.setdefault(groups[sid], []).append((v, int(c)))
            for g, vals in per.items():
                out[g] = weighted_percentile(vals, float(percentile or 0.5))
            return out
        sql = (
            "SELECT stream_id, SUM(value * count), SUM(count), MAX(value), MIN(value) "
            f"FROM points WHERE {where} GROUP BY stream_id"
        )
        acc: dict[tuple[str, ...], list[float]] = {}
        for sid, total, count, hi, lo in self._rows(sql, args):
            a = acc.setdefault(groups[sid], [0.0, 0.0, -math.inf, math.inf])
            a[0] += total or 0.0
            a[1] += count or 0
            a[2], a[3] = max(a[2], hi), min(a[3], lo)
        for g, (total, count, hi, lo) in acc.items():
            out[g] = {
                "sum": total,
                "count": count,
                "mean": total / count if count else None,
                "max": hi,
                "min": lo,
            }[statistic]
        return out

    def _memo(
        self, key: tuple, start: float, end: float, step: int, scan: Callable[[float], list[Any]]
    ) -> list[Any]:
        """Buckets that ended ``LATE_S`` before ``end`` are final (no point can still arrive for them): they
        are computed once and kept; later calls scan only the buckets after them. ``scan(s)`` computes the
        buckets from ``s`` to ``end`` on the same grid."""
        n = bucket_count(start, end, step)
        closed = max(0, min(n, int((end - LATE_S - start) // step)))
        keys = [(key, step, start + i * step) for i in range(closed)]
        with self._lock:
            cached = [self._final.get(k, _MISS) for k in keys]
        if closed and all(c is not _MISS for c in cached):
            return cached + (scan(start + closed * step) if closed < n else [])
        values = scan(start)
        with self._lock:
            for k, v in zip(keys, values, strict=False):
                self._final[k] = v
            while len(self._final) > MAX_FINAL_BUCKETS:
                self._final.popitem(last=False)
        return values

    def series(
        self, namespace, name, dimensions, start, end, step, statistic, percentile=None
    ) -> list[float | None]:
        _check(statistic, percentile)
        if statistic == "percentile":
            return self.percentile_series(
                namespace, name, dimensions, start, end, step, [float(percentile or 0.5)]
            )[0]
        ids = self._ids(namespace, name, dimensions)
        if not ids:
            return [None] * bucket_count(start, end, step)
        key = (namespace, name, tuple(sorted(dimensions.items())), statistic)
        return self._memo(key, start, end, step, lambda s: self._scan(ids, s, end, step, statistic))

    def _scan(
        self, ids: list[int], start: float, end: float, step: int, statistic: str
    ) -> list[float | None]:
        n = bucket_count(start, end, step)
        out: list[float | None] = [None] * n
        where = f"stream_id IN ({','.join('?' * len(ids))}) AND ts > ? AND ts <= ?"
        # bucket i holds (start + i*step, start + (i+1)*step]: shift by a microsecond so a point on a
        # bucket's end falls in that bucket, not the next
        sql = (
            f"SELECT CAST((ts - ? - 1e-6) / ? AS INTEGER) AS b, {_SQL[statistic]} FROM points "
            f"WHERE {where} GROUP BY b"
        )
        for b, v in self._rows(sql, (float(start), float(step), *ids, float(start), float(end))):
            if 0 <= b < n and v is not None:
                out[int(b)] = float(v)
        return out

    def percentile_series(
        self, namespace, name, dimensions, start, end, step, percentiles
    ) -> list[list[float | None]]:
        """Several percentiles per bucket from one ordered scan of the window."""
        for p in percentiles:
            _check("percentile", p)
        ps = tuple(float(p) for p in percentiles)
        ids = self._ids(namespace, name, dimensions)
        if not ids:
            return [[None] * bucket_count(start, end, step) for _ in ps]
        key = (namespace, name, tuple(sorted(dimensions.items())), ps)
        per_bucket = self._memo(
            key, start, end, step, lambda s: self._scan_percentiles(ids, s, end, step, ps)
        )
        return [[b[k] for b in per_bucket] for k in range(len(ps))]

    def _scan_percentiles(
        self, ids: list[int], start: float, end: float, step: int, ps: tuple[float, ...]
    ) -> list[tuple[float | None, ...]]:
        """One ordered scan; per bucket the ``weighted_percentile`` of each p. (Faster here than SQLite's
        window functions computing the same per bucket, measured on the console benchmark's data.)"""
        n = bucket_count(start, end, step)
        out: list[tuple[float | None, ...]] = [(None,) * len(ps)] * n
        where = f"stream_id IN ({','.join('?' * len(ids))}) AND ts > ? AND ts <= ?"
        sql = (
            f"SELECT CAST((ts - ? - 1e-6) / ? AS INTEGER) AS b, value, count FROM points WHERE {where} "
            "ORDER BY b, value"
        )
        rows = self._rows(sql, (float(start), float(step), *ids, float(start), float(end)))
        lo = 0
        while lo < len(rows):
            b, hi = rows[lo][0], lo
            while hi < len(rows) and rows[hi][0] == b:
                hi += 1
            if 0 <= b < n:
                vals = [(v, int(c)) for _b, v, c in rows[lo:hi]]
                out[int(b)] = tuple(weighted_percentile(vals, p) for p in ps)
            lo = hi
        return out


def _utc(ts: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC)


def _mql_interval(step: int) -> str:
    """An MQL interval for ``step`` seconds: Monitoring accepts 1m..60m, 1h..24h, 1d (whole units)."""
    if step < 60:
        return "1m"
    if step < 3600:
        return f"{max(1, min(60, step // 60))}m"
    if step < 86400:
        return f"{max(1, min(24, step // 3600))}h"
    return "1d"


def mql_query(
    name: str, dimensions: Mapping[str, str], step: int, statistic: str, percentile: float | None
) -> str:
    """``Name[interval]{k = "v", ...}.stat()``: the query ``SummarizeMetricsData`` evaluates."""
    dims = ", ".join(f"{k} = {render_string(v)}" for k, v in sorted(dimensions.items()))
    fn = (
        f"percentile({render_number(float(percentile or 0.5))})"
        if statistic == "percentile"
        else f"{statistic}()"
    )
    return f"{name}[{_mql_interval(step)}]" + (f"{{{dims}}}" if dims else "") + f".{fn}"


class OciMetricsReader:
    """A :class:`MetricsReader` over OCI Monitoring ``SummarizeMetricsData`` (``oci.monitoring.MonitoringClient``
    on the region's ``telemetry`` endpoint). Monitoring aggregates each interval itself; the datapoints of
    all matching streams are combined per bucket (sum/count add up, max/min take the extreme; mean and
    percentile take the streams' plain mean, which is exact for one stream - the console's case).

    ``client`` is a ``MonitoringClient`` or a function making one, called on the first query: a function
    that serves the registry must start even where the client cannot be built (no resource principal)."""

    def __init__(self, client: Any, compartment_id: str) -> None:
        self._client, self.compartment_id = client, compartment_id
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if not hasattr(self._client, "summarize_metrics_data") and callable(self._client):
                self._client = self._client()
            return self._client

    def _points(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        start: float,
        end: float,
        step: int,
        statistic: str,
        percentile: float | None,
    ) -> list[tuple[dict[str, str], float, float]]:
        import oci

        from mlops.monitoring.oci import call_oci

        details = oci.monitoring.models.SummarizeMetricsDataDetails(
            namespace=namespace,
            query=mql_query(name, dimensions, step, statistic, percentile),
            start_time=_utc(start),
            end_time=_utc(end),
            resolution=_mql_interval(step),
        )
        resp = call_oci(
            lambda: self.client.summarize_metrics_data(self.compartment_id, details),
            "SummarizeMetricsData",
            "metrics_query_rejected",
        )
        out: list[tuple[dict[str, str], float, float]] = []
        for item in resp.data or []:
            dims = dict(item.dimensions or {})
            for dp in item.aggregated_datapoints or []:
                out.append((dims, dp.timestamp.timestamp(), float(dp.value)))
        return out

    def series(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        start: float,
        end: float,
        step: int,
        statistic: str,
        percentile: float | None = None,
    ) -> list[float | None]:
        _check(statistic, percentile)
        n = bucket_count(start, end, step)
        acc: list[list[float]] = [[] for _ in range(n)]
        for _dims, ts, v in self._points(
            namespace, name, dimensions, start, end, step, statistic, percentile
        ):
            b = int((ts - start - 1e-6) // step)  # OCI stamps an interval with its end
            if 0 <= b < n:
                acc[b].append(v)
        return [_combine(statistic, vs) for vs in acc]

    def percentile_series(
        self, namespace, name, dimensions, start, end, step, percentiles
    ) -> list[list[float | None]]:
        """One SummarizeMetricsData call per percentile (an MQL query has one statistic)."""
        return [
            self.series(namespace, name, dimensions, start, end, step, "percentile", p) for p in percentiles
        ]

    def aggregate_groups(
        self, namespace, name, dimensions, group_by, start, end, statistic, percentile=None
    ) -> dict[tuple[str, ...], float | None]:
        _check(statistic, percentile)
        step = max(60, int(math.ceil(end - start)))
        values: dict[tuple[str, ...], list[float]] = {}
        for dims, _ts, v in self._points(
            namespace, name, dimensions, start, end, step, statistic, percentile
        ):
            values.setdefault(tuple(str(dims.get(k, "")) for k in group_by), []).append(v)
        return {g: _combine(statistic, vs) for g, vs in values.items()}


def _combine(statistic: str, values: list[float]) -> float | None:
    if not values:
        return None
    if statistic in ("sum", "count"):
        return float(sum(values))
    if statistic == "max":
        return max(values)
    if statistic == "min":
        return min(values)
    return float(sum(values) / len(values))


def telemetry_client(region: str, *, signer: Any = None, timeout: float = 10.0) -> Any:
    """A ``MonitoringClient`` on the region's ``telemetry`` endpoint (queries; PostMetricData uses the
    ``telemetry-ingestion`` one), resource principal by default."""
    import oci

    from mlops.monitoring.oci import resource_principal_signer, telemetry_ingestion_endpoint

    endpoint = telemetry_ingestion_endpoint(region).replace("telemetry-ingestion.", "telemetry.", 1)
    signer = signer if signer is not None else resource_principal_signer()
    return oci.monitoring.MonitoringClient({}, signer=signer, timeout=timeout, service_endpoint=endpoint)
