"""Issue 13 C: the one JSON body parser every route uses - depth, numbers, encoding, media type - in 4xx only."""

from __future__ import annotations

import json

import pytest
from mlops.errors import BadRequestError, UnsupportedMediaTypeError
from mlops.http import Request
from mlops.jsonbody import MAX_DEPTH, check_media_type, depth_exceeds, parse_json


def code_of(body) -> str:
    with pytest.raises(BadRequestError) as err:
        parse_json(body)
    return err.value.code


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"[" * 5000,
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b'{"instances": ' + b"[" * 100_000 + b"}",
    ],
)
def test_deep_nesting_is_refused_before_the_parser_recurses(body):
    assert code_of(body) == "json_too_deep"


def test_depth_is_exact_at_the_limit_and_ignores_brackets_in_strings():
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(at_limit) is not None
    in_strings = json.dumps({"s": "[" * 10_000, "t": '\\"[[[' * 100, "u": [1, 2]}).encode()
    assert not depth_exceeds(in_strings)
    assert parse_json(in_strings)["u"] == [1, 2]


def test_an_unterminated_escape_chain_is_scanned_in_linear_time():
    # '"\"\"\"...' never closes; a scanner that restarts at every quote would be quadratic (minutes at 6 MB)
    assert code_of(b'"\\"' * 2_000_000) == "invalid_json"


@pytest.mark.parametrize(
    "raw",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1E+309",
        "1" * 21,
        "-" + "1" * 21,
        "1" * 5000,
        "1" * 400 + ".0",
    ],
)
def test_numbers_json_cannot_carry_are_400_invalid_number(raw):
    assert code_of(b'{"x": [1, ' + raw.encode() + b"]}") == "invalid_number"


def test_ordinary_numbers_pass():
    doc = parse_json(
        b'{"a": 12345678901234567890, "b": -12345678901234567890, "c": 1e-400, "d": 1.5e300, '
        b'"e": 0.1234567890123456789012345}'
    )
    assert doc["a"] == 12345678901234567890 and doc["c"] == 0.0 and doc["d"] == 1.5e300


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b'{"a": "\xc3\x28"}', b'["\\ud800"]', b'{"\\udfff": 1}'])
def test_text_that_is_not_utf8_is_400_invalid_encoding(body):
    assert code_of(body) == "invalid_encoding"


def test_a_surrogate_pair_is_one_character():
    assert parse_json(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


@pytest.mark.parametrize(
    "ct",
    [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/json",
        "garbage",
    ],
)
def test_a_declared_non_json_media_type_is_415(ct):
    with pytest.raises(UnsupportedMediaTypeError) as err:
        Request.from_url("POST", "/v1/models", {"Content-Type": ct}, b"{}").json()
    assert err.value.status == 415 and err.value.code == "unsupported_media_type"


@pytest.mark.parametrize(
    "ct",
    [
        None,
        "",
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/cloudevents+json",
        "application/octet-stream",
    ],
)
def test_json_or_an_undeclared_type_is_accepted(ct):
    """application/octet-stream is what the Fn platform puts on an invoke when the caller declared no type."""
    check_media_type(ct)
    headers = {"Content-Type": ct} if ct is not None else {}
    assert Request.from_url("POST", "/v1/models", headers, b'{"a": 1}').json() == {"a": 1}
