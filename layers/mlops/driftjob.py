"""One prediction-log object in, drift reports and window metrics out: the body of the drift function.

Triggered by an Events ``createobject`` CloudEvent for ``prediction-logs/<endpoint>/...``:
read the window, group predictions by model version, compare each group's sampled
features with that version's reference profile (made once at registration), decide
with k-of-n persistence (state kept per endpoint and version in the store, CAS), write a
JSON and a self-contained HTML report, and post metrics in one batch: ``drift_detected``
/ ``drift_share`` per version, per-variant window metrics (count, mean confidence,
latency), the canary-vs-stable derived metrics, ``canary_unavailable`` (canary callers that the
stable version served because the canary could not), and accuracy where feedback arrived.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.errors import BadRequestError, NotFoundError, PreconditionFailedError
from mlops.fnconfig.drift import DriftJobConfig  # the job thresholds live with the drift function config
from mlops.monitoring import metrics as mm
from mlops.storage.base import put_once

if TYPE_CHECKING:
    from mlops.drift.profile import ReferenceProfile

LOG_PREFIX = "prediction-logs/"
REPORT_PREFIX = "reports/drift/"
STATE_PREFIX = "drift-state/"
RECENT_WINDOWS = 50  # window summaries kept in a version's drift state (the console's report list)


def report_stamp(ts: float) -> str:
    """The time part of a report's key: ``%Y%m%dT%H%M%S%fZ``, so report keys sort by time."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class LogObject:
    """Where a new log object is: the registry store's ``prediction-logs/`` (local) or the logs bucket."""

    key: str
    bucket: str | None
    namespace: str | None


def object_of_event(event: Any) -> LogObject:
    """The object an OCI Events object-created CloudEvent names; a 400 for anything else."""
    if not isinstance(event, dict) or not str(event.get("eventType", "")).startswith(
        "com.oraclecloud.objectstorage.createobject"
    ):
        raise BadRequestError(
            "expected an Events com.oraclecloud.objectstorage.createobject CloudEvent", code="invalid_event"
        )
    data = event.get("data") or {}
    name = data.get("resourceName")
    details = data.get("additionalDetails") or {}
    if not isinstance(name, str) or not name or ".." in name or name.startswith("/"):
        raise BadRequestError(f"the event names no usable object ({str(name)[:120]!r})", code="invalid_event")
    return LogObject(name, details.get("bucketName"), details.get("namespace"))


def object_key_of_event(event: Any) -> str:
    """The object name of a local log event (``prediction-logs/<endpoint>/...``); a 400 otherwise."""
    obj = object_of_event(event)
    if not obj.key.startswith(LOG_PREFIX):
        raise BadRequestError(
            f"object {obj.key[:120]!r} is not a prediction log (expected {LOG_PREFIX}...)",
            code="not_a_prediction_log",
        )
    return obj.key


def read_records(data: bytes) -> tuple[list[dict], list[dict]]:
    """(predictions, feedback) of a log object (local NDJSON or the cloud's log entries, maybe gzip)."""
    from mlops.logrecords import iter_log_records

    preds, fb = [], []
    for rec in iter_log_records(data):
        kind = rec.get("kind")
        if kind == "prediction":
            preds.append(rec)
        elif kind == "feedback":
            fb.append(rec)
    return preds, fb


def _columns(records: list[dict], names: Iterable[str]) -> dict[str, np.ndarray]:
    cols: dict[str, list] = {n: [] for n in names}
    for r in records:
        f = r.get("features") or {}
        for n in cols:
            cols[n].append(f.get(n))
    out = {}
    for n, vals in cols.items():
        try:
            out[n] = np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
        except (TypeError, ValueError):
            out[n] = np.asarray(vals, dtype=object)
    return out


