"""The S3-compatible object store (boto3): AWS S3, OCI's S3-compatibility endpoint, a local moto server.

Compare-and-swap uses S3 conditional writes: ``IfNoneMatch='*'`` to create exclusively and
``IfMatch=<etag>`` to replace only an unchanged object (412 ``PreconditionFailed`` when the
condition fails; AWS may also answer 409 ``ConditionalRequestConflict`` to a concurrent
conditional write, which is the same lost race). The store relies on the server to make the
check and the write one atomic step, as S3 does. OCI's S3-compatibility API support for these
headers is not documented; on OCI prefer the native backend (``mlops.storage.oci``).

Lost answers: botocore retries a PUT whose connection dropped; if the first attempt landed, the
retried conditional PUT is answered 412. Such a 412 says ``details["retried"] = True`` and a
conditional call that failed in transport (or with a 5xx) raises ``UnavailableError`` with
``details["outcome_unknown"]``; ``mlops.storage.base.put_once`` reads back to tell our write from
another writer's.

Client settings: path-style addressing (what OCI's compat endpoint and moto need), an explicit
region, and checksums only "when required" so S3-compatible services that predate the newer
default CRC trailers keep working.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops.errors import (
    ConfigError,
    ForbiddenError,
    NotFoundError,
    PreconditionFailedError,
    UnavailableError,
)
from mlops.storage.base import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    StoreUnavailableError,
    check_put_args,
    validate_key,
    validate_prefix,
)

_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


def make_s3_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    max_pool_connections: int = 32,
) -> Any:
    """A boto3 S3 client configured for S3-compatible endpoints (path style, explicit region)."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=max_pool_connections,
        connect_timeout=5,
        read_timeout=60,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or "us-east-1",
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        config=config,
    )


