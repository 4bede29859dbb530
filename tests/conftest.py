"""Fixtures shared by every tier: the loopback S3 (moto) and OCI Object Storage servers.

Session-scoped and started only by the tests that ask for them; the servers' modules are imported inside the
fixtures so a tier that needs neither does not pay for moto's import.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def moto_server():
    from tests.contract.servers import AtomicMotoServer

    server = AtomicMotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oci_fake():
    from tests.contract.servers import FakeOciObjectStorage

    fake = FakeOciObjectStorage().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def oci_client(oci_fake, tmp_path_factory):
    from tests.contract.servers import throwaway_oci_client

    return throwaway_oci_client(oci_fake, tmp_path_factory.mktemp("oci-key"))
