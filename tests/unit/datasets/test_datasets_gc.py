"""Garbage collection of orphan parts: only parts no committed version references go, never while a writer
may be running (its marker is younger than the grace period), and a writer that starts during a collection
waits for it. Time is a manual clock; waits end on conditions, not sleeps."""

from __future__ import annotations

import threading
import time

import pytest
from mlops.datasets import DatasetStore, keys
from mlops.datasets import gc as orphans
from mlops.datasets import write as writing
from mlops.errors import ConflictError
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.harness import ManualClock
from tests.unit.datasets.conftest import sample
from tests.unit.datasets.test_datasets import ManifestCrash


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ds(store, clock) -> DatasetStore:
    return DatasetStore.for_registry(Registry(store, clock=clock, actor="gc"), rows_per_part=7)


def _parts(ds: DatasetStore, name: str) -> set[str]:
    return {keys.part_of_key(name, k) for k in ds.store.list(keys.parts_prefix(name))}


def _died_mid_write(ds: DatasetStore, name: str, table) -> None:
    """A writer killed after its parts, before its manifest: its marker stays behind."""
    orphans.begin_write(ds.store, name, ds.clock)
    schema, batches = writing.input_batches(table)
    writing.write_parts(ds.store, name, schema, batches, "ts", rows_per_part=7, row_group_rows=3)


def test_failed_writer_orphans_are_collected_and_committed_parts_kept(ds, store, clock):
    v1 = ds.create("churn", sample(14), entity_keys=["customer_id"], event_time="ts")
    crashing = DatasetStore(ManifestCrash(store.root), rows_per_part=7, clock=clock)
    with pytest.raises(RuntimeError):
        crashing.create("churn", sample(21), entity_keys=["customer_id"], event_time="ts")
    # sample(21)'s first two parts equal v1's (same rows, same cut): shared, so they must stay
    assert _parts(ds, "churn") == {p["sha256"] for p in v1.parts} | {_last_part(ds, sample(21))}
    done = ds.gc("churn")
    assert done == {
        "dataset": "churn",
        "skipped": False,
        "deleted_parts": 1,
        "kept_parts": 2,
        "stale_writers": 0,
    }
    assert _parts(ds, "churn") == {p["sha256"] for p in v1.parts}
    assert ds.read("churn", 1).equals(sample(14))
    assert list(store.list("datasets/churn/gc.json")) == []
    audit = [e for e in Registry(store).audit.entries() if e["action"] == "dataset.gc"]
    assert [e["details"]["deleted_parts"] for e in audit] == [1]
    assert ds.gc("churn")["deleted_parts"] == 0


def _last_part(ds: DatasetStore, table) -> str:
    scratch = DatasetStore(FileStore(ds.store.root.parent / "scratch"), rows_per_part=7)
    return scratch.create("x", table, event_time="ts").parts[-1]["sha256"]


def test_a_writer_that_may_still_run_stops_the_collection_until_its_grace_ends(ds, store, clock):
    ds.create("churn", sample(7), event_time="ts")
    _died_mid_write(ds, "churn", sample(14, offset=50))
    assert len(_parts(ds, "churn")) == 3
    clock.tick(3600)
    assert ds.gc("churn", grace_s=7200) == {
        "dataset": "churn",
        "skipped": True,
        "active_writers": 1,
        "deleted_parts": 0,
    }
    assert len(_parts(ds, "churn")) == 3
    clock.tick(3601)
    done = ds.gc("churn", grace_s=7200)
    assert done["deleted_parts"] == 2 and done["stale_writers"] == 1
    assert list(store.list(orphans.writers_prefix("churn"))) == []
    assert ds.read("churn", 1).equals(sample(7))


def test_a_writer_waits_while_a_collection_holds_the_lock(ds, store, clock):
    orphans._take_lock(store, "churn", clock)  # a collection in progress
    done: list[int] = []
    writer = threading.Thread(
        target=lambda: done.append(ds.create("churn", sample(7), event_time="ts").version), daemon=True
    )
    writer.start()
    deadline = time.monotonic() + 60
    while not list(store.list(orphans.writers_prefix("churn"))):  # its marker is there: it is waiting
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert list(store.list(keys.parts_prefix("churn"))) == [] and not done
    with pytest.raises(ConflictError):
        ds.gc("churn")  # one collection at a time
    orphans.end_write(store, orphans.lock_key("churn"))
    writer.join(timeout=60)
    assert done == [1] and ds.read("churn", 1).equals(sample(7))


def test_a_dead_collections_lock_is_taken_over(ds, store, clock):
    orphans._take_lock(store, "churn", clock)
    clock.tick(orphans.LOCK_STALE_S + 1)
    assert ds.create("churn", sample(7), event_time="ts").version == 1  # writers ignore a stale lock
    assert ds.gc("churn")["skipped"] is False
