"""16 writers of one dataset name at once, in threads and in processes, on real stores: each gets its own
version (1..16), every version holds exactly its writer's rows, and each commit has its audit entry.
The same creation and verified reading on S3 (moto's server) and OCI (the fake Object Storage server)."""

from __future__ import annotations

import multiprocessing
import threading
import uuid

import pyarrow as pa
import pytest
from mlops.datasets import DatasetStore, keys
from mlops.errors import IntegrityError
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.harness import ManualClock
from tests.unit.datasets.conftest import sample

WRITERS = 16


def _writer_table(i: int) -> pa.Table:
    t = sample(5 + i, offset=100 * i)
    return t.append_column("writer", pa.array([i] * t.num_rows, pa.int32()))


def _check_versions(ds: DatasetStore, reg: Registry) -> None:
    versions = ds.versions("shared")
    assert [v.version for v in versions] == list(range(1, WRITERS + 1))
    writers = []
    for v in versions:
        t = ds.read("shared", v.version)
        (w,) = set(t.column("writer").to_pylist())  # one writer's rows per version, none mixed
        assert t.equals(_writer_table(w)) and v.rows == 5 + w
        writers.append(w)
    assert sorted(writers) == list(range(WRITERS))
    created = [e["details"]["version"] for e in reg.audit.entries() if e["action"] == "dataset.create"]
    assert sorted(created) == list(range(1, WRITERS + 1))
    assert reg.audit.verify()["ok"] is True


def test_sixteen_threads_get_distinct_versions(tmp_path):
    reg = Registry(FileStore(tmp_path / "s"), clock=ManualClock(), actor="t")
    ds = DatasetStore.for_registry(reg, rows_per_part=4)
    gate = threading.Barrier(WRITERS, timeout=60)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            gate.wait()
            ds.create("shared", _writer_table(i), entity_keys=["customer_id"], event_time="ts")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    _check_versions(ds, reg)


def _process_writer(root: str, i: int, go, done) -> None:
    reg = Registry(FileStore(root, create=False), actor=f"p{i}")
    ds = DatasetStore.for_registry(reg, rows_per_part=4)
    go.wait(120)
    try:
        ds.create("shared", _writer_table(i), entity_keys=["customer_id"], event_time="ts")
        done.put((i, None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        done.put((i, repr(exc)))


def test_sixteen_processes_get_distinct_versions(tmp_path):
    store = FileStore(tmp_path / "s")
    ctx = multiprocessing.get_context("spawn")  # no forked pyarrow thread pools
    go, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(str(store.root), i, go, done)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    go.set()
    results = [done.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(results) == [(i, None) for i in range(WRITERS)]
    reg = Registry(store, actor="check")
    _check_versions(DatasetStore.for_registry(reg), reg)


@pytest.fixture(params=["s3", "oci"])
def remote_store(request):
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    if request.param == "s3":
        from mlops.storage.s3 import S3Store

        server = request.getfixturevalue("moto_server")
        server.create_bucket(bucket)
        return S3Store(bucket, client=server.client())
    from mlops.storage.oci import OciObjectStore

    fake = request.getfixturevalue("oci_fake")
    fake.create_bucket(bucket)
    return OciObjectStore(None, bucket, request.getfixturevalue("oci_client"))


def test_remote_stores_round_trip_verify_and_race(remote_store, tmp_path):
    reg = Registry(remote_store, clock=ManualClock(), actor="r")
    ds = DatasetStore.for_registry(reg, rows_per_part=6, row_group_rows=4)
    t = sample(20)
    v = ds.create("churn", t, entity_keys=["customer_id"], event_time="ts")
    assert len(v.parts) == 4 and v.manifest["location"]["store"] == remote_store.url
    assert ds.read("churn", 1).equals(t) and ds.scan("churn", 1).read_all().equals(t)
    local = DatasetStore(FileStore(tmp_path / "local"), rows_per_part=6, row_group_rows=4)
    assert local.create("churn", t, entity_keys=["customer_id"], event_time="ts").digest == v.digest
    key = keys.part_key("churn", v.parts[2]["sha256"])
    remote_store.put(key, remote_store.get(keys.part_key("churn", v.parts[0]["sha256"])).data)
    with pytest.raises(IntegrityError):
        ds.read("churn", 1)
    # eight writers racing for the next numbers on the remote store
    gate = threading.Barrier(8, timeout=60)
    out: list[int] = []

    def write(i: int) -> None:
        gate.wait()
        out.append(ds.create("churn", sample(3, offset=i), event_time="ts").version)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert sorted(out) == list(range(2, 10)) and ds.names() == ["churn"]
