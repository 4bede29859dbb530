"""One encoder for every header field the local gateway writes, to a function or to a client.

Rules (issue 13 D):

- A value never carries a control character: CR, LF, NUL and the other C0 controls
  (except HTAB) and DEL are refused (RFC 9110 §5.5: field-value is VCHAR, SP, HTAB and
  obs-text). A value containing them is refused, never stripped: stripping would turn
  ``evil\\r\\nX-Mlops-Scopes: deploy`` into a different, still attacker-chosen, value.
- Non-ASCII text is written as its UTF-8 bytes. Why not percent-encoding: the fdk
  decodes header values as UTF-8 (``fdk/async_http/protocol.py``: ``value.decode()``,
  latin-1 only as a fallback) and writes its response headers as UTF-8
  (``fdk/async_http/response.py``), so UTF-8 gives a function exactly the string the
  authorizer or the client meant (``张三`` stays ``张三``), while percent-encoding would
  hand it ``%E5%BC%A0...`` and make ``%`` ambiguous for every value that already has one.
- Values that came in as bytes from a function travel back to the client unchanged:
  they are decoded with ``surrogateescape``, which the encoder reverses byte for byte.
- Names are RFC 9110 tokens; anything else is refused.
- Client request header values must be valid UTF-8 without control characters, else the
  request is refused with 400 ``invalid_header_value`` (llhttp already refuses CR, LF
  and other controls on the wire; this adds the UTF-8 rule the fdk relies on).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from mlops.errors import BadRequestError

_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class HeaderValueError(BadRequestError):
    """A header value (or name) that must not be written: 400 ``invalid_header_value``."""

    code = "invalid_header_value"


@functools.lru_cache(maxsize=4096)
def encode_name(name: str) -> bytes:
    """A header name as bytes; refused unless it is an RFC 9110 token. Cached: names repeat."""
    if not _TOKEN.fullmatch(name):
        raise HeaderValueError(
            f"header name {name[:64]!r} is not a valid HTTP token", code="invalid_header_name"
        )
    return name.encode("ascii")


def encode_value(name: str, value: str) -> bytes:
    """A header value as bytes: UTF-8 (surrogateescape), refusing every control character."""
    if not (value.isascii() and value.isprintable()):  # the fast path covers almost every value
        m = _CTL.search(value)
        if m is not None:
            raise HeaderValueError(
                f"the value of header {name[:64]} contains the control character "
                f"{m.group()!r}; header values may not contain CR, LF or other controls"
            )
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate (e.g. from JSON "\ud800") has no UTF-8 form
        raise HeaderValueError(f"the value of header {name[:64]} is not valid Unicode text") from None


def encode_field(name: str, value: str) -> bytes:
    """``Name: value\\r\\n`` for one header field."""
    return encode_name(name) + b": " + encode_value(name, value) + b"\r\n"


def _join_checked(fields: list[tuple[str, str]]) -> str:
    """``Name: value\r\n...`` as one string after one check of the whole block (the hot path).

    The block may hold no control character but the CR LF that end each field, and exactly
    one of those per field, so neither a value nor a name can start a line of its own.
    Anything else goes through the per-field encoder, which checks names as tokens and names
    the culprit. (Names are tokens where they come from: the spec, checked at load time;
    clients and functions, whose names llhttp has parsed as tokens.)
    """
    block = "".join([f"{k}: {v}\r\n" for k, v in fields])
    # one CR LF per field and nothing unprintable once those are gone (a CR or LF of a value
    # either adds a CR LF pair or stays behind, unprintable; TAB and some Unicode spaces take
    # the careful path, which allows them)
    if block.count("\r\n") != len(fields) or not block.replace("\r\n", "").isprintable():
        for k, v in fields:
            encode_name(k)
            encode_value(k, v)  # raises HeaderValueError for the first bad value
    return block


def encode_fields(fields: Iterable[tuple[str, str]]) -> bytes:
    """Many header fields, each under the one encoder's rules, as bytes."""
    fields = fields if isinstance(fields, list) else list(fields)
    block = _join_checked(fields)
    if block.isascii():
        return block.encode("ascii")
    try:
        return block.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        for k, v in fields:
            encode_value(k, v)
        raise


def check_fields(fields: Iterable[tuple[str, str]]) -> None:
    """Raise ``HeaderValueError`` unless every field may be written (same rules as ``encode_fields``)."""
    encode_fields(fields)


def check_value(name: str, value: str) -> str:
    """``value`` if it may be written as the value of ``name``; raises ``HeaderValueError`` otherwise."""
    encode_value(name, value)
    return value


def decode_client_value(name: bytes, raw: bytes) -> str:
    """A client's request header value: valid UTF-8 without control characters, else 400."""
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderValueError(
            f"the value of header {name[:64].decode('latin-1')} is not valid UTF-8"
        ) from None
    if not (value.isascii() and value.isprintable()) and _CTL.search(value):
        raise HeaderValueError(
            f"the value of header {name[:64].decode('latin-1')} contains a control character"
        )
    return value


def decode_upstream_value(raw: bytes) -> str:
    """A header value from a function's answer, kept byte for byte (``encode_value`` restores it)."""
    return raw.decode("utf-8", "surrogateescape")
