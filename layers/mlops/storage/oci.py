"""The OCI Object Storage store on the native API (oci SDK), with its compare-and-swap headers.

``put_object(if_none_match="*")`` creates exclusively and ``put_object(if_match=<etag>)``
replaces only an unchanged object; OCI answers a failed condition with 412
(``IfNoneMatchFailed`` / ``IfMatchFailed``), a conditional delete likewise. OCI ETags are
opaque (a UUID per write), so they are only ever compared for equality.

Conditional calls are made with ``retry_strategy=oci.retry.NoneRetryStrategy()``: the SDK applies
``DEFAULT_RETRY_STRATEGY`` to ``put_object``/``delete_object`` unless told otherwise ("To have this
operation explicitly not perform any retries, pass an instance of NoneRetryStrategy", docstrings of
``ObjectStorageClient.put_object``/``delete_object``, oci 2.189.0), and a retried conditional PUT whose
first attempt landed is answered 412, i.e. looks like a lost race. A conditional call whose outcome is
unknown raises ``UnavailableError(details={"outcome_unknown": True})`` instead, and
``mlops.storage.base.put_once`` reads back to decide. Unconditional calls keep the SDK's retries.

Authentication (``make_oci_client``): resource principals inside OCI Functions (detected by
``OCI_RESOURCE_PRINCIPAL_VERSION``), instance principals on a compute host, or a config file
(``~/.oci/config``, profile ``DEFAULT`` or ``OCI_CLI_PROFILE``) on a laptop or in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, TypeGuard

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

AUTH_MODES = ("auto", "resource_principal", "instance_principal", "config_file")
_PAGE = 1000


def make_oci_client(
    *,
    auth: str = "auto",
    region: str | None = None,
    endpoint: str | None = None,
    config_file: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """An ``oci.object_storage.ObjectStorageClient`` with the right signer for where we run."""
    import oci

    env = os.environ if environ is None else environ
    if auth not in AUTH_MODES:
        raise ConfigError(f"OCI store: auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    if auth == "auto":
        auth = "resource_principal" if env.get("OCI_RESOURCE_PRINCIPAL_VERSION") else "config_file"
    kwargs: dict[str, Any] = {"timeout": (5, 60)}
    if endpoint:
        kwargs["service_endpoint"] = endpoint
    if auth == "resource_principal":
        signer = oci.auth.signers.get_resource_principals_signer()
        config = {"region": region or signer.region}
        return oci.object_storage.ObjectStorageClient(config, signer=signer, **kwargs)
    if auth == "instance_principal":
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        config = {"region": region or signer.region}
        return oci.object_storage.ObjectStorageClient(config, signer=signer, **kwargs)
    path = config_file or env.get("OCI_CONFIG_FILE") or oci.config.DEFAULT_LOCATION
    prof = profile or env.get("OCI_CLI_PROFILE") or oci.config.DEFAULT_PROFILE
    try:
        config = oci.config.from_file(file_location=path, profile_name=prof)
    except (
        oci.exceptions.ConfigFileNotFound,
        oci.exceptions.ProfileNotFound,
        oci.exceptions.InvalidConfig,
    ) as exc:
        raise ConfigError(f"OCI store: cannot use config file {path} profile {prof}: {exc}") from None
    if region:
        config["region"] = region
    return oci.object_storage.ObjectStorageClient(config, **kwargs)


class _ServiceError(Protocol):
    """What this store reads of an ``oci.exceptions.ServiceError`` (the SDK is imported lazily)."""

    status: int
    code: str


class OciObjectStore(ObjectStore):
    """An ``ObjectStore`` on one OCI bucket (optionally under a key prefix), native API."""

    def __init__(self, namespace: str | None, bucket: str, client: Any, *, prefix: str = ""):
        import oci

        if not bucket:
            raise ConfigError("OCI store: a bucket name is required")
        self._oci = oci
        self.client = client
        self.bucket = bucket
        self.prefix = _norm_prefix(prefix)
        self.page_size = _PAGE  # names per list request (OCI's maximum)
        if not namespace:
            try:
                namespace = client.get_namespace().data
            except oci.exceptions.ServiceError as exc:
                raise ConfigError(
                    f"OCI store: cannot look up the Object Storage namespace: {exc.status} {exc.code}"
                ) from None
        self.namespace = namespace
        self.url = f"oci://{bucket}@{namespace}/{self.prefix}"

    # ------------------------------------------------------------------ helpers

    def _k(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _bucket_missing(self) -> bool:
        try:  # a listing answers with a body, so the error names the bucket (HEAD answers cannot)
            self.client.list_objects(self.namespace, self.bucket, limit=1, fields="name")
        except self._oci.exceptions.ServiceError as exc:
            return exc.code == "BucketNotFound"
        except Exception:
            return False
        return False

    def _is_service_error(self, exc: BaseException) -> TypeGuard[_ServiceError]:
        return isinstance(exc, self._oci.exceptions.ServiceError)

    def _fail(self, exc: Exception, op: str, key: str) -> Exception:
        if self._is_service_error(exc):
            status, code = exc.status, exc.code
            if code == "BucketNotFound":  # an outage, never an invitation to create it (issue 13 F)
                return StoreUnavailableError(
                    f"the object store cannot be reached: bucket {self.bucket!r} in namespace {self.namespace!r} "
                    "does not exist or this principal may not use it (buckets are created by Pulumi, never by "
                    "a writer)"
                )
            if status in (401, 403):
                return ForbiddenError(
                    f"{op} {key!r}: access to {self.url} denied ({code})", code="store_access_denied"
                )
            return UnavailableError(
                f"{op} {key!r}: {self.url} answered {status} {code}",
                code="store_unavailable" if status >= 500 or status == 429 else "store_error",
            )
        return UnavailableError(
            f"{op} {key!r}: {self.url} is unreachable: {type(exc).__name__}", code="store_unavailable"
        )

    def _transport_errors(self) -> tuple[type[Exception], ...]:
        import requests

        errors: tuple[type[Exception], ...] = (
            self._oci.exceptions.RequestException,
            self._oci.exceptions.ConnectTimeout,
            requests.exceptions.RequestException,
            ConnectionError,
            TimeoutError,
        )
        try:  # the SDK raises its vendored requests' errors (ConnectionError on a dropped answer)
            from oci._vendor.requests import exceptions as vendored

            errors += (vendored.RequestException,)
        except ImportError:  # pragma: no cover - an SDK without a vendored requests
            pass
        return errors

    def _no_retry(self) -> dict[str, Any]:
        return {"retry_strategy": self._oci.retry.NoneRetryStrategy()}

    def _unknown(self, exc: Exception, op: str, key: str) -> Exception:
        """The error for a conditional call that may or may not have been applied."""
        err = self._fail(exc, op, key)
        if isinstance(err, UnavailableError):
            err.details["outcome_unknown"] = True
        return err

    # ------------------------------------------------------------------ interface

    def get(self, key: str) -> StoredObject:
        k = self._k(key)
        try:
            resp = self.client.get_object(self.namespace, self.bucket, k)
            data = resp.data.content
        except self._oci.exceptions.ServiceError as exc:
            if exc.status == 404 and exc.code != "BucketNotFound":
                raise NotFoundError(
                    f"object {key!r} does not exist in {self.url}", code="object_not_found"
                ) from None
            raise self._fail(exc, "get", key) from None
        except self._transport_errors() as exc:
            raise self._fail(exc, "get", key) from None
        return StoredObject(
            key=key, data=data, etag=resp.headers["etag"], content_type=resp.headers.get("content-type")
        )

    def head(self, key: str) -> ObjectInfo | None:
        k = self._k(key)
        try:
            resp = self.client.head_object(self.namespace, self.bucket, k)
        except self._oci.exceptions.ServiceError as exc:
            if exc.status == 404 and exc.code != "BucketNotFound":
                if self._bucket_missing():  # a HEAD answer has no body to name the missing bucket
                    raise self._fail(
                        self._oci.exceptions.ServiceError(404, "BucketNotFound", {}, ""), "head", key
                    ) from None
                return None
            raise self._fail(exc, "head", key) from None
        except self._transport_errors() as exc:
            raise self._fail(exc, "head", key) from None
        return ObjectInfo(
            key=key,
            etag=resp.headers["etag"],
            size=int(resp.headers.get("content-length", 0)),
            content_type=resp.headers.get("content-type"),
        )

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        prefix = validate_prefix(prefix)
        return self._pages(prefix, start_after)

    def _pages(self, prefix: str, start_after: str | None) -> Iterator[str]:
        kwargs: dict[str, Any] = {"prefix": self.prefix + prefix, "fields": "name", "limit": self.page_size}
        if start_after:
            kwargs["start_after"] = self.prefix + start_after
        n = len(self.prefix)
        while True:
            try:
                resp = self.client.list_objects(self.namespace, self.bucket, **kwargs)
            except self._oci.exceptions.ServiceError as exc:
                raise self._fail(exc, "list", prefix) from None
            except self._transport_errors() as exc:
                raise self._fail(exc, "list", prefix) from None
            for obj in resp.data.objects or ():
                yield obj.name[n:]
            nxt = resp.data.next_start_with
            if not nxt:
                return
            kwargs.pop("start_after", None)
            kwargs["start"] = nxt

    def delete(self, key: str, if_match: str | None = None) -> None:
        k = self._k(key)
        kwargs = {"if_match": if_match, **self._no_retry()} if if_match is not None else {}
        try:
            self.client.delete_object(self.namespace, self.bucket, k, **kwargs)
        except self._oci.exceptions.ServiceError as exc:
            if if_match is not None and (
                exc.status in (409, 412) or (exc.status == 404 and exc.code != "BucketNotFound")
            ):
                raise PreconditionFailedError(
                    f"delete {key!r}: the object changed or is gone (if-match failed)"
                ) from None
            if exc.status == 404 and exc.code != "BucketNotFound":
                raise NotFoundError(
                    f"object {key!r} does not exist in {self.url}", code="object_not_found"
                ) from None
            if if_match is not None and (exc.status >= 500 or exc.status == 429):
                raise self._unknown(exc, "delete", key) from None
            raise self._fail(exc, "delete", key) from None
        except self._transport_errors() as exc:
            if if_match is not None:
                raise self._unknown(exc, "delete", key) from None
            raise self._fail(exc, "delete", key) from None

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
        kwargs: dict[str, Any] = {"content_type": content_type, "content_length": len(data)}
        conditional = if_none_match or if_match is not None
        if if_none_match:
            kwargs["if_none_match"] = "*"
        if if_match is not None:
            kwargs["if_match"] = if_match
        if conditional:
            kwargs.update(self._no_retry())
        try:
            resp = self.client.put_object(self.namespace, self.bucket, self._k(key), data, **kwargs)
        except self._oci.exceptions.ServiceError as exc:
            if conditional and exc.status in (409, 412):
                what = "already exists" if if_none_match else "has changed"
                # one attempt only: a 412 here is never the echo of our own earlier attempt
                raise PreconditionFailedError(
                    f"put {key!r}: the object {what} (conditional write lost)", details={"retried": False}
                ) from None
            if if_match is not None and exc.status == 404 and exc.code != "BucketNotFound":
                raise PreconditionFailedError(
                    f"put {key!r}: the object does not exist (if-match failed)", details={"retried": False}
                ) from None
            if conditional and (exc.status >= 500 or exc.status == 429):
                raise self._unknown(exc, "put", key) from None
            raise self._fail(exc, "put", key) from None
        except self._transport_errors() as exc:
            if conditional:
                raise self._unknown(exc, "put", key) from None
            raise self._fail(exc, "put", key) from None
        return resp.headers["etag"]


def _norm_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    p = prefix.strip("/")
    validate_key(p)
    return p + "/"
