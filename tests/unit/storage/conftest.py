"""Storage unit tests share the contract suite's loopback servers."""

from tests.contract.conftest import moto_server, oci_client, oci_fake  # noqa: F401 - shared fixtures
