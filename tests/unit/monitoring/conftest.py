"""Fixtures for the monitoring tests: a loopback fake of the OCI endpoints that records signed requests."""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TENANCY = "ocid1.tenancy.oc1..aaaaaaaatesttenancy"
USER = "ocid1.user.oc1..aaaaaaaatestuser"
FINGERPRINT = ":".join(["ab"] * 16)


class Recorded:
    def __init__(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        self.method, self.path, self.headers, self.raw = method, path, headers, raw

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class FakeOci:
    """Answers PostMetricData and ONS PublishMessage the way OCI does; queued answers override."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: deque[tuple[int, dict]] = deque()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n)
                with fake.lock:
                    fake.requests.append(
                        Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                    )
                    answer = fake.answers.popleft() if fake.answers else None
                if answer is None:
                    if self.path.endswith("/metrics"):
                        answer = (200, {"failedMetricsCount": 0, "failedMetrics": []})
                    else:
                        answer = (200, {"messageId": "msg-1", "timeStamp": "2025-01-01T00:00:00.000Z"})
                status, body = answer
                out = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("opc-request-id", "fake-request")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_signature(req: Recorded, public_key) -> None:
    """Check OCI's HTTP signature (draft-cavage, rsa-sha256) of a recorded request, or raise."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    auth = req.headers["authorization"]
    assert auth.startswith("Signature ")
    fields = dict(part.split("=", 1) for part in auth[len("Signature ") :].split(","))
    fields = {k: v.strip('"') for k, v in fields.items()}
    assert fields["keyId"] == f"{TENANCY}/{USER}/{FINGERPRINT}"
    assert fields["algorithm"] == "rsa-sha256"
    lines = []
    for h in fields["headers"].split(" "):
        if h == "(request-target)":
            lines.append(f"(request-target): {req.method.lower()} {req.path}")
        else:
            lines.append(f"{h}: {req.headers[h]}")
    public_key.verify(
        base64.b64decode(fields["signature"]), "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.fixture(scope="session")
def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def oci_config(rsa_key) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization

    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return {
        "tenancy": TENANCY,
        "user": USER,
        "fingerprint": FINGERPRINT,
        "key_content": pem,
        "region": "eu-frankfurt-1",
    }


@pytest.fixture()
def fake_oci():
    fake = FakeOci()
    yield fake
    fake.close()


@pytest.fixture()
def monitoring_client(fake_oci, oci_config):
    import oci

    return oci.monitoring.MonitoringClient(
        oci_config,
        service_endpoint=fake_oci.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=(5, 10),
    )


@pytest.fixture()
def ons_client(fake_oci, oci_config):
    import oci

    return oci.ons.NotificationDataPlaneClient(
        oci_config,
        service_endpoint=fake_oci.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=(5, 10),
    )
