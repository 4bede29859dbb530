"""issue 13 F: the log shipper keeps prediction logs on local disk through a store outage and ships them all
when the store returns - for the file store (root directory missing) and S3 on a moto server (bucket missing).

Real stores, a real event loop; only the backoff's sleep is injected, so no test waits on the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid

from mlops.local.logship import (
    METRIC_BUFFERED_BYTES,
    METRIC_DROPPED_OBJECTS,
    METRIC_STORE_UNAVAILABLE,
    LogShipper,
)
from mlops.storage import FileStore, StoreConfig, open_store


class ManualSleep:
    """The shipper's backoff sleep, released by the test: records each requested delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._go = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await self._go.wait()
        self._go.clear()

    def release(self) -> None:
        self._go.set()


async def until(pred, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def line(i: int, endpoint: str = "churn") -> str:
    return json.dumps({"kind": "prediction", "endpoint": endpoint, "i": i}, separators=(",", ":"))


def records_in(store) -> list[int]:
    out = []
    for key in store.list("prediction-logs/"):
        for raw in store.get(key).data.splitlines():
            out.append(json.loads(raw)["i"])
    return sorted(out)


def run_outage(store, make_unavailable, make_available, tmp_path, *, root_absent=None):
    """Ship 3 objects during an outage and 1 after: every record arrives, once; logs and metrics say so."""
    unhandled: list = []
    logs: list[str] = []
    metrics: list[list[tuple[str, float]]] = []
    sleep = ManualSleep()

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: unhandled.append(ctx))
        sh = LogShipper(
            store,
            spool_dir=tmp_path / "spool",
            max_bytes=10**9,
            max_age_s=3600,
            sleep=sleep,
            log=logs.append,
            metrics=metrics.append,
            retry_initial_s=0.5,
            retry_max_s=4.0,
        )
        events: list[str] = []

        async def sub(event):
            events.append(event["data"]["resourceName"])

        sh.subscribers.append(sub)
        await sh.start()
        make_unavailable()
        for batch in range(3):
            for i in range(10):
                sh.on_line("inference", "stdout", line(batch * 10 + i))
            sh.flush_all()
        await until(lambda: len(sleep.delays) >= 1, "a failed write")
        for _ in range(4):  # more failed retries: backoff doubles up to the cap
            sleep.release()
            await until(lambda n=len(sleep.delays): len(sleep.delays) > n, "another retry")
        assert sleep.delays[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]
        assert sh.store_down is not None and sh.objects_written == 0 and not events
        assert sum("store unavailable" in m for m in logs) == 1, logs  # once per outage
        st = dict(metrics[-1])
        assert st[METRIC_STORE_UNAVAILABLE] == 1.0 and st[METRIC_BUFFERED_BYTES] > 0
        assert len(list((tmp_path / "spool").glob("*.spool"))) == 3  # on local disk
        if root_absent is not None:
            assert root_absent(), "the shipper re-created the store's root"
        make_available()
        for i in range(30, 40):
            sh.on_line("inference", "stdout", line(i))
        sh.flush_all()
        sleep.release()
        await until(lambda: sh.objects_written == 4 and len(events) == 4, "everything shipped")
        st = dict(metrics[-1])
        assert st[METRIC_STORE_UNAVAILABLE] == 0.0 and st[METRIC_BUFFERED_BYTES] == 0.0
        assert any("available again" in m for m in logs)
        assert list((tmp_path / "spool").glob("*.spool")) == []
        await sh.stop()
        return events

    events = asyncio.run(main())
    assert records_in(store) == list(range(40))
    assert sorted(events) == sorted(store.list("prediction-logs/"))
    assert not unhandled, unhandled  # no "Task exception was never retrieved"


def test_file_store_outage_loses_nothing_and_never_recreates_the_root(tmp_path):
    root = tmp_path / "store"
    FileStore(root, create=True)  # set-up
    store = open_store(StoreConfig(backend="file", path=str(root)))  # what the runtime opens
    aside = tmp_path / "aside"
    run_outage(
        store,
        lambda: root.rename(aside),
        lambda: aside.rename(root),
        tmp_path,
        root_absent=lambda: not root.exists(),
    )


