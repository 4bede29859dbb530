"""The explanation background stored at registration: at most 100 seeded training rows, by sha256, numeric only."""

from __future__ import annotations

import numpy as np
import pytest
from mlops.registry import Registry
from mlops.registry.artifacts import fetch_verified
from mlops.serving.sampling_shap import background_from_npz
from mlops.storage import FileStore
from sklearn.linear_model import LogisticRegression

RNG = np.random.default_rng(5)


@pytest.fixture
def reg(tmp_path):
    return Registry(FileStore(str(tmp_path / "store")), actor="alice")


def test_a_seeded_sample_of_at_most_100_training_rows_verified_by_sha256(reg):
    X = RNG.normal(size=(500, 3))
    y = (X[:, 0] > 0).astype(int)
    a = reg.register_version("m", LogisticRegression().fit(X, y), X, y, feature_names=["a", "b", "c"])
    ref = a["explain_background"]
    assert ref["rows"] == 100 and ref["format"] == "mlops-background/1"
    rows, names = background_from_npz(fetch_verified(reg.store, ref["sha256"], size=ref["size"]))
    assert names == ["a", "b", "c"] and rows.shape == (100, 3)
    assert all((X == r).all(axis=1).any() for r in rows)  # training rows, unaltered
    assert len({tuple(r) for r in rows}) == 100  # drawn without replacement
    b = reg.register_version("m", LogisticRegression().fit(X, y), X, y, feature_names=["a", "b", "c"])
    assert b["explain_background"]["sha256"] == ref["sha256"]  # seeded: the same frame, the same sample


def test_a_small_frame_is_stored_whole_and_no_frame_or_text_features_store_none(reg):
    X = RNG.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    small = reg.register_version("s", LogisticRegression().fit(X, y), X, y)
    assert small["explain_background"]["rows"] == 30
    sig = {"inputs": [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "float64"}]}
    bare = reg.register_version("s", LogisticRegression().fit(X, y), signature=sig)
    assert bare["explain_background"] is None
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    plans = np.array(["x", "y"] * 15)
    Xo = np.empty((30, 2), dtype=object)
    Xo[:, 0], Xo[:, 1] = plans, X[:, 1]
    model = make_pipeline(
        ColumnTransformer([("plan", OneHotEncoder(), [0])], remainder="passthrough"), LogisticRegression()
    ).fit(Xo, y)
    text = reg.register_version("t", model, {"plan": plans, "b": X[:, 1]}, y)
    assert text["signature"]["inputs"][0]["dtype"] == "str"
    assert text["explain_background"] is None
