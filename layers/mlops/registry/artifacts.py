"""Model artifacts: content-addressed bytes, verified against their sha256 before anything unpickles them.

An artifact is stored once at ``artifacts/sha256/<hex>`` (create-exclusive; uploading the same
bytes twice is a no-op). ``fetch_verified`` recomputes the digest of what the store returned
and refuses a mismatch; only then may ``load_joblib`` deserialize. Flavor ``sklearn`` means a
scikit-learn compatible estimator serialized with joblib (an MLflow model directory is read by
``mlops.registry.mlflowdir`` and stored the same way).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from mlops.errors import (
    BadRequestError,
    IntegrityError,
    NotFoundError,
    PreconditionFailedError,
    UnprocessableError,
)
from mlops.registry.keys import artifact_key
from mlops.storage.base import ObjectStore

FLAVOR_SKLEARN = "sklearn"
FORMAT_JOBLIB = "joblib"
FLAVORS = (FLAVOR_SKLEARN,)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialize_model(model: Any) -> bytes:
    """joblib bytes of a fitted estimator."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(model, buf)
    return buf.getvalue()


def upload(
    store: ObjectStore, data: bytes, *, content_type: str = "application/octet-stream"
) -> dict[str, Any]:
    """Store ``data`` under its sha256 (idempotent); returns ``{"sha256", "size", "key"}``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BadRequestError("artifact data must be bytes", code="invalid_artifact")
    data = bytes(data)
    digest = sha256_hex(data)
    key = artifact_key(digest)
    if store.head(key) is None:
        try:
            store.put(key, data, if_none_match=True, content_type=content_type)
        except PreconditionFailedError:
            pass  # someone uploaded the same content a moment ago: content-addressed, same bytes
    return {"sha256": digest, "size": len(data), "key": key}


def fetch_verified(
    store: ObjectStore, sha256: str, *, size: int | None = None, what: str = "artifact"
) -> bytes:
    """The bytes at ``artifacts/sha256/<sha256>``, only if they hash to ``sha256`` (and have ``size``)."""
    key = artifact_key(sha256)
    try:
        data = store.get(key).data
    except NotFoundError:
        raise NotFoundError(
            f"{what} sha256:{sha256} is missing from {store.url} (key {key})", code="artifact_missing"
        ) from None
    actual = sha256_hex(data)
    if actual != sha256 or (size is not None and len(data) != size):
        raise IntegrityError(
            f"{what} {key} failed verification: expected sha256 {sha256} ({size} bytes), "
            f"got sha256 {actual} ({len(data)} bytes); it was altered or corrupted and will not be loaded",
            code="artifact_integrity",
            details={"key": key, "expected_sha256": sha256, "actual_sha256": actual},
        )
    return data


def load_joblib(data: bytes) -> Any:
    """Deserialize verified joblib bytes (never call this on unverified data)."""
    import joblib

    return joblib.load(io.BytesIO(data))


MAX_MODEL_FILE_BYTES = 2 * 1024**3
# joblib writes a pickle (protocol >= 2 starts with 0x80), optionally compressed: zlib, gzip, bz2, xz, lzma, lz4
_MODEL_MAGIC = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x5d\x00\x00", b"\x04\x22\x4d\x18")


def read_model_file(path: str | Path, what: str = "--artifact") -> bytes:
    """The bytes of a person's model file, checked before anything unpickles them: a regular file (not a
    symbolic link), not empty, at most ``MAX_MODEL_FILE_BYTES``, starting like a joblib/pickle file."""
    import os
    import stat

    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        raise BadRequestError(f"{what} {p}: no such file", code="file_not_found") from None
    except OSError as exc:
        raise BadRequestError(f"{what} {p}: {exc.strerror or exc}", code="invalid_artifact") from None
    if stat.S_ISLNK(st.st_mode):
        raise BadRequestError(
            f"{what} {p} is a symbolic link; give the model file itself", code="invalid_artifact"
        )
    if not stat.S_ISREG(st.st_mode):
        raise BadRequestError(f"{what} {p} is not a regular file", code="invalid_artifact")
    if st.st_size == 0:
        raise BadRequestError(
            f"{what} {p} is empty; expected a model saved with joblib.dump", code="invalid_artifact"
        )
    if st.st_size > MAX_MODEL_FILE_BYTES:
        raise BadRequestError(
            f"{what} {p} is {st.st_size} bytes; at most {MAX_MODEL_FILE_BYTES} are accepted",
            code="invalid_artifact",
        )
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # no symlink swapped in since lstat
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_MODEL_FILE_BYTES + 1)
    except OSError as exc:
        raise BadRequestError(f"{what} {p}: {exc.strerror or exc}", code="invalid_artifact") from None
    if not data.startswith(_MODEL_MAGIC):
        raise BadRequestError(
            f"{what} {p} is not a joblib file (it starts with {data[:8]!r}); save the model with joblib.dump",
            code="invalid_artifact",
        )
    return data


def load_model_bytes(data: bytes, where: str) -> Any:
    """Deserialize a person's own model bytes (read by ``read_model_file``, on their machine). Any failure
    is one clear error, and the object must be a model (it has ``predict``)."""
    import joblib

    try:
        obj = joblib.load(io.BytesIO(data))
    except ModuleNotFoundError as exc:
        raise BadRequestError(
            f"{where}: cannot load the model, module {exc.name!r} is not installed", code="invalid_artifact"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt pickle raises nearly anything
        raise BadRequestError(
            f"{where}: not a loadable joblib model ({type(exc).__name__}: {str(exc)[:120]})",
            code="invalid_artifact",
        ) from None
    check_model_object(obj, where)
    return obj


def check_model_object(obj: Any, where: str = "the artifact") -> None:
    """A model is something with a ``predict`` method; a pickled dict or list is refused."""
    if not callable(getattr(obj, "predict", None)):
        raise UnprocessableError(
            f"{where} holds a {type(obj).__name__}, not a model (it has no predict method)",
            code="not_a_model",
        )
