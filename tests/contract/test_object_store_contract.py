"""One contract every object store passes: file, S3 on a moto server over HTTP, OCI SDK on a loopback fake."""

from __future__ import annotations

import os
import threading

import pytest
from mlops.errors import BadRequestError, NotFoundError, PreconditionFailedError
from mlops.storage import ObjectInfo, StoredObject

BAD_KEYS = [
    "",
    "/abs",
    "trailing/",
    "a//b",
    "a/../b",
    "..",
    "a/..",
    "a\\b",
    "a\x00b",
    "a/./b",
    ".",
    "tab\there",
    "new\nline",
    "x" * 1025,
]
ODD_BUT_VALID = [
    "models/a b/c.json",
    "models/é-ü/ß.json",
    "k+e=y;@,!$'()*&",
    "percent%41/x",
    "a.b/c_d-e~f",
    ".hidden/x",
]


def test_put_get_head_roundtrip(store):
    etag = store.put("models/m/one.json", b'{"a":1}', content_type="application/json")
    assert isinstance(etag, str) and etag
    got = store.get("models/m/one.json")
    assert isinstance(got, StoredObject)
    assert got.data == b'{"a":1}' and got.etag == etag and got.size == 7
    info = store.head("models/m/one.json")
    assert isinstance(info, ObjectInfo)
    assert info.etag == etag and info.size == 7


def test_missing_key(store):
    with pytest.raises(NotFoundError):
        store.get("nope/missing.json")
    assert store.head("nope/missing.json") is None
    assert not store.exists("nope/missing.json")
    with pytest.raises(NotFoundError):
        store.delete("nope/missing.json")


def test_empty_object(store):
    etag = store.put("empty", b"")
    assert store.get("empty").data == b""
    assert store.head("empty").size == 0 and store.head("empty").etag == etag


def test_unconditional_overwrite_changes_etag(store):
    e1 = store.put("k", b"one")
    e2 = store.put("k", b"two")
    assert e1 != e2
    assert store.get("k").data == b"two"


def test_create_exclusive(store):
    etag = store.put("v/1.json", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailedError):
        store.put("v/1.json", b"second", if_none_match=True)
    got = store.get("v/1.json")
    assert got.data == b"first" and got.etag == etag


def test_if_match_swaps_only_the_version_read(store):
    e1 = store.put("alias.json", b"v1")
    e2 = store.put("alias.json", b"v2", if_match=e1)
    assert e2 != e1
    with pytest.raises(PreconditionFailedError):
        store.put("alias.json", b"v3-from-stale", if_match=e1)
    assert store.get("alias.json").data == b"v2"
    e3 = store.put("alias.json", b"v3", if_match=e2)
    assert store.get("alias.json").etag == e3


def test_if_match_on_missing_object_fails(store):
    e = store.put("gone", b"x")
    store.delete("gone")
    with pytest.raises(PreconditionFailedError):
        store.put("gone", b"y", if_match=e)
    assert store.head("gone") is None


def test_conditional_delete(store):
    e1 = store.put("d", b"1")
    e2 = store.put("d", b"2")
    with pytest.raises(PreconditionFailedError):
        store.delete("d", if_match=e1)
    assert store.get("d").data == b"2"  # the object survived
    store.delete("d", if_match=e2)
    assert store.head("d") is None
    with pytest.raises(PreconditionFailedError):
        store.delete("d", if_match=e2)


def test_both_conditions_at_once_is_a_programming_error(store):
    with pytest.raises(ValueError):
        store.put("x", b"1", if_match="abc", if_none_match=True)


def test_list_prefix_sorted_and_paged(store):
    # The fixture sets a page size of 7, so 20 keys take several list requests.
    keys = [f"audit/{i:012d}.json" for i in range(20)]
    for k in reversed(keys):
        store.put(k, b"{}")
    store.put("auditx", b"not under the prefix 'audit/'")
    store.put("models/a/model.json", b"{}")
    store.put("models/a/versions/0000000001.json", b"{}")
    store.put("models/ab/model.json", b"{}")
    assert list(store.list("audit/")) == keys
    assert list(store.list("audit/", start_after=keys[14])) == keys[15:]
    assert list(store.list("models/a/")) == ["models/a/model.json", "models/a/versions/0000000001.json"]
    assert list(store.list("models/a")) == [
        "models/a/model.json",
        "models/a/versions/0000000001.json",
        "models/ab/model.json",
    ]
    assert list(store.list("nothing/")) == []
    everything = list(store.list(""))
    assert everything == sorted(everything) and len(everything) == 24


def test_deleted_keys_leave_the_listing(store):
    store.put("p/a", b"1")
    store.put("p/b", b"2")
    store.delete("p/a")
    assert list(store.list("p/")) == ["p/b"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_before_any_io(store, key):
    with pytest.raises(BadRequestError):
        store.put(key, b"x")
    with pytest.raises(BadRequestError):
        store.get(key)
    with pytest.raises(BadRequestError):
        store.head(key)
    with pytest.raises(BadRequestError):
        store.delete(key)
    assert list(store.list("")) == []


@pytest.mark.parametrize("prefix", ["/abs", "../", "a/../", "a\\", "a//"])
def test_bad_list_prefixes_are_rejected(store, prefix):
    with pytest.raises(BadRequestError):
        store.list(prefix)


def test_odd_but_valid_keys_roundtrip(store):
    for i, key in enumerate(ODD_BUT_VALID):
        store.put(key, b"%d" % i)
    for i, key in enumerate(ODD_BUT_VALID):
        assert store.get(key).data == b"%d" % i
    assert sorted(store.list("")) == sorted(ODD_BUT_VALID)
    assert list(store.list("percent%")) == ["percent%41/x"]


def test_large_object(store):
    data = os.urandom(5 * 1024 * 1024 + 3)
    etag = store.put("artifacts/sha256/big", data)
    got = store.get("artifacts/sha256/big")
    assert got.data == data and got.etag == etag
    assert store.head("artifacts/sha256/big").size == len(data)


def test_racing_creates_have_exactly_one_winner(store):
    n = 12
    barrier = threading.Barrier(n)
    wins, losses, errors = [], [], []

    def create(i: int) -> None:
        barrier.wait()
        try:
            store.put("race/1.json", b"writer-%d" % i, if_none_match=True)
            wins.append(i)
        except PreconditionFailedError:
            losses.append(i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(wins) == 1 and len(losses) == n - 1
    assert store.get("race/1.json").data == b"writer-%d" % wins[0]


@pytest.mark.slow
def test_racing_compare_and_swap_loses_no_update(store):
    store.put("counter", b"0")
    n_threads, per_thread = 6, 8
    barrier = threading.Barrier(n_threads)
    conflicts = []

    def bump() -> None:
        barrier.wait()
        for _ in range(per_thread):
            for _attempt in range(500):
                cur = store.get("counter")
                try:
                    store.put("counter", b"%d" % (int(cur.data) + 1), if_match=cur.etag)
                    break
                except PreconditionFailedError:
                    conflicts.append(1)
            else:  # pragma: no cover
                raise AssertionError("no progress")

    threads = [threading.Thread(target=bump) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert int(store.get("counter").data) == n_threads * per_thread