def _code_of(exc: Exception) -> tuple[str, int]:
    resp = getattr(exc, "response", None) or {}
    code = str(resp.get("Error", {}).get("Code", ""))
    status = int(resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


class S3Store(ObjectStore):
    """An ``ObjectStore`` on one bucket (optionally under a key prefix) of an S3-compatible service."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        client: Any = None,
    ):
        if not bucket:
            raise ConfigError("S3 store: a bucket name is required")
        self.bucket = bucket
        self.prefix = _norm_prefix(prefix)
        self.endpoint_url = endpoint_url
        self.page_size = 1000  # keys per list request (S3's maximum)
        self.client = (
            client
            if client is not None
            else make_s3_client(
                endpoint_url=endpoint_url, region=region, access_key=access_key, secret_key=secret_key
            )
        )
        self.url = f"s3://{bucket}/{self.prefix}" + (f" at {endpoint_url}" if endpoint_url else "")
        # botocore raises these; imported lazily so ``import mlops.storage`` stays light.
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        self._ClientError = ClientError
        self._BotoCoreError = BotoCoreError
        self._EndpointConnectionError = EndpointConnectionError

    # ------------------------------------------------------------------ helpers

    def _k(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _no_bucket(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the object store cannot be reached: bucket {self.bucket!r} does not exist at "
            f"{self.endpoint_url or 'S3'} (a store outage; buckets are created by set-up, never by a writer)"
        )

    def _bucket_missing(self) -> bool:
        """After a bare 404 (HEAD answers carry no error code): is it the bucket that is missing?"""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self._ClientError as exc:
            return _code_of(exc)[1] == 404
        except self._BotoCoreError:
            return False
        return False

    def _fail(self, exc: Exception, op: str, key: str) -> Exception:
        """Translate a botocore error into the error family (returned, for ``raise ... from``)."""
        if isinstance(exc, self._ClientError):
            code, status = _code_of(exc)
            if code == "NoSuchBucket":  # an outage, never an invitation to create it (issue 13 F)
                return self._no_bucket()
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
                return ForbiddenError(
                    f"{op} {key!r}: access to {self.url} denied ({code})", code="store_access_denied"
                )
            if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError"):
                return UnavailableError(
                    f"{op} {key!r}: {self.url} answered {status} {code}", code="store_unavailable"
                )
            return UnavailableError(
                f"{op} {key!r}: unexpected answer from {self.url}: {status} {code}", code="store_error"
            )
        if isinstance(exc, self._BotoCoreError):
            return UnavailableError(
                f"{op} {key!r}: {self.url} is unreachable: {type(exc).__name__}", code="store_unavailable"
            )
        return exc

    # ------------------------------------------------------------------ interface

    def get(self, key: str) -> StoredObject:
        k = self._k(key)
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=k)
            data = resp["Body"].read()
        except self._ClientError as exc:
            code, status = _code_of(exc)
            if code in _MISSING or status == 404 and code != "NoSuchBucket":
                raise NotFoundError(
                    f"object {key!r} does not exist in {self.url}", code="object_not_found"
                ) from None
            raise self._fail(exc, "get", key) from None
        except self._BotoCoreError as exc:
            raise self._fail(exc, "get", key) from None
        return StoredObject(key=key, data=data, etag=resp["ETag"], content_type=resp.get("ContentType"))

    def head(self, key: str) -> ObjectInfo | None:
        k = self._k(key)
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=k)
        except self._ClientError as exc:
            code, status = _code_of(exc)
            if status == 404 and code != "NoSuchBucket":
                if self._bucket_missing():
                    raise self._no_bucket() from None
                return None
            raise self._fail(exc, "head", key) from None
        except self._BotoCoreError as exc:
            raise self._fail(exc, "head", key) from None
        return ObjectInfo(
            key=key,
            etag=resp["ETag"],
            size=int(resp.get("ContentLength", 0)),
            content_type=resp.get("ContentType"),
        )

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        prefix = validate_prefix(prefix)
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "MaxKeys": self.page_size,
        }
        if start_after:
            kwargs["StartAfter"] = self.prefix + start_after
        return self._pages(kwargs, prefix)

    def _pages(self, kwargs: dict[str, Any], prefix: str) -> Iterator[str]:
        n = len(self.prefix)
        try:
            while True:
                resp = self.client.list_objects_v2(**kwargs)
                for item in resp.get("Contents", ()):
                    yield item["Key"][n:]
                if not resp.get("IsTruncated"):
                    return
                kwargs["ContinuationToken"] = resp["NextContinuationToken"]
                kwargs.pop("StartAfter", None)
        except (self._ClientError, self._BotoCoreError) as exc:
            raise self._fail(exc, "list", prefix) from None

    def delete(self, key: str, if_match: str | None = None) -> None:
        k = self._k(key)
        if if_match is None:
            # S3 deletes are idempotent; the contract reports a missing key.
            if self.head(key) is None:
                raise NotFoundError(f"object {key!r} does not exist in {self.url}", code="object_not_found")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": k}
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            self.client.delete_object(**kwargs)
        except self._ClientError as exc:
            code, status = _code_of(exc)
            if if_match is not None and (code in _LOST_RACE or code in _MISSING or status in (404, 409, 412)):
                raise PreconditionFailedError(
                    f"delete {key!r}: the object changed or is gone (if-match failed)"
                ) from None
            raise self._fail_conditional(exc, "delete", key, if_match is not None) from None
        except self._BotoCoreError as exc:
            raise self._fail_conditional(exc, "delete", key, if_match is not None) from None

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> str:
        data = check_put_args(key, data, if_match, if_none_match)
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._k(key),
            "Body": data,
            "ContentType": content_type,
        }
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        try:
            resp = self.client.put_object(**kwargs)
        except self._ClientError as exc:
            code, status = _code_of(exc)
            conditional = if_none_match or if_match is not None
            if conditional and (code in _LOST_RACE or status in (409, 412)):
                what = "already exists" if if_none_match else "has changed"
                # Was this answer to a retry (so the first attempt may have written our bytes)?
                retried = bool(
                    (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("RetryAttempts", 1)
                )
                raise PreconditionFailedError(
                    f"put {key!r}: the object {what} (conditional write lost)", details={"retried": retried}
                ) from None
            if if_match is not None and (code in _MISSING or status == 404) and code != "NoSuchBucket":
                raise PreconditionFailedError(
                    f"put {key!r}: the object does not exist (if-match failed)"
                ) from None
            raise self._fail_conditional(exc, "put", key, if_none_match or if_match is not None) from None
        except self._BotoCoreError as exc:
            raise self._fail_conditional(exc, "put", key, if_none_match or if_match is not None) from None
        return resp["ETag"]

    def _fail_conditional(self, exc: Exception, op: str, key: str, conditional: bool) -> Exception:
        """``_fail``, marking an outage of a conditional call as "may have been applied"."""
        err = self._fail(exc, op, key)
        if conditional and isinstance(err, UnavailableError) and err.code == "store_unavailable":
            err.details["outcome_unknown"] = True
        return err

    def ensure_bucket(self) -> None:
        """Set-up only: create the bucket if it does not exist (tests; clouds provision it with Pulumi).
        No read or write path calls this: a missing bucket is an outage (issue 13 F)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self._ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # pragma: no cover - older botocore
            pass


def _norm_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    p = prefix.strip("/")
    validate_key(p)
    return p + "/"
