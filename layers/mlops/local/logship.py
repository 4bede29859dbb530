"""The local twin of Logging -> Service Connector -> bucket -> Events: prediction lines become objects.

Function stdout lines that are prediction or feedback records are batched per
endpoint and written, by size or age (as Service Connector Hub batches), to
``prediction-logs/<endpoint>/<YYYY>/<MM>/<DD>/<HHMMSS>-<seq>.ndjson`` in the stack's
store. Each new object raises an OCI Events ``com.oraclecloud.objectstorage.createobject``
CloudEvent (cloudEventsVersion 0.1; shape from the doc "Contents of an Event Message"
and Oracle's samples: ``data.resourceName``, ``data.additionalDetails.bucketName`` /
``namespace``) that is handed to the subscribers, e.g. the drift function.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from mlops.storage import ObjectStore

PREFIX = "prediction-logs/"
_KINDS = (b'{"kind":"prediction"', b'{"kind":"feedback"')
EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


def object_created_event(key: str, *, bucket: str, namespace: str, size: int,
                         compartment_id: str = "local") -> dict[str, Any]:
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
            "additionalDetails": {"bucketName": bucket, "namespace": namespace, "archivalState": "Available",
                                  "contentLength": size},
        },
    }


class LogShipper:
    """Collect record lines, roll them into objects by size/age, raise object-created events."""

    def __init__(self, store: ObjectStore, *, max_bytes: int = 1_000_000, max_age_s: float = 60.0,
                 bucket: str = "local", namespace: str = "local", clock: Callable[[], float] = time.time) -> None:
        self.store, self.max_bytes, self.max_age_s = store, max_bytes, max_age_s
        self.bucket, self.namespace, self.clock = bucket, namespace, clock
        self._buf: dict[str, list[bytes]] = {}
        self._size: dict[str, int] = {}
        self._since: dict[str, float] = {}
        self._seq = 0
        self.subscribers: list[EventHandler] = []
        self.objects_written = 0
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()

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
        lines = self._buf.pop(endpoint, [])
        self._size.pop(endpoint, None)
        self._since.pop(endpoint, None)
        if lines:
            t = asyncio.ensure_future(self._write(endpoint, lines))
            self._pending.add(t)
            t.add_done_callback(self._pending.discard)

    async def _write(self, endpoint: str, lines: list[bytes]) -> None:
        self._seq += 1
        now = datetime.now(UTC)
        key = f"{PREFIX}{endpoint}/{now:%Y/%m/%d/%H%M%S}-{now.microsecond // 1000:03d}-{self._seq:06d}.ndjson"
        data = b"\n".join(lines) + b"\n"
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self.store.put(key, data, if_none_match=True,
                                                                content_type="application/x-ndjson"))
        self.objects_written += 1
        event = object_created_event(key, bucket=self.bucket, namespace=self.namespace, size=len(data))
        for sub in self.subscribers:
            with contextlib.suppress(Exception):
                await sub(event)

    def flush_all(self) -> None:
        """Roll every endpoint's buffer now (used at shutdown and by tests)."""
        for endpoint in list(self._buf):
            self._schedule(endpoint)

    async def drain(self) -> None:
        """Flush and wait until every object is written and its event handled."""
        self.flush_all()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.max_age_s / 4))
            now = self.clock()
            for endpoint, since in list(self._since.items()):
                if now - since >= self.max_age_s:
                    self._schedule(endpoint)

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._tick())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), 30)
