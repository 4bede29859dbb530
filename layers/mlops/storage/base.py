"""The object store interface every backend implements: get, head, list, delete and compare-and-swap put.

Semantics shared by all backends (and pinned down by ``tests/contract``):

- ``put(key, data)`` overwrites; ``put(..., if_none_match=True)`` creates only if the key is
  absent; ``put(..., if_match=etag)`` replaces only if the current ETag is ``etag``. A lost
  race (or a missing object under ``if_match``) raises ``PreconditionFailedError``.
  Its ``details["retried"]`` is False when the backend knows the losing request was its only
  attempt (so the object cannot hold our own bytes from an earlier, unanswered attempt).
- A conditional write or delete whose outcome is unknown (the connection dropped, a timeout, a 5xx:
  the store may have applied it) raises ``UnavailableError`` with ``details["outcome_unknown"]``.
  Backends never retry a conditional call by themselves (a retried PUT whose first attempt landed
  is answered 412 and looks like a lost race); ``put_once`` resolves both cases by reading back.
- ``get`` of a missing key raises ``NotFoundError``; ``head`` returns ``None``.
- ``delete`` of a missing key raises ``NotFoundError``; with ``if_match`` a changed or missing
  object raises ``PreconditionFailedError``.
- ``list(prefix)`` yields keys in ascending (code point) order; ``start_after`` resumes a listing.
- ETags are opaque strings: compare them only for equality with ones the same store returned.
- Keys are validated before any I/O (``validate_key``).
- A missing store root (the local directory, the S3 / OCI bucket) is an outage, never an invitation:
  every operation raises ``StoreUnavailableError`` (503 ``store_unavailable``) and no backend creates
  the root on a write. Only explicit set-up creates it (``mlops local up``, the quickstart, Pulumi).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from mlops.errors import BadRequestError, NotFoundError, PreconditionFailedError, UnavailableError

MAX_KEY_BYTES = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"


class InvalidKeyError(BadRequestError):
    code = "invalid_key"


class StoreUnavailableError(UnavailableError):
    """The store cannot be reached or its root (directory, bucket) is missing: retry later (503)."""

    code = "store_unavailable"


@dataclass(frozen=True)
class ObjectInfo:
    """What ``head`` returns: the object's ETag and size (content type when the backend keeps it)."""

    key: str
    etag: str
    size: int
    content_type: str | None = None


