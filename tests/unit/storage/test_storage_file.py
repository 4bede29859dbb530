"""FileStore specifics: compare-and-swap across processes, atomic publication, key-to-path mapping."""

from __future__ import annotations

import multiprocessing

import pytest
from mlops.errors import ConflictError, PreconditionFailedError
from mlops.storage import FileStore


def _bump(root: str, times: int, barrier) -> int:
    store = FileStore(root)
    barrier.wait(timeout=60)
    conflicts = 0
    for _ in range(times):
        for _attempt in range(10_000):
            cur = store.get("counter")
            try:
                store.put("counter", b"%d" % (int(cur.data) + 1), if_match=cur.etag)
                break
            except PreconditionFailedError:
                conflicts += 1
    return conflicts


def _create(root: str, i: int, barrier) -> bool:
    store = FileStore(root)
    barrier.wait(timeout=60)
    try:
        store.put("once", b"%d" % i, if_none_match=True)
        return True
    except PreconditionFailedError:
        return False


def test_cas_holds_across_processes(tmp_path):
    root = str(tmp_path / "s")
    FileStore(root).put("counter", b"0")
    ctx = multiprocessing.get_context("spawn")
    procs, times = 6, 25
    with ctx.Manager() as manager:
        barrier = manager.Barrier(procs)
        with ctx.Pool(procs) as pool:
            pool.starmap(_bump, [(root, times, barrier)] * procs)
            assert int(FileStore(root).get("counter").data) == procs * times
            barrier2 = manager.Barrier(procs)
            wins = pool.starmap(_create, [(root, i, barrier2) for i in range(procs)])
    assert sum(wins) == 1


def test_no_staging_files_are_left_behind(tmp_path):
    store = FileStore(tmp_path / "s")
    e = store.put("a/b", b"1")
    with pytest.raises(PreconditionFailedError):
        store.put("a/b", b"2", if_none_match=True)
    with pytest.raises(PreconditionFailedError):
        store.put("a/b", b"2", if_match="0" * 64)
    store.put("a/b", b"3", if_match=e)
    assert list((tmp_path / "s" / ".state" / "tmp").iterdir()) == []
    assert (tmp_path / "s" / "objects" / "a" / "b").read_bytes() == b"3"


def test_etag_is_the_content_sha256(tmp_path):
    import hashlib

    store = FileStore(tmp_path / "s")
    assert store.put("k", b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_a_key_cannot_also_be_a_prefix(tmp_path):
    store = FileStore(tmp_path / "s")
    store.put("a", b"1")
    with pytest.raises(ConflictError):
        store.put("a/b", b"2")
    store.put("x/y", b"1")
    with pytest.raises(ConflictError):
        store.put("x", b"2")
    assert store.head("x") is None and store.get("x/y").data == b"1"
