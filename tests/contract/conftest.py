"""Fixtures for the object-store contract suite: one ``store`` fixture per backend."""

from __future__ import annotations

import uuid

import pytest

from tests.contract.servers import AtomicMotoServer, FakeOciObjectStorage, throwaway_oci_client

BACKENDS = ("file", "s3", "oci")


@pytest.fixture(scope="session")
def moto_server():
    server = AtomicMotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oci_fake():
    fake = FakeOciObjectStorage().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def oci_client(oci_fake, tmp_path_factory):
    return throwaway_oci_client(oci_fake, tmp_path_factory.mktemp("oci-key"))


def make_store(kind: str, request, tmp_path, page_size: int | None = None):
    """A fresh, empty store of ``kind`` (a new bucket per test for the remote backends)."""
    if kind == "file":
        from mlops.storage import FileStore

        return FileStore(tmp_path / "store")
    if kind == "s3":
        from mlops.storage.s3 import S3Store

        server = request.getfixturevalue("moto_server")
        bucket = server.create_bucket(f"t-{uuid.uuid4().hex[:20]}")
        store = S3Store(bucket, client=server.client())
    elif kind == "oci":
        from mlops.storage.oci import OciObjectStore

        fake = request.getfixturevalue("oci_fake")
        bucket = fake.create_bucket(f"t-{uuid.uuid4().hex[:20]}")
        store = OciObjectStore(None, bucket, request.getfixturevalue("oci_client"))
    else:  # pragma: no cover
        raise ValueError(kind)
    if page_size:
        store.page_size = page_size
    return store


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = make_store(request.param, request, tmp_path, page_size=7)
    yield s