def test_s3_bucket_missing_is_an_outage_and_nothing_is_lost(moto_server, tmp_path):
    from mlops.storage.s3 import S3Store

    client = moto_server.client()
    bucket = f"logs-{uuid.uuid4().hex[:16]}"
    store = S3Store(bucket, client=client)

    def bucket_missing():
        return bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]

    run_outage(
        store, lambda: None, lambda: client.create_bucket(Bucket=bucket), tmp_path, root_absent=bucket_missing
    )


def test_the_spool_is_bounded_and_drops_the_oldest_with_a_count(tmp_path):
    root = tmp_path / "store"
    metrics: list = []
    logs: list[str] = []

    async def main():
        store = open_store(StoreConfig(backend="file", path=str(root)))  # root never created: an outage
        sh = LogShipper(
            store,
            spool_dir=tmp_path / "spool",
            max_bytes=10**9,
            max_age_s=3600,
            spool_max_bytes=1000,
            sleep=ManualSleep(),
            log=logs.append,
            metrics=metrics.append,
        )
        await sh.start()
        for batch in range(10):
            for i in range(4):
                sh.on_line("inference", "stdout", line(batch * 4 + i))
            sh.flush_all()
        assert sh.buffered_bytes <= 1000 and sh.dropped_objects > 0
        assert dict(metrics[-1])[METRIC_DROPPED_OBJECTS] == sh.dropped_objects
        assert any(f"({sh.dropped_objects} dropped so far)" in m for m in logs)
        kept = len(list((tmp_path / "spool").glob("*.spool")))
        assert kept + sh.dropped_objects == 10
        await sh.stop(timeout_s=0.5)  # the store is still down: what is left stays in the spool
        return kept

    kept = asyncio.run(main())
    assert kept >= 1 and len(list((tmp_path / "spool").glob("*.spool"))) == kept and not root.exists()


def test_a_spool_left_by_a_stopped_runtime_is_shipped_on_the_next_start(tmp_path):
    root = tmp_path / "store"
    aside = tmp_path / "aside"
    FileStore(root, create=True)
    root.rename(aside)

    async def first():
        sh = LogShipper(
            open_store(StoreConfig(backend="file", path=str(root))),
            spool_dir=tmp_path / "spool",
            max_age_s=3600,
            sleep=ManualSleep(),
            log=lambda m: None,
        )
        await sh.start()
        for i in range(5):
            sh.on_line("inference", "stdout", line(i))
        await sh.stop(timeout_s=1.0)
        return sh.status()

    st = asyncio.run(first())
    assert st["buffered_objects"] == 1 and st["objects_written"] == 0
    aside.rename(root)

    async def second():
        sh = LogShipper(
            open_store(StoreConfig(backend="file", path=str(root))),
            spool_dir=tmp_path / "spool",
            max_age_s=3600,
            log=lambda m: None,
        )
        await sh.start()
        await until(lambda: sh.objects_written == 1, "the old spool shipped")
        await sh.stop()

    asyncio.run(second())
    assert records_in(FileStore(root)) == list(range(5))


def test_redelivered_put_is_idempotent(tmp_path):
    """A retried write whose first attempt got through (answer lost) does not write the object twice."""
    root = tmp_path / "store"
    store = FileStore(root, create=True)
    sh = LogShipper(store, spool_dir=tmp_path / "spool", max_age_s=3600, log=lambda m: None)
    for i in range(3):
        sh.on_line("inference", "stdout", line(i))
    sh.flush_all()
    path = sh._queue[0][0]
    key, _ = sh._put(path)
    assert sh._put(path)[0] == key  # the same bytes under the same key: already shipped
    assert list(store.list("prediction-logs/")) == [key]
    shutil.rmtree(tmp_path / "spool")
