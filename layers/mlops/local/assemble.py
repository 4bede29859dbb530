"""Put a stack's local runtime together: pools and gateway plus the cloud's data path.

What runs in the cloud as managed services runs here as small services in the runtime's
loop, each the local twin of one OCI part:

- ``MetricsService``: the ``oci_faas`` per-invocation metrics, into the SQLite store;
- ``LogShippingService``: Logging + Service Connector Hub + Events: prediction lines roll
  into ``prediction-logs/`` objects, whose object-created events invoke the drift function
  (which also runs the A/B check of endpoints with a live canary);
- ``AlarmService``: Monitoring alarms (the same rules, rendered and parsed as MQL) evaluated
  every few seconds, delivered as Notifications to the local NDJSON file, loopback webhooks
  and the guardian function subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque

from mlops.local.runtime import LocalRuntime
from mlops.settings import StackSettings
from mlops.storage.stack import open_stack_store

log = logging.getLogger(__name__)


class MetricsService:
    """Per-invocation metrics (the local twin of ``oci_faas``) into the SQLite store, batched."""

    def __init__(self, rt: LocalRuntime) -> None:
        from mlops.blueprint.functions import application_name
        from mlops.local.runtime import private_dir
        from mlops.monitoring.buffered import BufferedSink
        from mlops.monitoring.metrics import invocation_points
        from mlops.monitoring.sqlite import SqliteMetrics

        private_dir(rt.state_dir)
        self.store = SqliteMetrics(rt.state_dir / "metrics.sqlite")  # created 0600
        self.sink = BufferedSink(self.store, max_points=2000, max_delay_s=1.0)
        self._points = invocation_points
        self.application = application_name(rt.settings)  # resourceDisplayName = "<application>:<function>"
        rt.invocation_hooks.append(self.on_invocation)

    def on_invocation(self, fn: str, status: int, ms: float, ts: float) -> None:
        self.sink.put(self._points(fn, status, ms, ts, application=self.application))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.sink.close()
        self.store.close()


class LogShippingService:
    """Prediction lines -> log objects -> object-created events -> the drift function."""

    def __init__(
        self, rt: LocalRuntime, settings: StackSettings, metrics: MetricsService | None = None
    ) -> None:
        from mlops.local.logship import LogShipper

        self.rt = rt
        self.namespace = settings.monitoring.namespace
        self.metrics = metrics
        # the spool keeps rolled objects on the local disk until the store takes them (issue 13 F)
        self.shipper = LogShipper(
            open_stack_store(settings),
            spool_dir=rt.state_dir / "spool" / "prediction-logs",
            max_bytes=settings.log_shipping.max_bytes,
            max_age_s=settings.log_shipping.max_age_s,
            spool_max_bytes=settings.log_shipping.spool_max_bytes,
            metrics=self._post_metrics if metrics is not None else None,
        )
        rt.logs.hooks.append(self.shipper.on_line)
        self.shipper.subscribers.append(self._to_functions)
        self.results: deque[dict] = deque(maxlen=100)  # the last drift answers (tests, status)

    def _post_metrics(self, values: list[tuple[str, float]]) -> None:
        from mlops.monitoring.metrics import MetricPoint

        assert self.metrics is not None
        now = time.time()
        self.metrics.sink.put(
            [
                MetricPoint(self.namespace, name, value, {"component": "log_shipper"}, now)
                for name, value in values
            ]
        )

    async def _to_functions(self, event: dict) -> None:
        from mlops.local.logship import RetryLater

        body = json.dumps(event).encode()
        for fn in ("drift",):  # the Events rule's one action (the drift job also runs the A/B check)
            if fn not in self.rt.pools:
                continue
            t0 = time.perf_counter()
            status = 502
            try:
                status, headers, out = await self.rt.pools[fn].call(
                    [("Content-Type", "application/json")], body
                )
                app_status = next((v for k, v in headers if k.lower() == b"fn-http-status"), b"200")
                if fn == "drift" and status == 200 and app_status == b"200":
                    with contextlib.suppress(ValueError):
                        self.results.append(json.loads(out))
                elif app_status == b"503":  # the drift job's store is down: deliver it again later
                    raise RetryLater(f"{fn} answered 503: {out[:200].decode(errors='replace')}")
            finally:
                self.rt._on_invocation(f"local:fn:{fn}", status, (time.perf_counter() - t0) * 1000)

    status_name = "log_shipping"

    def status(self) -> dict:
        return self.shipper.status()

    async def start(self) -> None:
        await self.shipper.start()

    async def stop(self) -> None:
        await self.shipper.stop()


class AlarmService:
    """Evaluate the stack's alarm rules on the local metrics; notify the sinks and the guardian."""

    def __init__(self, rt: LocalRuntime, settings: StackSettings, metrics: MetricsService) -> None:
        from mlops.monitoring.defaults import rules_for_settings
        from mlops.monitoring.evaluator import AlarmEvaluator
        from mlops.monitoring.notify import (
            FanOut,
            FunctionNotifier,
            NdjsonNotifier,
            Notifier,
            WebhookNotifier,
        )

        self.rt, self.settings, self.metrics = rt, settings, metrics
        self.interval = settings.monitoring.evaluation_interval_s
        self.evaluator = AlarmEvaluator(
            metrics.store, rules_for_settings(settings), state_path=rt.state_dir / "alarm-state.json"
        )
        notifiers: list[Notifier] = [NdjsonNotifier(rt.state_dir / settings.notifications.local_file)]
        notifiers += [WebhookNotifier(url) for url in settings.notifications.https_endpoints]
        if settings.notifications.guardian:
            notifiers.append(FunctionNotifier(self._invoke_guardian, "guardian"))
        self.notifier = FanOut(notifiers)
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.events = 0

    def _invoke_guardian(self, payload: bytes) -> None:
        """Called from the evaluator's thread: run the call on the runtime's loop and wait for it."""
        assert self._loop is not None
        pool = self.rt.pools.get("guardian")
        if pool is None:
            return
        fut = asyncio.run_coroutine_threadsafe(
            pool.call([("Content-Type", "application/json")], payload), self._loop
        )
        fut.result(120)

    def evaluate_once(self) -> int:
        from mlops.monitoring.notify import publish_events

        self.metrics.sink.flush()
        events = self.evaluator.evaluate()
        if events:
            publish_events(self.notifier, events)
        self.events += len(events)
        return len(events)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await loop.run_in_executor(None, self.evaluate_once)
            except Exception:  # noqa: BLE001 - the next round tries again; say why this one failed
                log.exception("alarm evaluation failed")

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()


def build_runtime(settings: StackSettings, *, port: int | None = None) -> LocalRuntime:
    """The runtime ``mlops local up`` runs for ``settings``."""
    from mlops.local.setup import ensure_audit_anchor, ensure_local_store

    ensure_audit_anchor(settings)  # the functions sign the audit log with it (their Vault twin)
    ensure_local_store(settings)  # `mlops local up` is explicit set-up; no writer ever makes the root
    rt = LocalRuntime(settings, port=port)
    metrics = MetricsService(rt)
    rt.services.append(metrics)
    rt.services.append(LogShippingService(rt, settings, metrics))
    rt.services.append(AlarmService(rt, settings, metrics))
    return rt
