"""The one parser for times a person or a client gives (query parameters, CLI flags, JSON fields).

Accepted: ISO 8601 (``2026-11-22T17:00:00Z``, any UTC offset, fractional seconds, or a date, which
means midnight UTC; no offset means UTC) or epoch seconds (``1795000000``, ``1795000000.5``), from
1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z in UTC. Anything else (``inf``, ``nan``, ``1e400``,
``1e18``, a year that leaves that range once its offset is applied) is a ``400 invalid_time`` that
names the value, never an OverflowError.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from mlops.errors import BadRequestError

MIN_EPOCH = 0.0  # 1970-01-01T00:00:00Z
MAX_EPOCH = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()
MAX_TEXT = 64  # longer than any ISO 8601 time
RANGE_TEXT = "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"
FORMATS_TEXT = "ISO 8601 (e.g. 2026-11-22T17:00:00Z) or epoch seconds"


def _bad(value: Any, why: str, what: str) -> BadRequestError:
    shown = repr(value)[:60] if not isinstance(value, str) else repr(value[:60])
    return BadRequestError(f"{what} {shown} {why}", code="invalid_time")


def _in_range(ts: float, value: Any, what: str) -> float:
    if not math.isfinite(ts) or not MIN_EPOCH <= ts <= MAX_EPOCH:
        raise _bad(value, f"is outside {RANGE_TEXT}", what)
    return ts


def parse_epoch(value: Any, what: str = "time") -> float:
    """A time as epoch seconds (see the module docstring); ``BadRequestError(invalid_time)`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            ts = float(value)
        except OverflowError:  # an int too large for a float
            raise _bad(value, f"is outside {RANGE_TEXT}", what) from None
        return _in_range(ts, value, what)
    if isinstance(value, datetime):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _in_range(dt.timestamp(), value, what)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"a {what} is required: {FORMATS_TEXT}", code="invalid_time")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise _bad(value, f"is not a time: use {FORMATS_TEXT}", what)
    if text[:1].isdigit() or text[:1] in "+-.":
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:
            return _in_range(number, value, what)
    elif text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise _bad(value, f"is outside {RANGE_TEXT}", what)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(value, f"is not a time: use {FORMATS_TEXT}", what) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        ts = dt.timestamp()
    except (OverflowError, ValueError, OSError):  # pragma: no cover - platform dependent
        raise _bad(value, f"is outside {RANGE_TEXT}", what) from None
    return _in_range(ts, value, what)


def iso(ts: float) -> str:
    """Epoch seconds -> ``2026-11-22T17:00:00.123Z`` (fixed width, so strings sort by time)."""
    ms = math.floor(ts * 1000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_time(value: Any, what: str = "time") -> str:
    """A time (see the module docstring) as the canonical ``iso`` string."""
    return iso(parse_epoch(value, what))
