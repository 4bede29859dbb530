"""Issue 13 C: the one time parser - 1970..9999 UTC, ISO 8601 or epoch seconds, else 400 invalid_time."""

from __future__ import annotations

import pytest
from mlops.errors import BadRequestError
from mlops.times import parse_epoch, parse_time


@pytest.mark.parametrize(
    "value",
    [
        "inf",
        "-inf",
        "+inf",
        "Infinity",
        "nan",
        "-nan",
        "1e400",
        "1e18",
        "-1",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1969-12-31T23:59:59Z",
        "10000-01-01",
        "",
        "  ",
        "abc",
        "2026-13-45",
        "x" * 100,
        float("inf"),
        float("nan"),
        10**400,
        -5,
        True,
        None,
        [],
        {},
    ],
)
def test_out_of_range_or_garbage_is_400_invalid_time(value):
    with pytest.raises(BadRequestError) as err:
        parse_time(value)
    assert err.value.code == "invalid_time" and err.value.status == 400


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-11-22T17:00:00Z", "2026-11-22T17:00:00.000Z"),
        ("2026-11-22T18:00:00+01:00", "2026-11-22T17:00:00.000Z"),
        ("2026-11-22T17:00:00", "2026-11-22T17:00:00.000Z"),
        ("2026-11-22", "2026-11-22T00:00:00.000Z"),
        ("1795000000", "2026-11-18T11:06:40.000Z"),
        ("1795000000.5", "2026-11-18T11:06:40.500Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59.000Z"),
        ("0001-01-02T00:00:00-14:00", None),
    ],
)
def test_valid_times_at_the_edges(value, expected):
    if expected is None:
        with pytest.raises(BadRequestError):
            parse_time(value)
    else:
        assert parse_time(value) == expected
        assert parse_epoch(value) >= 0
