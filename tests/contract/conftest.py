"""Fixtures for the object-store contract suite: one ``store`` fixture per backend (servers: tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest

BACKENDS = ("file", "s3", "oci")


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
