"""One error family for every service, function, the gateway and the CLI.

Services raise these; one renderer turns them into
``{"error": {"code", "message", "request_id"}}`` with the HTTP status that the fdk
carries in ``fn-http-status`` and API Gateway puts on the wire. The CLI turns the
same errors into a one-line message and a non-zero exit code.
"""

from __future__ import annotations

import json
import uuid
from typing import Any


class MlopsError(Exception):
    """Base of every error a person may see. ``status`` is HTTP, ``code`` is stable."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_body(self, request_id: str | None = None) -> dict[str, Any]:
        return error_body(self.code, self.message, request_id, self.details)


class BadRequestError(MlopsError, ValueError):
    status, code = 400, "bad_request"


class InvalidNameError(BadRequestError):
    code = "invalid_name"


class UnauthorizedError(MlopsError, PermissionError):
    status, code = 401, "unauthorized"


class ForbiddenError(MlopsError, PermissionError):
    status, code = 403, "forbidden"


class NotFoundError(MlopsError, LookupError):
    status, code = 404, "not_found"


class MethodNotAllowedError(MlopsError):
    status, code = 405, "method_not_allowed"


class ConflictError(MlopsError):
    status, code = 409, "conflict"


class PreconditionFailedError(ConflictError):
    """A compare-and-swap write lost the race (etag changed or object exists)."""

    status, code = 412, "precondition_failed"


class PayloadTooLargeError(MlopsError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaTypeError(MlopsError):
    status, code = 415, "unsupported_media_type"


class UnprocessableError(MlopsError, ValueError):
    status, code = 422, "unprocessable"


class RateLimitedError(MlopsError):
    status, code = 429, "rate_limited"


class InternalError(MlopsError):
    status, code = 500, "internal_error"


class BadGatewayError(MlopsError):
    status, code = 502, "bad_gateway"


class UnavailableError(MlopsError):
    status, code = 503, "unavailable"


class DeadlineError(MlopsError, TimeoutError):
    status, code = 504, "deadline_exceeded"


class ConfigError(MlopsError, ValueError):
    """Settings or config that cannot be used; the message names the bad key."""

    status, code = 500, "config_error"


class IntegrityError(MlopsError):
    """Stored data failed verification (sha256 mismatch, broken hash chain, corrupt JSON)."""

    status, code = 500, "integrity_error"


def new_request_id() -> str:
    return uuid.uuid4().hex


def error_body(
    code: str, message: str, request_id: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "request_id": request_id or new_request_id()}
    if details:
        err["details"] = details
    return {"error": err}


def render(exc: BaseException, request_id: str | None = None) -> tuple[int, bytes]:
    """(status, JSON body) for any exception; unknown ones leak nothing but a generic 500."""
    if isinstance(exc, MlopsError):
        status, body = exc.status, exc.to_body(request_id)
    else:
        status = 500
        body = error_body(
            "internal_error", "internal error; see the function log for this request_id", request_id
        )
    return status, json.dumps(body, separators=(",", ":")).encode()