@dataclass(frozen=True)
class StoredObject:
    """What ``get`` returns: the bytes plus the ETag to use for a following ``put(if_match=...)``."""

    key: str
    data: bytes
    etag: str
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def validate_key(key: object) -> str:
    """Return ``key`` if it is a safe object key, else raise ``InvalidKeyError`` (HTTP 400).

    Refused: empty keys, more than 1024 UTF-8 bytes, a leading or trailing ``/``, empty
    segments (``a//b``), ``.`` segments, any ``..``, backslashes, NUL and other control characters.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("object key must be a non-empty string")
    shown = repr(key[:120])
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"object key {shown} is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/") or key.endswith("/"):
        raise InvalidKeyError(f"object key {shown} may not start or end with '/'")
    if ".." in key:
        raise InvalidKeyError(f"object key {shown} may not contain '..'")
    if "\\" in key:
        raise InvalidKeyError(f"object key {shown} may not contain a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise InvalidKeyError(f"object key {shown} may not contain control characters")
    for segment in key.split("/"):
        if segment in ("", "."):
            raise InvalidKeyError(f"object key {shown} has an empty or '.' path segment")
    return key


def validate_prefix(prefix: object) -> str:
    """A listing prefix: '' or a string that could start a valid key (it may end with '/')."""
    if prefix in (None, ""):
        return ""
    if not isinstance(prefix, str):
        raise InvalidKeyError("a listing prefix must be a string")
    # A prefix may end in '/' or in the middle of a segment; the rest follows the key rules.
    body = prefix[:-1] if prefix.endswith("/") else prefix
    if not body:
        raise InvalidKeyError(f"listing prefix {prefix!r} is not allowed")
    trailing_dot = body.endswith(".")  # 'models/a.' is a fine prefix of 'models/a.b'
    validate_key(body + "x" if trailing_dot else body)
    return prefix


def content_etag(data: bytes) -> str:
    """The ETag the file backend uses: the sha256 of the content."""
    return hashlib.sha256(data).hexdigest()


class ObjectStore(abc.ABC):
    """A flat key -> bytes store with conditional writes; every backend keeps the same contract."""

    #: a short description for messages, e.g. ``file:/var/mlops/store`` or ``s3://bucket/prefix``
    url: str = "store"

    @abc.abstractmethod
    def get(self, key: str) -> StoredObject:
        """The object's bytes and ETag; ``NotFoundError`` if absent."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's ETag and size, or ``None`` if absent."""

    @abc.abstractmethod
    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        """Keys starting with ``prefix`` (after ``start_after`` if given), ascending."""

    @abc.abstractmethod
    def delete(self, key: str, if_match: str | None = None) -> None:
        """Remove an object; ``if_match`` makes it conditional on the ETag."""

    @abc.abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> str:
        """Write ``data``; returns the new ETag. Conditional forms raise ``PreconditionFailedError``."""

    # ------------------------------------------------------------------ helpers shared by backends

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release clients and pools (no-op by default)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def check_put_args(key: str, data: object, if_match: str | None, if_none_match: bool) -> bytes:
    """Shared argument checks for ``put``: a valid key, bytes, and not both conditions at once."""
    validate_key(key)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"put({key!r}): data must be bytes, got {type(data).__name__}")
    if if_match is not None and if_none_match:
        raise ValueError("put: use either if_match or if_none_match, not both")
    if if_match is not None and (not isinstance(if_match, str) or not if_match):
        raise ValueError("put: if_match must be a non-empty ETag string")
    return data


PUT_ONCE_ATTEMPTS = 3


def put_once(
    store: ObjectStore,
    key: str,
    data: bytes,
    *,
    if_match: str | None = None,
    if_none_match: bool = False,
    content_type: str = DEFAULT_CONTENT_TYPE,
    attempts: int = PUT_ONCE_ATTEMPTS,
) -> str:
    """A conditional ``put`` that survives a lost answer; returns the ETag of the object holding ``data``.

    After a lost race (412) that may be the answer to a retry of our own landed write, or after a write
    whose outcome is unknown, read the object back: if it holds exactly our bytes (same sha256) the write
    was ours and it succeeded, once. Otherwise a 412 is a real lost race (``PreconditionFailedError``);
    an unknown outcome whose precondition still holds did not land and is sent again (safe: the write is
    conditional, so a late first attempt cannot apply on top of it). Callers make ``data`` unique to the
    write (the registry puts a fresh ``write_id`` in every record), so equal bytes mean our write.
    """
    if if_match is None and not if_none_match:
        raise ValueError("put_once is for conditional writes: give if_match or if_none_match")
    digest = hashlib.sha256(data).digest()
    last: Exception | None = None
    for _ in range(max(1, attempts)):
        try:
            return store.put(
                key, data, if_match=if_match, if_none_match=if_none_match, content_type=content_type
            )
        except PreconditionFailedError as exc:
            if exc.details.get("retried") is False:  # our only attempt was refused: not our write
                raise
            cur = _current(store, key)
            if cur is not None and hashlib.sha256(cur.data).digest() == digest:
                return cur.etag
            raise
        except UnavailableError as exc:
            if not exc.details.get("outcome_unknown"):
                raise
            last = exc
            cur = _current(store, key)  # raises if the store is down: the caller sees the outage
            if cur is not None and hashlib.sha256(cur.data).digest() == digest:
                return cur.etag
            if (cur is not None) if if_none_match else (cur is None or cur.etag != if_match):
                raise PreconditionFailedError(
                    f"put {key!r}: the object changed while our write's outcome "
                    "was unknown (conditional write lost)",
                    details={"retried": True},
                ) from None
    assert last is not None
    raise last


def _current(store: ObjectStore, key: str) -> StoredObject | None:
    try:
        return store.get(key)
    except NotFoundError:
        return None
