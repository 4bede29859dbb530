"""Snapshots, the sorted index the join reads: built by the first reader, merged forward from the newest older
one, named by the batch they include, and a cache only (deleting them changes no answer)."""

from __future__ import annotations

import pyarrow as pa
from mlops.features import snapshot as snapmod
from mlops.features.ingest import ingest
from mlops.features.pit import training_set

from tests.unit.features.conftest import NOW_S, T0, register, ts


def _feed(store, rows):
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "event_ts": ts([r[1] for r in rows]),
            "value": pa.array([r[2] for r in rows], pa.float64()),
        }
    )
    ingest(store, "g", table, now=lambda: NOW_S)


def _ask(store):
    labels = pa.table({"customer_id": ["a", "b", "c"], "event_timestamp": ts([T0, T0, T0])})
    return training_set(store, labels, ["g"])["value"].to_pylist()


def test_snapshots_are_built_forward_and_are_only_a_cache(store, monkeypatch):
    register(store, "g")
    _feed(store, [("a", T0, 1.0), ("b", T0 - 5, 2.0)])
    assert _ask(store) == [1.0, 2.0, None]
    assert [k.rsplit("/", 1)[-1] for k in store.list("features/snapshots/g/v1/")] == [
        "upto-000000000001.parquet"
    ]
    _feed(store, [("a", T0, 10.0), ("c", T0 + 1, 3.0)])  # a tie with batch 1 (later wins), and a future row
    _feed(store, [("b", T0 - 9, 0.5)])  # late and older: does not win
    calls = []
    real = snapmod._batch_rows
    monkeypatch.setattr(snapmod, "_batch_rows", lambda s, gv, a, u: calls.append((a, u)) or real(s, gv, a, u))
    assert _ask(store) == [10.0, 2.0, None]
    assert calls == [(1, 3)]  # merged from upto-1 plus batches 2..3, not rebuilt
    snap = snapmod.build_snapshot(store, snapmod_group(store))
    assert snap.num_rows == 4  # the tie kept its winner only
    for key in list(store.list("features/snapshots/")):
        store.delete(key)
    assert _ask(store) == [10.0, 2.0, None]


def snapmod_group(store):
    from mlops.features.groups import get_group

    return get_group(store, "g")


def test_a_store_that_refuses_the_snapshot_still_answers(tmp_path):
    from mlops.storage import FileStore
    from mlops.storage.base import StoreUnavailableError

    class NoSnapshots(FileStore):
        def put(self, key, data, **kw):
            if key.startswith("features/snapshots/"):
                raise StoreUnavailableError("read-only here")
            return super().put(key, data, **kw)

    store = NoSnapshots(tmp_path / "s")
    register(store, "g")
    _feed(store, [("a", T0, 1.0), ("a", T0, 4.0), ("c", T0 + 1, 3.0)])
    assert _ask(store) == [4.0, None, None]
    assert _ask(store) == [4.0, None, None]
    assert not list(store.list("features/snapshots/"))
