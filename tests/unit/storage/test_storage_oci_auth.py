"""The OCI backend's client factory: config-file auth builds a real SDK client that signs its requests."""

from __future__ import annotations

import pytest
from mlops.errors import ConfigError
from mlops.storage import StoreConfig, open_store
from mlops.storage.oci import OciObjectStore, make_oci_client

from tests.contract.servers import write_oci_config_file


def test_config_file_auth_against_the_loopback_service(oci_fake, tmp_path):
    config_file = write_oci_config_file(oci_fake, tmp_path)
    bucket = oci_fake.create_bucket("cfg-auth")
    before = oci_fake.unsigned_requests
    client = make_oci_client(
        auth="config_file", config_file=str(config_file), endpoint=oci_fake.endpoint, environ={}
    )
    store = OciObjectStore(None, bucket, client)  # namespace looked up with GET /n/
    assert store.namespace == oci_fake.namespace
    store.put("k", b"v")
    assert store.get("k").data == b"v"
    assert oci_fake.unsigned_requests == before  # every request carried a signature


def test_open_store_oci_with_an_injected_client(oci_fake, oci_client):
    bucket = oci_fake.create_bucket("cfg-open")
    store = open_store(
        StoreConfig(backend="oci", bucket=bucket, namespace=oci_fake.namespace, prefix="p"), client=oci_client
    )
    store.put("a/b", b"1")
    assert list(store.list("a/")) == ["a/b"]
    assert sorted(oci_fake.buckets[bucket]) == ["p/a/b"]


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as e:
        make_oci_client(auth="config_file", config_file=str(tmp_path / "nope"), environ={})
    assert "nope" in e.value.message
    with pytest.raises(ConfigError):
        make_oci_client(auth="magic", environ={})


def test_missing_bucket_is_an_outage(oci_fake, oci_client):
    """issue 13 F: a missing bucket is a store outage (503 store_unavailable), on HEAD too."""
    from mlops.storage import StoreUnavailableError

    store = OciObjectStore(oci_fake.namespace, "no-such-bucket", oci_client)
    for op in (
        lambda: store.get("x"),
        lambda: store.head("x"),
        lambda: store.put("x", b"1"),
        lambda: list(store.list("")),
    ):
        with pytest.raises(StoreUnavailableError) as e:
            op()
        assert e.value.code == "store_unavailable" and "no-such-bucket" in e.value.message
