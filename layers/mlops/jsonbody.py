"""Request bodies as JSON, with the limits every route shares: media type, encoding, depth and numbers.

One parser for every function route (registry, inference, drift), so a body that one route refuses
is refused the same way by all of them, always with a 4xx and an error code:

- ``415 unsupported_media_type``: a declared Content-Type that is not JSON (``text/plain``,
  ``application/xml``, a form). No Content-Type, or ``application/octet-stream`` (what the Fn
  platform puts on an invoke when the caller declared none), counts as undeclared and is accepted.
- ``400 invalid_encoding``: the body is not UTF-8 (RFC 8259 section 8.1), or a string holds a lone
  UTF-16 surrogate escape (``"\\ud800"``) that no UTF-8 text can carry.
- ``400 json_too_deep``: arrays/objects nested deeper than ``MAX_DEPTH``. The depth is measured on the
  raw bytes before parsing, without recursion, so a 5,000-deep body never reaches the recursive parser.
- ``400 invalid_number``: an integer with more than ``MAX_INT_DIGITS`` digits, ``NaN``,
  ``Infinity``, or a number that overflows a double (``1e400``).
- ``400 invalid_json``: anything else the parser rejects.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

from mlops.errors import BadRequestError, UnsupportedMediaTypeError

MAX_DEPTH = 64
MAX_INT_DIGITS = 20  # 2**64 has 20 digits; nothing this project stores needs more

# Escape pairs, then everything but brackets and quotes, then strings: what is left is the nesting. Each step is
# a C-speed bytes operation or a regex that starts with a literal, so the scan is linear and cheap for any body
# (an unterminated string runs to the end, ``\Z``: nothing is ever rescanned).
_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*(?:"|\Z)')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Numbers as shapes: digits -> 0, exponent -> e, sign -> +, anything else -> space. Only an exponent of 3+ digits
# can overflow a double and only a run of 21+ digits can exceed MAX_INT_DIGITS (or overflow without exponent).
_NUMBER_SHAPES = bytes(
    48 if 48 <= b <= 57 else 101 if b in b"eE" else 43 if b in b"+-" else 32 for b in range(256)
)
_UNDECLARED = ("", "application/octet-stream")


def check_media_type(content_type: str | None) -> None:
    """Refuse a declared Content-Type that is not JSON (``application/json`` or ``application/*+json``)."""
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _UNDECLARED or media == "application/json":
        return
    if media.startswith("application/") and media.endswith("+json"):
        return
    raise UnsupportedMediaTypeError(
        f"Content-Type {media[:80]!r} is not JSON; send the body as application/json",
        details={"content_type": media[:80]},
    )


def depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays/objects in ``body`` nest deeper than ``limit`` (strings skipped; no recursion).

    A byte-level scan is exact for UTF-8: quote, backslash and brackets never occur inside a multi-byte
    sequence. Invalid JSON may be over-counted, which only changes which 400 it gets.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    import numpy as np  # only for bodies with many brackets; every function image has numpy

    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    stripped = _STRING.sub(b"", body.translate(None, _NOT_STRUCTURE))
    steps = _steps()[np.frombuffer(stripped, dtype=np.uint8)]
    return bool(steps.size) and int(np.cumsum(steps, dtype=np.int64).max()) > limit


@functools.cache
def _steps():
    """+1 for an opening bracket, -1 for a closing one, 0 for any other byte."""
    import numpy as np

    t = np.zeros(256, dtype=np.int8)
    t[ord("[")] = t[ord("{")] = 1
    t[ord("]")] = t[ord("}")] = -1
    return t


def _needs_number_hooks(raw: bytes) -> bool:
    shapes = raw.translate(_NUMBER_SHAPES)
    return b"e000" in shapes or b"e+000" in shapes or b"0" * (MAX_INT_DIGITS + 1) in shapes


def _parse_int(text: str) -> int:
    if len(text) - (text[0] == "-") > MAX_INT_DIGITS:
        raise BadRequestError(
            f"the body has an integer with {len(text.lstrip('-'))} digits; at most "
            f"{MAX_INT_DIGITS} are accepted",
            code="invalid_number",
        )
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BadRequestError(
            f"the body has a number too large for a double ({text[:40]})", code="invalid_number"
        )
    return value


def _parse_constant(name: str) -> Any:
    raise BadRequestError(
        f"the body has {name}, which is not a JSON number; send a finite number or null",
        code="invalid_number",
    )


def _check_strings(doc: Any) -> None:
    """Every string (and key) must be encodable as UTF-8: no lone surrogates. Iterative."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequestError(
                    "the body has a string with a lone UTF-16 surrogate escape (\\ud800-\\udfff)",
                    code="invalid_encoding",
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(body: bytes | bytearray | str) -> Any:
    """Parse a request body under the limits above; every failure is a ``BadRequestError`` with a code."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if depth_exceeds(raw):
        raise BadRequestError(
            f"the body nests arrays/objects deeper than {MAX_DEPTH} levels", code="json_too_deep"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(
            f"the body is not UTF-8 (byte {exc.start}); JSON must be UTF-8", code="invalid_encoding"
        ) from None
    try:
        if _needs_number_hooks(raw):
            doc = json.loads(
                text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
            )
        else:  # no exponent and no 21-digit run: every number is a small int or a finite float (C fast path)
            doc = json.loads(text, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if _SURROGATE_ESCAPE.search(raw):
        _check_strings(doc)
    return doc
