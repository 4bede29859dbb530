"""Where the object store is (``StoreConfig``), as settings, env vars or a URL, and ``open_store``.

Functions receive the store's location as the ``MLOPS_STORE_*`` env vars below (the blueprint,
``mlops.blueprint.functions``, writes them from the stack settings); the CLI also accepts a URL (``--store``).
``StoreConfig`` is also the ``store`` section of the stack settings: ``from_dict`` validates it there.
Credentials never appear here: an S3 backend names a secret (``credentials_secret``) that a
secret reader resolves to ``{"access_key": ..., "secret_key": ...}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from mlops.errors import ConfigError
from mlops.storage.base import ObjectStore

ENV_BACKEND = "MLOPS_STORE_BACKEND"
ENV_PATH = "MLOPS_STORE_PATH"
ENV_BUCKET = "MLOPS_STORE_BUCKET"
ENV_NAMESPACE = "MLOPS_STORE_NAMESPACE"
ENV_ENDPOINT = "MLOPS_STORE_ENDPOINT"
ENV_REGION = "MLOPS_STORE_REGION"
ENV_PREFIX = "MLOPS_STORE_PREFIX"
ENV_CREDENTIALS_SECRET = "MLOPS_STORE_CREDENTIALS_SECRET"

ENV_BY_FIELD = {
    "backend": ENV_BACKEND,
    "path": ENV_PATH,
    "bucket": ENV_BUCKET,
    "namespace": ENV_NAMESPACE,
    "endpoint": ENV_ENDPOINT,
    "region": ENV_REGION,
    "prefix": ENV_PREFIX,
    "credentials_secret": ENV_CREDENTIALS_SECRET,
}

BACKENDS = ("file", "s3", "oci")


class SecretReader(Protocol):
    def get(self, name: str) -> str: ...


@dataclass(frozen=True)
class StoreConfig:
    """The location of one object store; ``validate`` names the missing field."""

    backend: str = "file"
    path: str | None = None
    bucket: str | None = None
    namespace: str | None = None
    endpoint: str | None = None
    region: str | None = None
    prefix: str = ""
    credentials_secret: str | None = None

    def problem(self) -> tuple[str, str] | None:
        """The first (field, what is wrong) of this location, or None; the one place these rules live."""
        if self.backend not in BACKENDS:
            return "backend", f"must be one of {', '.join(BACKENDS)}, got {self.backend!r}"
        if self.backend == "file" and not self.path:
            return "path", "required for the file backend"
        if self.backend in ("s3", "oci") and not self.bucket:
            return "bucket", f"required for the {self.backend} backend"
        return None

    def validate(self, where: str = "store") -> StoreConfig:
        bad = self.problem()
        if bad:
            raise ConfigError(f"{where}.{bad[0]}: {bad[1]}")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "store") -> StoreConfig:
        """From a settings mapping; an unknown key fails with ``ConfigError`` naming it."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown store setting (known: {', '.join(sorted(known))})")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected a string, got {type(value).__name__}")
            kwargs[key] = str(value)
        return cls(**kwargs).validate(where)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreConfig:
        """From ``MLOPS_STORE_*``; fails fast naming the missing variable."""
        env = os.environ if environ is None else environ
        backend = env.get(ENV_BACKEND)
        if not backend:
            raise ConfigError(f"function config {ENV_BACKEND} is not set (one of {', '.join(BACKENDS)})")
        kwargs = {f: env[name] for f, name in ENV_BY_FIELD.items() if env.get(name)}
        cfg = cls(**kwargs)
        bad = cfg.problem()
        if bad:
            raise ConfigError(f"function config {ENV_BY_FIELD[bad[0]]}: {bad[1]}")
        return cfg

    def to_env(self) -> dict[str, str]:
        """The ``MLOPS_STORE_*`` env vars that ``from_env`` reads back (empty fields left out)."""
        out: dict[str, str] = {}
        for f, name in ENV_BY_FIELD.items():
            value = getattr(self, f)
            if value not in (None, ""):
                out[name] = str(value)
        return out

    @classmethod
    def from_url(cls, url: str) -> StoreConfig:
        """``/path`` or ``file:/path``; ``s3://bucket/prefix?endpoint=http://...&region=...&credentials_secret=...``;
        ``oci://bucket/prefix?namespace=...&region=...&endpoint=...``."""
        if not url:
            raise ConfigError("store URL is empty")
        parts = urlsplit(url)
        if parts.scheme in ("", "file"):
            path = parts.path if parts.scheme == "file" else url
            return cls(backend="file", path=path).validate("store")
        if parts.scheme not in ("s3", "oci"):
            raise ConfigError(f"store URL {url!r}: use a path, file:, s3:// or oci://")
        query = dict(parse_qsl(parts.query))
        allowed = {"endpoint", "region", "namespace", "credentials_secret"}
        for key in query:
            if key not in allowed:
                raise ConfigError(
                    f"store URL {url!r}: unknown parameter {key!r} (known: {', '.join(sorted(allowed))})"
                )
        return cls(
            backend=parts.scheme, bucket=parts.netloc or None, prefix=parts.path.strip("/"), **query
        ).validate("store")


def s3_keys_from_secret(secrets: SecretReader | None, name: str) -> tuple[str, str]:
    """Read ``{"access_key": ..., "secret_key": ...}`` from the named secret."""
    if secrets is None:
        raise ConfigError(f"store.credentials_secret {name!r} is set but no secret reader was given")
    raw = secrets.get(name)
    try:
        doc = json.loads(raw)
        return str(doc["access_key"]), str(doc["secret_key"])
    except (TypeError, ValueError, KeyError):
        # Never echo the secret's value.
        raise ConfigError(f"secret {name!r} must be JSON with access_key and secret_key") from None


def open_store(
    config: StoreConfig,
    secrets: SecretReader | None = None,
    *,
    client: Any = None,
    environ: Mapping[str, str] | None = None,
    create: bool = False,
) -> ObjectStore:
    """The ``ObjectStore`` a config describes; ``client`` injects an SDK client (tests, reuse).

    Opening never creates the store's root: a missing directory or bucket is an outage
    (``StoreUnavailableError`` on use). ``create=True`` is for explicit set-up of a local directory
    (``mlops local up``, the quickstart, a ``--store PATH`` named on the command line); buckets are
    only ever created by Pulumi."""
    config.validate()
    if config.backend == "file":
        from mlops.storage.file import FileStore

        return FileStore(config.path, create=create)  # type: ignore[arg-type]
    if config.backend == "s3":
        from mlops.storage.s3 import S3Store

        access = secret = None
        if config.credentials_secret:
            access, secret = s3_keys_from_secret(secrets, config.credentials_secret)
        return S3Store(
            config.bucket or "",  # validate() refused an s3 config without a bucket
            endpoint_url=config.endpoint,
            region=config.region,
            access_key=access,
            secret_key=secret,
            prefix=config.prefix,
            client=client,
        )
    from mlops.storage.oci import OciObjectStore, make_oci_client

    if client is None:
        client = make_oci_client(region=config.region, endpoint=config.endpoint, environ=environ)
    return OciObjectStore(config.namespace, config.bucket, client, prefix=config.prefix)  # type: ignore[arg-type]
