"""Validation of the fields a caller gives a registry record: actor, free text, tags, params and metrics.

Each check returns the clean value or raises ``BadRequestError`` naming the field; ``public`` is a
stored record as callers see it (without its internal ``write_id``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, overload

from mlops.errors import BadRequestError
from mlops.names import validate_name


@overload
def public(doc: dict[str, Any]) -> dict[str, Any]: ...


@overload
def public(doc: None) -> None: ...


def public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored record without its ``write_id``."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k != "write_id"}


def validate_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor or len(actor) > 256 or any(ord(c) < 0x20 for c in actor):
        raise BadRequestError("actor must be a printable string of 1-256 characters", code="invalid_actor")
    return actor


def check_scalars(
    name: str, value: Any, *, numbers_only: bool = False, max_items: int = 1000
) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{name} must be an object of name -> value", code=f"invalid_{name}")
    if len(value) > max_items:
        raise BadRequestError(f"{name} has more than {max_items} entries", code=f"invalid_{name}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or len(k) > 256:
            raise BadRequestError(f"{name} keys must be strings of 1-256 characters", code=f"invalid_{name}")
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            v = v.item()  # numpy scalars
        if numbers_only:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise BadRequestError(f"{name}[{k!r}] must be a finite number", code=f"invalid_{name}")
        elif v is not None and not isinstance(v, (str, int, float, bool)):
            raise BadRequestError(
                f"{name}[{k!r}] must be a string, number, boolean or null", code=f"invalid_{name}"
            )
        elif isinstance(v, float) and not math.isfinite(v):
            raise BadRequestError(f"{name}[{k!r}] must be finite", code=f"invalid_{name}")
        out[k] = v
    return out


def check_tags(tags: Any) -> dict[str, str]:
    out = check_scalars("tags", tags, max_items=100)
    for k, v in out.items():
        validate_name(k, "tag")
        if not isinstance(v, str) or len(v) > 1024:
            raise BadRequestError(
                f"tags[{k!r}] must be a string of at most 1024 characters", code="invalid_tags"
            )
    return out


def check_text(name: str, value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequestError(
            f"{name} must be a string of at most {limit} characters", code=f"invalid_{name}"
        )
    return value