class DriftJob:
    """Runs the drift analysis of one log object against the registry's reference profiles."""

    def __init__(
        self,
        store,
        registry,
        sink: mm.MetricsSink,
        config: DriftJobConfig = DriftJobConfig(),
        clock: Callable[[], float] = time.time,
        *,
        log_reader: Callable[[LogObject], bytes] | None = None,
        after_window: Callable[[str], dict | None] | None = None,
    ) -> None:
        """``log_reader`` reads objects of the cloud's logs bucket (Service Connector output);
        ``after_window(endpoint)`` runs once per endpoint seen in a window (the A/B check)."""
        self.store, self.registry, self.sink, self.config, self.clock = store, registry, sink, config, clock
        self.log_reader, self.after_window = log_reader, after_window
        self._detectors: dict[tuple[str, int], Any] = {}  # (model, version) -> (profile, detector)

    def _detector(self, model: str, version: int):
        """The version's reference profile and detector, loaded once per warm function instance."""
        from mlops.drift import DriftDetector, load_profile

        hit = self._detectors.get((model, version))
        if hit is not None:
            return hit
        try:
            raw = self.registry.get_reference_profile(model, version)
        except NotFoundError:
            raw = None
        if not raw:
            return None
        profile = load_profile(raw)
        detector = DriftDetector(
            profile,
            alpha=self.config.alpha,
            effect_threshold=self.config.effect_threshold,
            dataset_rule=self.config.dataset_rule,
            share_threshold=self.config.share_threshold,
            count_threshold=self.config.count_threshold,
            strong_threshold=self.config.strong_threshold,
            min_rows=self.config.min_rows,
        )
        if len(self._detectors) >= 8:  # profiles can be large: keep a few versions only
            self._detectors.pop(next(iter(self._detectors)))
        self._detectors[(model, version)] = (profile, detector)
        return profile, detector

    def run(self, event: Any) -> dict[str, Any]:
        obj = object_of_event(event)
        # A redelivered event (Events retries, the local shipper after a store outage) must not write a
        # second report nor count the window twice in the persistence history: one marker per object.
        done_key = f"{STATE_PREFIX}done/{hashlib.sha256(f'{obj.bucket}/{obj.key}'.encode()).hexdigest()}.json"
        try:
            previous = json.loads(self.store.get(done_key).data)
            return {**previous, "duplicate": True}
        except NotFoundError:
            pass
        except ValueError:
            pass
        summary = self._run(obj)
        try:
            self.store.put(
                done_key,
                json.dumps(summary, default=str).encode(),
                if_none_match=True,
                content_type="application/json",
            )
        except PreconditionFailedError:
            pass
        return summary

    def _run(self, obj: LogObject) -> dict[str, Any]:
        local = obj.key.startswith(LOG_PREFIX)
        if local:
            data = self.store.get(obj.key).data
        elif self.log_reader is not None:
            data = self.log_reader(obj)
        else:
            raise BadRequestError(
                f"object {obj.key[:120]!r} is not a prediction log (expected {LOG_PREFIX}...)",
                code="not_a_prediction_log",
            )
        preds, feedback = read_records(data)
        ts = self.clock()
        by_endpoint: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for r in preds:
            by_endpoint[str(r.get("endpoint"))][0].append(r)
        for r in feedback:
            by_endpoint[str(r.get("endpoint"))][1].append(r)
        summary: dict[str, Any] = {
            "object": obj.key,
            "predictions": len(preds),
            "feedback": len(feedback),
            "endpoints": {},
        }
        points: list[mm.MetricPoint] = []
        for endpoint, (eps, efb) in sorted(by_endpoint.items()):
            if not local:
                summary["endpoints"].setdefault(endpoint, {})["normalized"] = self._normalize(
                    obj, endpoint, eps + efb, ts
                )
            summary["endpoints"].setdefault(endpoint, {})["versions"] = self._window(
                endpoint, eps, ts, points
            )
        if points:
            self.sink.put(points)
            self.sink.flush()
        summary["metrics_posted"] = len(points)
        if self.after_window is not None:
            for endpoint in sorted(by_endpoint):
                try:
                    verdict = self.after_window(endpoint)
                except Exception as exc:  # the drift work is done; an A/B failure must not undo it
                    verdict = {"error": f"{type(exc).__name__}: {exc}"}
                if verdict:
                    summary["endpoints"][endpoint]["ab"] = verdict
        return summary

    def _window(self, endpoint: str, preds: list[dict], ts: float, points: list) -> list[dict[str, Any]]:
        by_version: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for r in preds:
            if r.get("variant") == "shadow":
                continue
            by_version[(str(r.get("model")), int(r.get("version") or 0))].append(r)
        out = [
            self._drift_for(endpoint, model, version, recs, ts, points)
            for (model, version), recs in sorted(by_version.items())
        ]
        points.extend(self._window_points(endpoint, preds, ts))
        return out

    def _normalize(self, obj: LogObject, endpoint: str, records: list[dict], ts: float) -> str | None:
        """Copy one endpoint's records of a connector object to ``prediction-logs/<endpoint>/`` in the
        registry store, so that A/B analysis reads the same layout in the cloud as locally.
        Named by the source object, so a redelivered event writes nothing twice."""
        from mlops.names import validate_endpoint_name

        try:
            validate_endpoint_name(endpoint)
        except Exception:
            return None
        digest = hashlib.sha256(f"{obj.bucket}/{obj.key}".encode()).hexdigest()[:16]
        day = datetime.fromtimestamp(ts, UTC)
        key = f"{LOG_PREFIX}{endpoint}/{day:%Y/%m/%d/%H%M%S}-{digest}.ndjson"
        body = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        try:
            put_once(self.store, key, body, if_none_match=True, content_type="application/x-ndjson")
        except PreconditionFailedError:
            pass
        return key

    # ------------------------------------------------------------------ drift per version
    def _drift_for(
        self, endpoint: str, model: str, version: int, recs: list[dict], ts: float, points: list
    ) -> dict[str, Any]:
        # the monitoring sample only: rows whose features are there for retraining say "sampled": false
        sampled = [r for r in recs if r.get("features") and r.get("sampled", True) is not False]
        out: dict[str, Any] = {"model": model, "version": version, "rows": len(sampled)}
        if len(sampled) < self.config.min_rows:
            out["skipped"] = f"{len(sampled)} sampled rows < min_rows {self.config.min_rows}"
            return out
        loaded = self._detector(model, version)
        if loaded is None:
            out["skipped"] = "the version has no reference profile"
            return out
        profile, detector = loaded
        current = _columns(sampled, list(profile.features))
        result = detector.compare(
            current,
            window={
                "endpoint": endpoint,
                "model": model,
                "version": version,
                "start": sampled[0].get("ts"),
                "end": sampled[-1].get("ts"),
            },
        ).to_dict()
        window_drifted = bool(result["dataset"]["drifted"])
        summary = {  # kept in the state too: the console lists recent windows without reading reports
            "stamp": report_stamp(ts),
            "window_drifted": window_drifted,
            "share": result["dataset"].get("share"),
            "drifted_features": [f for f, d in result["features"].items() if d.get("drifted")],
            "rows": len(sampled),
        }
        history = self._remember(endpoint, model, version, window_drifted, summary)
        k, n = self.config.persistence_k, self.config.persistence_n
        alarmed = sum(history[-n:]) >= k
        result["persistence"] = {"k": k, "n": n, "history": history[-n:], "drifted": alarmed}
        title = f"Drift of {model} v{version} on endpoint {endpoint} ({len(sampled)} rows)"
        report = self._write_report(f"{endpoint}/{model}-v{version}", ts, result, profile, current, title)
        points.extend(
            mm.drift_points(
                self.config.namespace,
                endpoint,
                model,
                version,
                drifted=alarmed,
                drift_share=float(result["dataset"].get("share") or 0.0),
                ts=ts,
            )
        )
        out.update(
            {
                "window_drifted": window_drifted,
                "drifted": alarmed,
                "share": result["dataset"].get("share"),
                "report": report,
                "drifted_features": [f for f, d in result["features"].items() if d.get("drifted")],
            }
        )
        return out

    def _write_report(
        self,
        where: str,
        ts: float,
        result: dict[str, Any],
        profile: ReferenceProfile,
        current: dict[str, np.ndarray],
        title: str,
    ) -> str:
        """Store the window's result as JSON and its HTML report under ``where``; the report's key."""
        from mlops.drift.plotdata import plot_data
        from mlops.drift.report import render_html

        base = f"{REPORT_PREFIX}{where}/{report_stamp(ts)}"
        doc = {**result, "plots": plot_data(profile, current)}  # the console's charts (mlops.console)
        self.store.put(
            base + ".json", json.dumps(doc, default=float).encode(), content_type="application/json"
        )
        self.store.put(
            base + ".html",
            render_html(result, profile, current, title=title).encode(),
            content_type="text/html",
        )
        return base + ".html"

    def _remember(
        self, endpoint: str, model: str, version: int, drifted: bool, summary: dict[str, Any] | None = None
    ) -> list[bool]:
        """Append this window's decision to the persisted history (CAS, bounded retries), and its summary
        (with the k-of-n verdict) to the newest ``RECENT_WINDOWS`` summaries, newest first."""
        key = f"{STATE_PREFIX}{endpoint}/{model}-v{version}.json"
        k, n = self.config.persistence_k, self.config.persistence_n
        for _ in range(20):
            try:
                obj = self.store.get(key)
                doc, etag = json.loads(obj.data), obj.etag
            except NotFoundError:
                doc, etag = {"history": []}, None
            history = (list(doc.get("history") or []) + [drifted])[-max(10, n) :]
            state: dict[str, Any] = {"history": history, "updated_at": self.clock(), "k": k, "n": n}
            if summary is not None:
                recent = [{**summary, "drifted": sum(history[-n:]) >= k}] + list(doc.get("recent") or [])
                state["recent"] = recent[:RECENT_WINDOWS]
            data = json.dumps(state).encode()
            try:
                if etag is None:
                    put_once(self.store, key, data, if_none_match=True, content_type="application/json")
                else:
                    put_once(self.store, key, data, if_match=etag, content_type="application/json")
                return history
            except PreconditionFailedError:
                continue
        return [drifted]

    # ------------------------------------------------------------------ window metrics
    def _window_points(self, endpoint: str, preds: list[dict], ts: float) -> list:
        out: list = []
        groups: dict[tuple[str, int, str], list[dict]] = defaultdict(list)
        for r in preds:
            groups[(str(r.get("model")), int(r.get("version") or 0), str(r.get("variant")))].append(r)
        windows: dict[str, mm.VariantWindow] = {}
        for (model, version, variant), recs in groups.items():
            conf = [r["confidence"] for r in recs if isinstance(r.get("confidence"), (int, float))]
            lat = [r["latency_ms"] for r in recs if isinstance(r.get("latency_ms"), (int, float))]
            out.extend(
                mm.window_points(
                    self.config.namespace,
                    endpoint,
                    model,
                    version,
                    variant,
                    predictions=len(recs),
                    confidence_mean=float(np.mean(conf)) if conf else None,
                    ts=ts,
                )
            )
            if variant in ("stable", "canary"):
                windows[variant] = mm.VariantWindow(
                    predictions=len(recs),
                    confidence_mean=float(np.mean(conf)) if conf else None,
                    latency_p99_ms=float(np.percentile(lat, 99)) if lat else None,
                )
        fallbacks = sum(
            1 for r in preds if isinstance(r.get("fallback"), dict) and r["fallback"].get("from") == "canary"
        )
        if fallbacks or "canary" in windows:
            # the canary alarm's input: canary callers served by stable because the canary could not serve
            out.extend(mm.canary_unavailable_points(self.config.namespace, endpoint, fallbacks, ts=ts))
        if "stable" in windows and "canary" in windows:
            # p99 of a thin window is its maximum: compare only windows with enough of both
            out.extend(
                mm.canary_points(
                    self.config.namespace,
                    endpoint,
                    windows["stable"],
                    windows["canary"],
                    ts=ts,
                    min_predictions=100,
                )
            )
        return out
