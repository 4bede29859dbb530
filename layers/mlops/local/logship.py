"""The local twin of Logging -> Service Connector -> bucket -> Events: prediction lines become objects.

Function stdout lines that are prediction or feedback records are batched per
endpoint and rolled, by size or age (as Service Connector Hub batches), into
``prediction-logs/<endpoint>/<YYYY>/<MM>/<DD>/<HHMMSS>-<ms>-<seq>.ndjson`` objects of the stack's
store. Each new object raises an OCI Events ``com.oraclecloud.objectstorage.createobject``
CloudEvent (cloudEventsVersion 0.1; shape from the doc "Contents of an Event Message"
and Oracle's samples: ``data.resourceName``, ``data.additionalDetails.bucketName`` /
``namespace``) that is handed to the subscribers, e.g. the drift function.

Store outages lose nothing (issue 13 F). A rolled batch goes first to a spool directory on the
local disk (one 0600 file per object, named in order), and one supervised shipping task writes
the spool to the store oldest first. While the store is unavailable the task retries with
exponential backoff, logs "store unavailable" once per outage, and reports the metrics
``store_unavailable`` (1/0), ``log_buffered_bytes`` and ``log_dropped_objects``; when the store
returns, everything spooled is shipped, in order, and the recovery is logged. The spool is bounded
(``spool_max_bytes``): beyond it the oldest objects are dropped, counted in the log and the metric.
A spool left by a stopped runtime is shipped on the next start. The shipper never creates the
store's root: the store refuses writes to a missing root, so nothing lands in a new, empty store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.errors import PreconditionFailedError
from mlops.storage import ObjectStore

PREFIX = "prediction-logs/"
_KINDS = (b'{"kind":"prediction"', b'{"kind":"feedback"')
SPOOL_SUFFIX = ".spool"
EventHandler = Callable[[dict[str, Any]], Awaitable[None]]
#: (metric name, value) pairs the shipper reports; the runtime writes them to its metrics store
MetricsHook = Callable[[list[tuple[str, float]]], None]

log = logging.getLogger(__name__)

METRIC_STORE_UNAVAILABLE = "store_unavailable"
METRIC_BUFFERED_BYTES = "log_buffered_bytes"
METRIC_DROPPED_OBJECTS = "log_dropped_objects"


def object_created_event(
    key: str, *, bucket: str, namespace: str, size: int, compartment_id: str = "local"
) -> dict[str, Any]:
    """The CloudEvent OCI Events sends for a new object (what the drift function parses)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "eventType": "com.oraclecloud.objectstorage.createobject",
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "ObjectStorage",
        "eventTime": now,
        "contentType": "application/json",
        "eventID": str(uuid.uuid4()),
        "extensions": {"compartmentId": compartment_id},
        "data": {
            "compartmentId": compartment_id,
            "resourceName": key,
            "resourceId": f"/n/{namespace}/b/{bucket}/o/{key}",
            "additionalDetails": {
                "bucketName": bucket,
                "namespace": namespace,
                "archivalState": "Available",
                "contentLength": size,
            },
        },
    }


class RetryLater(Exception):
    """Raised by an event subscriber that could not handle an event for now (e.g. a store outage)."""


def _stderr_log(msg: str) -> None:
    log.warning(msg, extra={"component": "log_shipper"})


