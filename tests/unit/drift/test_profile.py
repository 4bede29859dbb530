"""Reference profiles: JSON round trip, deterministic subsampling, missing values, category keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.drift import build_reference_profile, load_profile
from mlops.drift.profile import category_key, count_categories
from mlops.errors import BadRequestError, UnprocessableError


def _columns(n: int = 5_000, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[:7] = np.nan
    x[7] = np.inf
    cols = {
        "x": x,
        "k": rng.integers(0, 4, size=n),
        "c": rng.choice(np.array(["a", "b", "c"]), size=n),
        "o": np.array([None, "u", 1, 2.0, True] * (n // 5), dtype=object),
    }
    kinds = {"x": "numeric", "k": "categorical", "c": "categorical", "o": "categorical"}
    return cols, kinds


def test_profile_is_strict_json_and_round_trips_exactly():
    cols, kinds = _columns()
    prof = build_reference_profile(cols, kinds)
    text = json.dumps(prof, allow_nan=False)  # no numpy types, no NaN
    back = load_profile(json.loads(text))
    x = cols["x"][np.isfinite(cols["x"])]
    ref = back.features["x"]
    assert np.array_equal(ref.sample, np.sort(x))  # floats survive JSON bit for bit
    assert (ref.n, ref.n_missing) == (x.shape[0], 8)
    assert ref.bin_edges.shape[0] == 9 and ref.bin_fractions.sum() == pytest.approx(1.0)
    assert ref.std == pytest.approx(x.std()) and ref.mean == pytest.approx(x.mean())
    assert back.names == ["x", "k", "c", "o"]
    assert back.to_dict() == json.loads(text)


def test_numeric_sample_is_subsampled_deterministically_and_keeps_n():
    x = np.random.default_rng(1).normal(size=20_000)
    a = build_reference_profile({"x": x}, {"x": "numeric"}, max_sample=1_000, seed=3)
    b = build_reference_profile({"x": x}, {"x": "numeric"}, max_sample=1_000, seed=3)
    c = build_reference_profile({"x": x}, {"x": "numeric"}, max_sample=1_000, seed=4)
    fa = a["features"]["x"]
    assert fa["sample"] == b["features"]["x"]["sample"] != c["features"]["x"]["sample"]
    assert len(fa["sample"]) == 1_000 and fa["n"] == 20_000
    assert fa["sample"] == sorted(fa["sample"]) and set(fa["sample"]) <= set(x.tolist())
    assert fa["min"] == float(x.min()) and fa["max"] == float(x.max())  # from all data


def test_bin_edges_are_deduplicated_for_discrete_data():
    x = np.array([0.0] * 900 + [1.0] * 100)
    f = build_reference_profile({"x": x}, {"x": "numeric"})["features"]["x"]
    assert f["bin_edges"] == [0.5] and f["bin_fractions"] == [
        0.9,
        0.1,
    ]  # halfway between 0 and 1 (issue 13 H)


def test_all_missing_numeric_column_has_null_statistics():
    f = build_reference_profile({"x": np.full(10, np.nan)}, {"x": "numeric"})["features"]["x"]
    assert f["n"] == 0 and f["n_missing"] == 10 and f["sample"] == []
    assert f["mean"] is None and f["std"] is None
    assert load_profile(build_reference_profile({"x": np.full(10, np.nan)}, {"x": "numeric"}))


def test_category_keys_are_canonical_strings():
    assert [category_key(v) for v in ("a", 1, 1.0, np.int64(2), True, 1.5, None, float("nan"))] == [
        "a",
        "1",
        "1",
        "2",
        "true",
        "1.5",
        None,
        None,
    ]
    counts, missing = count_categories(np.array([1.0, 1.0, 2.0, np.nan]))
    assert counts == {"1": 2, "2": 1} and missing == 1
    counts, missing = count_categories(np.array(["x", None, 3], dtype=object))
    assert counts == {"x": 1, "3": 1} and missing == 1


def test_categorical_profile_counts():
    cols, kinds = _columns(n=100)
    f = build_reference_profile(cols, kinds)["features"]["o"]
    assert f["categories"] == ["1", "2", "true", "u"] and f["counts"] == [20, 20, 20, 20]
    assert f["n_missing"] == 20


def test_bad_input_is_rejected_with_the_error_family():
    with pytest.raises(BadRequestError):
        build_reference_profile({"x": np.zeros(3)}, {"x": "text"})
    with pytest.raises(UnprocessableError):
        build_reference_profile({}, {"x": "numeric"})
    with pytest.raises(UnprocessableError):
        load_profile({"format": "something else"})
    bad = build_reference_profile({"x": np.arange(5.0)}, {"x": "numeric"})
    bad["features"]["x"]["sample"] = [3.0, 1.0]
    with pytest.raises(UnprocessableError):
        load_profile(bad)
