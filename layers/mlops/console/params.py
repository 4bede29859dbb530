"""Query-parameter parsing for the console routes: every bad value is a 400 with a code and a message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from mlops import times
from mlops.errors import BadRequestError
from mlops.http import Request
from mlops.names import validate_endpoint_name, validate_name, validate_version

T = TypeVar("T")


def required(request: Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise BadRequestError(f"query parameter {name} is required", code="missing_query")
    return value


def integer(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise BadRequestError(f"query parameter {name} must be an integer", code="invalid_query") from None
    if not lo <= value <= hi:
        raise BadRequestError(f"query parameter {name} must be {lo}..{hi}", code="invalid_query")
    return value


def choice(request: Request, name: str, options: Sequence[str], default: str) -> str:
    value = request.query.get(name) or default
    if value not in options:
        raise BadRequestError(
            f"query parameter {name} must be one of {', '.join(options)}", code="invalid_query"
        )
    return value


def time_param(request: Request, name: str) -> str | None:
    """An ISO-8601 time (or epoch seconds), normalised; 400 ``invalid_query`` if it is not one."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return times.parse_time(raw, name)
    except Exception:
        raise BadRequestError(
            f"query parameter {name} must be an ISO-8601 time or epoch seconds", code="invalid_query"
        ) from None


def _named(value: str, what: str, check: Callable[[str], T]) -> T:
    try:
        return check(value)
    except Exception as exc:
        raise BadRequestError(f"query parameter {what}: {exc}", code="invalid_query") from None


def model_param(request: Request, name: str = "model", *, need: bool = False) -> str | None:
    value = required(request, name) if need else request.query.get(name)
    return _named(value, name, lambda v: validate_name(v, "model")) if value else None


def endpoint_param(request: Request, name: str = "endpoint", *, need: bool = False) -> str | None:
    value = required(request, name) if need else request.query.get(name)
    return _named(value, name, validate_endpoint_name) if value else None


def version_param(request: Request, name: str) -> int:
    return _named(required(request, name), name, validate_version)