class LogShipper:
    """Collect record lines, roll them into spooled objects by size/age, ship them, raise object-created events."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        spool_dir: str | os.PathLike,
        max_bytes: int = 1_000_000,
        max_age_s: float = 60.0,
        bucket: str = "local",
        namespace: str = "local",
        clock: Callable[[], float] = time.time,
        spool_max_bytes: int = 256 * 1024 * 1024,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        log: Callable[[str], None] = _stderr_log,
        metrics: MetricsHook | None = None,
    ) -> None:
        self.store, self.max_bytes, self.max_age_s = store, max_bytes, max_age_s
        self.bucket, self.namespace, self.clock = bucket, namespace, clock
        self.spool_dir = Path(spool_dir)
        self.spool_max_bytes = spool_max_bytes
        self.delivery_attempts = 12
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.sleep, self.log, self.metrics = sleep, log, metrics
        self._buf: dict[str, list[bytes]] = {}
        self._size: dict[str, int] = {}
        self._since: dict[str, float] = {}
        self._seq = 0
        self.subscribers: list[EventHandler] = []
        # the spool: files in shipping order, and their total size
        self._queue: deque[tuple[Path, int]] = deque()
        self.buffered_bytes = 0
        self.objects_written = 0
        self.dropped_objects = 0
        self.outages = 0
        self.store_down: str | None = None  # the error of the outage in progress
        self._failures = 0
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []  # the tick and the shipper, awaited by stop()
        self._pending: set[asyncio.Task] = set()  # event deliveries, awaited by drain()/stop()
        # one thread of its own for store writes (they are sequential anyway): not the loop's default
        # pool, whose threads would each grow a malloc arena around 1 MB batches (RSS, issue 13 F)
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logship")
        self._load_spool()

    # ------------------------------------------------------------------ the spool (local disk)
    def _load_spool(self) -> None:
        """Pick up objects a previous run spooled but could not ship."""
        missing = [d for d in (self.spool_dir, *self.spool_dir.parents) if not d.exists()]
        for d in reversed(missing):  # owner-only all the way: the records hold request features
            d.mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.spool_dir, 0o700)
        for p in sorted(self.spool_dir.glob(f"*{SPOOL_SUFFIX}")):
            with contextlib.suppress(OSError):
                size = p.stat().st_size
                self._queue.append((p, size))
                self.buffered_bytes += size
                self._seq = max(self._seq, int(p.name.split("-", 1)[0]))
        for tmp in self.spool_dir.glob("*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _spool(self, key: str, data: bytes) -> None:
        """Write one object to the spool (``<seq>-<ms>.spool``: the key line, then the bytes)."""
        name = f"{self._seq:012d}-{int(self.clock() * 1000)}{SPOOL_SUFFIX}"
        path = self.spool_dir / name
        tmp = path.with_suffix(".tmp")
        payload = key.encode() + b"\n" + data
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            self.dropped_objects += 1
            self.log(
                f"cannot spool prediction-log object {key} ({exc}); dropped it "
                f"({self.dropped_objects} dropped so far)"
            )
            self._report()
            return
        self._queue.append((path, len(payload)))
        self.buffered_bytes += len(payload)
        self._enforce_cap()
        if self._wake is not None:
            self._wake.set()

    def _enforce_cap(self) -> None:
        dropped = 0
        while self.buffered_bytes > self.spool_max_bytes and len(self._queue) > 1:
            path, size = self._queue.popleft()
            with contextlib.suppress(OSError):
                path.unlink()
            self.buffered_bytes -= size
            dropped += 1
        if dropped:
            self.dropped_objects += dropped
            self.log(
                f"the log spool is over its cap of {self.spool_max_bytes} bytes: dropped the {dropped} oldest "
                f"prediction-log object(s) ({self.dropped_objects} dropped so far)"
            )
            self._report()

    # ------------------------------------------------------------------ lines in, batches rolled
    # called for every function log line, on the event loop: keep it cheap
    def on_line(self, fn: str, stream: str, line: str) -> None:
        if stream != "stdout" or not line.startswith('{"kind":"'):
            return
        raw = line.encode()
        if not raw.startswith(_KINDS):
            return
        try:
            endpoint = json.loads(line).get("endpoint")
        except ValueError:
            return
        if not isinstance(endpoint, str) or not endpoint:
            return
        buf = self._buf.setdefault(endpoint, [])
        if not buf:
            self._since[endpoint] = self.clock()
        buf.append(raw)
        self._size[endpoint] = self._size.get(endpoint, 0) + len(raw) + 1
        if self._size[endpoint] >= self.max_bytes:
            self._schedule(endpoint)

    def _schedule(self, endpoint: str) -> None:
        """Roll one endpoint's batch into a spooled object."""
        lines = self._buf.pop(endpoint, [])
        self._size.pop(endpoint, None)
        self._since.pop(endpoint, None)
        if not lines:
            return
        self._seq += 1
        now = datetime.fromtimestamp(self.clock(), UTC)
        key = f"{PREFIX}{endpoint}/{now:%Y/%m/%d/%H%M%S}-{now.microsecond // 1000:03d}-{self._seq:06d}.ndjson"
        self._spool(key, b"\n".join(lines) + b"\n")

    def flush_all(self) -> None:
        """Roll every endpoint's buffer now (used at shutdown and by tests)."""
        for endpoint in list(self._buf):
            self._schedule(endpoint)

    # ------------------------------------------------------------------ shipping
    def _put(self, path: Path) -> tuple[str, int]:
        """Ship one spooled object (in a worker thread); idempotent if an earlier attempt got through."""
        raw = path.read_bytes()
        key, _, data = raw.partition(b"\n")
        name = key.decode()
        try:
            self.store.put(name, data, if_none_match=True, content_type="application/x-ndjson")
        except PreconditionFailedError:
            existing = self.store.get(name)
            if existing.data != data:  # someone else's object under our name: keep both
                name = f"{name[: -len('.ndjson')]}-{uuid.uuid4().hex[:8]}.ndjson"
                self.store.put(name, data, if_none_match=True, content_type="application/x-ndjson")
        return name, len(data)

    def _backoff_s(self) -> float:
        return min(self.retry_max_s, self.retry_initial_s * (2 ** min(self._failures - 1, 30)))

    async def _ship_loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            path, size = self._queue[0]
            try:
                key, n = await loop.run_in_executor(self._io, self._put, path)
            except FileNotFoundError as exc:
                if exc.filename is not None and Path(exc.filename) == path:  # the spool file itself is gone
                    if self._queue and self._queue[0][0] == path:
                        self._queue.popleft()
                        self.buffered_bytes -= size
                    continue
                await self._failed(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - any store failure: keep the data, retry later
                await self._failed(exc)
                continue
            if self._queue and self._queue[0][0] == path:  # not dropped by the cap meanwhile
                self._queue.popleft()
                self.buffered_bytes -= size
            with contextlib.suppress(OSError):
                path.unlink()
            self.objects_written += 1
            if self.store_down is not None:
                self.log(
                    f"the store is available again after {self._failures} failed attempt(s); "
                    f"shipping {len(self._queue) + 1} buffered prediction-log object(s)"
                )
                self.store_down, self._failures = None, 0
            self._report()
            self._deliver(key, n)

    async def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        if self.store_down is None:
            self.outages += 1
            self.store_down = f"{type(exc).__name__}: {exc}"
            self.log(
                f"store unavailable: cannot write prediction logs to {self.store.url} ({self.store_down}); "
                f"buffering them in {self.spool_dir} (at most {self.spool_max_bytes} bytes) and retrying"
            )
        self._report()
        await self.sleep(self._backoff_s())

    def _deliver(self, key: str, size: int) -> None:
        if not self.subscribers:
            return
        event = object_created_event(key, bucket=self.bucket, namespace=self.namespace, size=size)
        for sub in self.subscribers:
            t = asyncio.ensure_future(self._deliver_one(sub, event))
            self._pending.add(t)
            t.add_done_callback(self._delivered)

    async def _deliver_one(self, sub: EventHandler, event: dict[str, Any]) -> None:
        """Deliver one event; a subscriber that raises ``RetryLater`` (its store is down) gets it again,
        with backoff, as OCI Events redelivers to a function that failed (at most ``delivery_attempts``)."""
        delay = self.retry_initial_s
        for attempt in range(1, self.delivery_attempts + 1):
            try:
                await sub(event)
                return
            except RetryLater as exc:
                if attempt == self.delivery_attempts:
                    raise
                if attempt == 1:
                    self.log(
                        f"event for {event['data']['resourceName']} not handled ({exc}); retrying with backoff"
                    )
                await self.sleep(delay)
                delay = min(self.retry_max_s, delay * 2)

    def _delivered(self, t: asyncio.Task) -> None:
        self._pending.discard(t)
        if not t.cancelled() and t.exception() is not None:  # retrieved: never "never retrieved"
            exc = t.exception()
            self.log(f"object-created event delivery failed: {type(exc).__name__}: {exc}")

    def _report(self) -> None:
        if self.metrics is None:
            return
        try:
            self.metrics(
                [
                    (METRIC_STORE_UNAVAILABLE, 1.0 if self.store_down else 0.0),
                    (METRIC_BUFFERED_BYTES, float(self.buffered_bytes)),
                    (METRIC_DROPPED_OBJECTS, float(self.dropped_objects)),
                ]
            )
        except Exception as exc:  # noqa: BLE001 - metrics must not stop shipping
            self.log(f"cannot report log shipping metrics: {exc!r}")

    def status(self) -> dict[str, Any]:
        return {
            "store_unavailable": self.store_down is not None,
            "error": self.store_down,
            "buffered_objects": len(self._queue),
            "buffered_bytes": self.buffered_bytes,
            "objects_written": self.objects_written,
            "dropped_objects": self.dropped_objects,
            "outages": self.outages,
        }

    # ------------------------------------------------------------------ lifecycle
    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Roll, ship and deliver everything now; False if the store stays unavailable for ``timeout_s``
        (the data then stays in the spool for the next start)."""
        self.flush_all()
        if self._wake is not None:
            self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._queue and loop.time() < deadline and self.store_down is None:
            if not self._tasks:  # not started: ship inline
                path, size = self._queue[0]
                try:
                    key, n = await loop.run_in_executor(self._io, self._put, path)
                except Exception:  # noqa: BLE001
                    return False
                self._queue.popleft()
                self.buffered_bytes -= size
                with contextlib.suppress(OSError):
                    path.unlink()
                self.objects_written += 1
                self._deliver(key, n)
            else:
                await asyncio.sleep(0.05)
        while self._pending and loop.time() < deadline:
            await asyncio.wait(list(self._pending), timeout=max(0.0, deadline - loop.time()))
        return not self._queue

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.max_age_s / 4))
            now = self.clock()
            for endpoint, since in list(self._since.items()):
                if now - since >= self.max_age_s:
                    self._schedule(endpoint)
            if self.store_down is not None or self.buffered_bytes:
                self._report()

    def _supervise(self, factory: Callable[[], Awaitable[None]], name: str) -> asyncio.Task:
        async def run() -> None:
            while True:
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - log it and restart the loop: never a silent death
                    self.log(f"log shipper {name} failed ({type(exc).__name__}: {exc}); restarting it")
                    await asyncio.sleep(1.0)

        return asyncio.ensure_future(run())

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._tasks = [self._supervise(self._tick, "tick"), self._supervise(self._ship_loop, "shipper")]
        if self._queue:
            self.log(f"shipping {len(self._queue)} prediction-log object(s) spooled by an earlier run")
            self._wake.set()

    async def stop(self, timeout_s: float = 30.0) -> None:
        if not await self.drain(timeout_s):
            self.log(
                f"stopping with {len(self._queue)} prediction-log object(s) ({self.buffered_bytes} bytes) "
                f"still in {self.spool_dir}; the next start ships them"
            )
        for t in self._tasks:
            t.cancel()
        for t in self._tasks + list(self._pending):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        self._io.shutdown(wait=False)
