"""Secret readers: Vault in the cloud (resource principals, TTL cache), a file outside git locally.

Functions get only secret names/OCIDs in their config and read values through a
``SecretReader``. Values never reach a log line, a response or an error message.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mlops import envvars as ev
from mlops.errors import ConfigError, NotFoundError, UnavailableError
from mlops.localfiles import locked, write_atomic
from mlops.ttlcache import TTLCache

T = TypeVar("T")


class SecretReader(Protocol):
    def get(self, name: str) -> str: ...


class FileSecrets:
    """A JSON object ``{name: value}`` in a file with mode 0600, outside the repository."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, Any]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise NotFoundError(
                f"secrets file {self.path} does not exist; `mlops local up` creates it",
                code="secrets_file_missing",
            ) from None
        if st.st_mode & 0o077:
            raise ConfigError(f"secrets file {self.path} is readable by others; run chmod 600 on it")
        try:
            doc = json.loads(self.path.read_text())
        except ValueError:
            raise ConfigError(f"secrets file {self.path} is not valid JSON") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"secrets file {self.path} must hold a JSON object")
        return doc

    def get(self, name: str) -> str:
        doc = self._load()
        if name not in doc:
            raise NotFoundError(f"secret {name!r} is not in {self.path}", code="secret_not_found")
        value = doc[name]
        return value if isinstance(value, str) else json.dumps(value)

    def signature(self) -> tuple[int, ...] | None:
        """What ``stat`` says about the file (device, inode, size, mtime, ctime), None if it is missing:
        a cheap way to learn that it changed. Every write replaces the file, so the inode changes too."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Read-modify-write (local only) under the file's lock: ``change`` edits the document in place;
        the file is replaced atomically, mode 0600. Concurrent writers never lose each other's changes."""
        with locked(self.path):
            doc = self._load() if self.path.exists() else {}
            result = change(doc)
            write_atomic(self.path, json.dumps(doc, indent=2))
            return result

    def put(self, name: str, value: Any) -> None:
        """Write one secret (local only), keeping the file private and the write atomic."""
        self.update(lambda doc: doc.__setitem__(name, value))


class VaultSecrets:
    """OCI Vault through the real SDK: ``get(secret_ocid)`` returns the CURRENT version's content."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_resource_principal(cls) -> VaultSecrets:
        import oci

        signer = oci.auth.signers.get_resource_principals_signer()
        return cls(oci.secrets.SecretsClient(config={}, signer=signer))

    def get(self, name: str) -> str:
        import oci

        try:
            bundle = self.client.get_secret_bundle(secret_id=name, stage="CURRENT").data
        except oci.exceptions.ServiceError as exc:
            if exc.status == 404:
                raise NotFoundError(f"secret {name} not found in Vault", code="secret_not_found") from None
            raise UnavailableError(
                f"Vault did not return secret {name} (HTTP {exc.status})", code="vault_unavailable"
            ) from None
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout, OSError) as exc:
            raise UnavailableError(
                f"Vault is unreachable for secret {name} ({type(exc).__name__})", code="vault_unavailable"
            ) from None
        content = bundle.secret_bundle_content
        return base64.b64decode(content.content).decode()


class CachedSecrets:
    """A TTL cache in front of any reader; on a failed refresh the last value is served."""

    def __init__(
        self, reader: SecretReader, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.reader, self.ttl_s, self.clock = reader, ttl_s, clock
        self._cache: TTLCache[str, str] = TTLCache(ttl_s, keep_stale=True, clock=clock)

    def get(self, name: str, *, max_age_s: float | None = None) -> str:
        """The cached value if younger than ``max_age_s`` (default: the TTL), else a fresh read."""
        return self._cache.get_or_load(
            name, lambda: self.reader.get(name), max_age_s=max_age_s, stale_on=(UnavailableError,)
        )


def secrets_from_env(environ: Mapping[str, str] | None = None, ttl_s: float = 300.0) -> CachedSecrets:
    """The reader a function should use, chosen by ``MLOPS_SECRETS_BACKEND``."""
    environ = os.environ if environ is None else environ
    backend = ev.get(environ, ev.SECRETS_BACKEND, "file")
    if backend == "file":
        return CachedSecrets(FileSecrets(ev.require(environ, ev.SECRETS_FILE)), ttl_s)
    if backend == "vault":
        return CachedSecrets(VaultSecrets.from_resource_principal(), ttl_s)
    raise ConfigError(f"{ev.SECRETS_BACKEND} must be file or vault, got {backend!r}")
