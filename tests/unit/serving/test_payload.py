"""Scoring payloads: every accepted shape gives the same rows; every bad one a 4xx naming the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.errors import BadRequestError, MlopsError, PayloadTooLargeError, UnprocessableError
from mlops.serving.payload import Signature, parse_payload

SIG = Signature(("a", "b", "c"), ("float64",) * 3)
ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]


def parse(doc, max_batch=100):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return parse_payload(body, SIG, max_batch)[0]


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": ROWS},
        {"instances": [{"a": 1, "b": 2, "c": 3}, {"c": 6.5, "b": 5, "a": 4}]},
        {"inputs": {"a": [1, 4], "b": [2, 5], "c": [3, 6.5]}},
        {"inputs": ROWS},
        {"dataframe_split": {"columns": ["a", "b", "c"], "data": ROWS}},
        {"dataframe_split": {"columns": ["c", "a", "b"], "data": [[3, 1, 2], [6.5, 4, 5]]}},
        {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6.5}]},
    ],
)
def test_every_shape_gives_the_same_rows_in_signature_order(doc):
    X = parse(doc)
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X, np.array(ROWS))


def test_one_row_as_named_inputs():
    np.testing.assert_array_equal(parse({"inputs": {"a": 1, "b": 2, "c": 3}}), [[1, 2, 3]])


@pytest.mark.parametrize(
    "doc,code,needle",
    [
        ({"instances": [[1, 2]]}, "wrong_width", "instances[0]"),
        ({"instances": [[1, 2, "x"]]}, "invalid_type", "feature 'c'"),
        ({"instances": [[1, None, 3]]}, "missing_value", "feature 'b'"),
        ({"instances": [{"a": 1, "b": 2}]}, "missing_feature", "'c'"),
        ({"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}, "unknown_feature", "'d'"),
        ({"dataframe_split": {"columns": ["a", "b", "z"], "data": [[1, 2, 3]]}}, "unknown_feature", "'z'"),
        ({"instances": []}, "empty_batch", "no rows"),
        ({"rows": [[1, 2, 3]]}, "invalid_shape", "exactly one of"),
        ([[1, 2, 3]], "invalid_shape", "JSON object"),
        ({"inputs": {"a": [1, 2], "b": [1], "c": [1, 2]}}, "ragged_columns", "same length"),
    ],
)
def test_bad_payloads_are_422_naming_the_row_and_field(doc, code, needle):
    with pytest.raises(UnprocessableError) as ei:
        parse(doc)
    assert ei.value.code == code and ei.value.status == 422
    assert needle in ei.value.message


def test_not_json_is_400_and_too_many_rows_413():
    with pytest.raises(BadRequestError):
        parse(b"{not json")
    with pytest.raises(PayloadTooLargeError):
        parse({"instances": ROWS * 51}, max_batch=100)


def test_nan_and_infinity_are_refused():
    """NaN, Infinity and 1e400 are refused by the parser every route shares (issue 13 C): 400 invalid_number."""
    for body in (
        b'{"instances": [[1, 2, NaN]]}',
        b'{"instances": [[1, 2, Infinity]]}',
        b'{"instances": [[1, 2, 1e400]]}',
    ):
        with pytest.raises(BadRequestError) as err:
            parse(body)
        assert err.value.code == "invalid_number"


def test_fuzzed_bodies_never_escape_the_error_family():
    rng = np.random.default_rng(7)
    atoms = [None, True, "x", 1, 1.5, [], {}, [1, 2, 3], {"a": 1}, "NaN", -0.0, 10**400]
    for i in range(400):
        shape = rng.integers(0, 5)
        if shape == 0:
            doc = {"instances": [[atoms[rng.integers(len(atoms))] for _ in range(rng.integers(0, 5))]]}
        elif shape == 1:
            doc = {
                "inputs": {
                    k: atoms[rng.integers(len(atoms))] for k in ("a", "b", "c", "d")[: rng.integers(1, 5)]
                }
            }
        elif shape == 2:
            doc = {
                "dataframe_split": {
                    "columns": atoms[rng.integers(len(atoms))],
                    "data": atoms[rng.integers(len(atoms))],
                }
            }
        elif shape == 3:
            doc = {"dataframe_records": atoms[rng.integers(len(atoms))]}
        else:
            doc = json.dumps({"instances": [[1, 2, 3]]}).encode()[: rng.integers(0, 25)]
        try:
            parse(doc)
        except MlopsError as exc:
            assert 400 <= exc.status < 500, (i, doc, exc)


def test_booleans_only_where_the_signature_says_bool():
    with pytest.raises(UnprocessableError, match="boolean"):
        parse({"instances": [[1, True, 3]]})
    sig = Signature(("a", "flag"), ("float64", "bool"))
    X, _ = parse_payload(b'{"instances": [[1.5, true]]}', sig, 10)
    np.testing.assert_array_equal(X, [[1.5, 1.0]])


def test_categorical_string_features_make_an_object_array():
    sig = Signature(("plan", "age"), ("str", "float64"))
    X, _ = parse_payload(b'{"instances": [["gold", 41], ["basic", 30.5]]}', sig, 10)
    assert X.dtype == object and X[0, 0] == "gold" and X[1, 1] == 30.5
    X, _ = parse_payload(b'{"dataframe_records": [{"age": 1, "plan": "gold"}]}', sig, 10)
    assert X.tolist() == [["gold", 1.0]]
    with pytest.raises(UnprocessableError, match="expected a string"):
        parse_payload(b'{"instances": [[null, 41]]}', sig, 10)
    with pytest.raises(UnprocessableError, match="expected a number"):
        parse_payload(b'{"instances": [["gold", "old"]]}', sig, 10)
