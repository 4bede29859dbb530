"""Object stores with compare-and-swap: the local disk, S3-compatible services and OCI Object Storage.

``open_store(StoreConfig.from_env())`` is how a function gets its store. The S3 and OCI
backends import their SDKs only when used (``mlops.storage.s3`` / ``mlops.storage.oci``).
"""

from __future__ import annotations

from mlops.storage.base import (
    DEFAULT_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    InvalidKeyError,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    StoreUnavailableError,
    validate_key,
    validate_prefix,
)
from mlops.storage.config import StoreConfig, open_store
from mlops.storage.file import FileStore

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "FileStore",
    "InvalidKeyError",
    "ObjectInfo",
    "ObjectStore",
    "StoreConfig",
    "StoredObject",
    "StoreUnavailableError",
    "open_store",
    "validate_key",
    "validate_prefix",
]


def __getattr__(name: str):
    if name == "S3Store":
        from mlops.storage.s3 import S3Store

        return S3Store
    if name == "OciObjectStore":
        from mlops.storage.oci import OciObjectStore

        return OciObjectStore
    raise AttributeError(f"module 'mlops.storage' has no attribute {name!r}")
