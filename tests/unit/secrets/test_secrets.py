"""Secret readers: the real oci SDK against a loopback Vault secrets endpoint; the local file; the TTL cache."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlops.errors import ConfigError, NotFoundError, UnavailableError
from mlops.secrets import CachedSecrets, FileSecrets, VaultSecrets


class FakeVault:
    """GET /20190301/secretbundles/{id}: OCI's SecretBundle JSON, base64 content; 404 for unknown ids."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets, self.calls = secrets, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fake.calls.append(self.path)
                sid = self.path.split("/secretbundles/", 1)[-1].split("?", 1)[0]
                if "authorization" not in {k.lower() for k in self.headers}:
                    return self._send(401, {"code": "NotAuthenticated", "message": "unsigned"})
                if sid == "ocid1.vaultsecret.oc1..broken":
                    return self._send(500, {"code": "InternalServerError", "message": "boom"})
                if sid not in fake.secrets:
                    return self._send(404, {"code": "NotAuthorizedOrNotFound", "message": "no such secret"})
                self._send(
                    200,
                    {
                        "secretId": sid,
                        "versionNumber": 1,
                        "stages": ["CURRENT"],
                        "secretBundleContent": {
                            "contentType": "BASE64",
                            "content": base64.b64encode(fake.secrets[sid].encode()).decode(),
                        },
                    },
                )

            def _send(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("opc-request-id", "test")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()  # refuse connections from now on


@pytest.fixture
def vault():
    v = FakeVault({"ocid1.vaultsecret.oc1..keys": '{"keys": []}'})
    yield v
    v.close()


@pytest.fixture
def client(vault):
    import oci
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    cfg = {
        "tenancy": "ocid1.tenancy.oc1..t",
        "user": "ocid1.user.oc1..u",
        "fingerprint": ":".join(["aa"] * 16),
        "key_content": pem,
        "region": "eu-frankfurt-1",
    }
    return oci.secrets.SecretsClient(
        cfg, service_endpoint=vault.endpoint, timeout=(2, 5), retry_strategy=oci.retry.NoneRetryStrategy()
    )


def test_vault_reader_decodes_the_current_bundle_through_the_real_sdk(vault, client):
    reader = VaultSecrets(client)
    assert reader.get("ocid1.vaultsecret.oc1..keys") == '{"keys": []}'
    assert "stage=CURRENT" in vault.calls[-1]
    with pytest.raises(NotFoundError):
        reader.get("ocid1.vaultsecret.oc1..missing")
    with pytest.raises(UnavailableError) as ei:
        reader.get("ocid1.vaultsecret.oc1..broken")
    assert "boom" not in ei.value.message  # nothing of the service's answer is echoed


def test_cache_serves_the_last_value_when_vault_is_down(vault, client):
    now = [0.0]
    cached = CachedSecrets(VaultSecrets(client), ttl_s=10, clock=lambda: now[0])
    assert cached.get("ocid1.vaultsecret.oc1..keys") == '{"keys": []}'
    n = len(vault.calls)
    now[0] = 5
    cached.get("ocid1.vaultsecret.oc1..keys")
    assert len(vault.calls) == n  # within the TTL: no call
    vault.secrets["ocid1.vaultsecret.oc1..keys"] = "v2"
    assert cached.get("ocid1.vaultsecret.oc1..keys", max_age_s=0) == "v2"  # a fresh read on demand
    vault.close()
    now[0] = 30  # past the TTL, and Vault is unreachable
    assert cached.get("ocid1.vaultsecret.oc1..keys") == "v2"
    with pytest.raises(UnavailableError):
        CachedSecrets(VaultSecrets(client), ttl_s=10).get("ocid1.vaultsecret.oc1..keys")


def test_file_secrets_are_private_and_say_what_is_missing(tmp_path):
    path = tmp_path / "secrets.json"
    fs = FileSecrets(path)
    with pytest.raises(NotFoundError, match="does not exist"):
        fs.get("x")
    fs.put("a", {"k": 1})
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert json.loads(fs.get("a")) == {"k": 1}
    with pytest.raises(NotFoundError, match="'b' is not in"):
        fs.get("b")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        fs.get("a")


def test_concurrent_puts_lose_nothing_and_leave_no_temp_files(tmp_path):
    """issue 13 B: read-modify-write under a lock, through a unique temp file; the file stays 0600."""
    import concurrent.futures

    path = tmp_path / "secrets.json"
    FileSecrets(path).put("seed", "x")
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda i: FileSecrets(path).put(f"k{i}", f"v{i}"), range(64)))
    doc = FileSecrets(path)._load()
    assert {f"k{i}" for i in range(64)} | {"seed"} == set(doc)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_update_returns_what_the_change_returned_and_a_failed_change_writes_nothing(tmp_path):
    store = FileSecrets(tmp_path / "secrets.json")
    assert store.update(lambda doc: doc.setdefault("a", "1")) == "1"

    def boom(doc):
        doc["a"] = "2"
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update(boom)
    assert store.get("a") == "1"
