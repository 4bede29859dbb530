"""issue 13 G: a conditional write whose answer is lost after the store applied it.

The fakes apply the write and then close the connection without answering (``FakeOciObjectStorage``
with ``drop_responses``; for S3 a ``DroppingProxy`` in front of the moto server). The clients are
built the way production builds them (``make_oci_client``: the oci SDK with its default retry
strategy for everything but conditional calls; ``make_s3_client``: botocore's standard retries).
Before the fix an OCI conditional PUT was retried by the SDK, answered 412 and taken for a lost
race (or, with retries off, for an outage); now the registry reads back, recognises its own bytes
and succeeds, and the store applied the write exactly once.
"""

from __future__ import annotations

import uuid

import pytest
from mlops.registry import Registry, records
from mlops.storage.oci import OciObjectStore, make_oci_client
from mlops.storage.s3 import S3Store, make_s3_client

from tests.contract.servers import S3_TEST_KEYS, DroppingProxy, write_oci_config_file


@pytest.fixture()
def oci_store(oci_fake, tmp_path):
    client = make_oci_client(
        auth="config_file",
        endpoint=oci_fake.endpoint,
        config_file=str(write_oci_config_file(oci_fake, tmp_path)),
    )
    bucket = oci_fake.create_bucket(f"t-{uuid.uuid4().hex[:20]}")
    store = OciObjectStore(None, bucket, client)

    def drop_next():
        oci_fake.drop_responses = 1
        return lambda: oci_fake.writes

    yield store, drop_next
    oci_fake.drop_responses = 0


@pytest.fixture(scope="module")
def s3_proxy(moto_server):
    proxy = DroppingProxy(moto_server.endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture()
def s3_store(moto_server, s3_proxy):
    bucket = moto_server.create_bucket(f"t-{uuid.uuid4().hex[:20]}")
    client = make_s3_client(endpoint_url=s3_proxy.endpoint, region="us-east-1", **S3_TEST_KEYS)
    store = S3Store(bucket, client=client)

    def drop_next():
        s3_proxy.drop_responses = 1
        return None  # moto does not say how many writes it applied; the content does

    yield store, drop_next
    s3_proxy.drop_responses = 0


@pytest.fixture(params=["oci", "s3"])
def lossy(request):
    return request.getfixturevalue(f"{request.param}_store")


def test_a_cas_update_whose_answer_is_lost_succeeds_exactly_once(lossy):
    store, drop_next = lossy
    records.create(store, "models/m.json", {"n": 0})
    applied = drop_next()
    before = applied() if applied else None
    doc, wrote = records.update(store, "models/m.json", lambda cur: {**cur, "n": cur["n"] + 1})
    assert wrote and doc["n"] == 1
    stored = records.read(store, "models/m.json").data
    assert stored["n"] == 1 and stored["write_id"] == doc["write_id"]  # our change, applied once
    if applied:
        assert applied() - before == 1


def test_an_exclusive_create_whose_answer_is_lost_is_not_taken_for_a_conflict(lossy):
    store, drop_next = lossy
    drop_next()
    reg = Registry(store, actor="ds")
    model = reg.create_model("churn")  # before: 409 model_exists (or store_unavailable)
    assert model["name"] == "churn"
    entries = [e for e in reg.audit.entries() if e["action"] == "model.create"]
    assert len(entries) == 1  # audited once


def test_a_run_whose_answer_is_lost_is_saved_not_refused_as_existing(lossy):
    """Before: the retried create-exclusive PUT was answered 412 and the run was refused as "already exists"."""
    from mlops.runs.store import RunStore, new_run_id

    store, drop_next = lossy
    drop_next()
    run_id = new_run_id()
    saved = RunStore(store).save({"run_id": run_id, "params": {"a": 1}})
    assert saved["run_id"] == run_id
    assert RunStore(store).get(run_id)["params"] == {"a": 1}


def test_oci_conditional_writes_are_sent_once_by_the_sdk(oci_fake, oci_store):
    """OCI's SDK retries put_object by default; a conditional PUT must not be retried blindly (its
    retry would be answered 412): the SDK sends it once and the store layer reads back instead."""
    store, drop_next = oci_store
    drop_next()
    puts = oci_fake.puts
    records.create(store, "models/once.json", {"n": 1})
    assert oci_fake.puts - puts == 1


def test_a_conditional_write_lost_before_it_was_applied_is_sent_again(oci_fake, oci_store):
    """Outcome unknown, object unchanged: the write did not land; put_once sends it again (safe, conditional)."""
    store, _ = oci_store
    records.create(store, "models/r.json", {"n": 0})
    oci_fake.lose_requests = 1
    writes, puts = oci_fake.writes, oci_fake.puts
    doc, wrote = records.update(store, "models/r.json", lambda cur: {**cur, "n": cur["n"] + 1})
    assert wrote and records.read(store, "models/r.json").data["write_id"] == doc["write_id"]
    assert (oci_fake.writes - writes, oci_fake.puts - puts) == (1, 2)


def test_a_lost_answer_over_another_writers_change_is_a_lost_race(oci_fake, oci_store):
    """Outcome unknown and the object now holds someone else's bytes: a lost race, never "ours"."""
    from mlops.errors import PreconditionFailedError
    from mlops.storage.base import put_once

    store, _ = oci_store
    etag = store.put("k.json", b"v0", content_type="application/json")
    other = store.put("k.json", b"other")  # somebody else's write lands
    assert other != etag
    # our conditional write on the old etag, whose request is lost: reading back shows another's bytes
    oci_fake.lose_requests = 1
    with pytest.raises(PreconditionFailedError):
        put_once(store, "k.json", b"mine", if_match=etag)
    assert store.get("k.json").data == b"other"
