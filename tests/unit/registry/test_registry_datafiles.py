"""Training data files for ``mlops models register``: CSV typing, NPY, Parquet when available."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlops.errors import BadRequestError, UnprocessableError
from mlops.registry.datafiles import read_training_file


def test_csv_columns_are_typed(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("age,plan,score,label\n30,basic,0.5,1\n41,pro,,0\n52,,1e-3,1\n")
    X, y, names = read_training_file(p, target="label")
    assert names == ["age", "plan", "score"]
    assert X["age"].dtype == np.int64 and X["age"].tolist() == [30, 41, 52]
    assert X["plan"].tolist() == ["basic", "pro", None]
    assert X["score"].dtype == np.float64 and math.isnan(X["score"][1])
    assert y.tolist() == [1, 0, 1]


def test_csv_errors_name_the_line(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n3\n")
    with pytest.raises(UnprocessableError) as e:
        read_training_file(p)
    assert "d.csv:3" in e.value.message
    p.write_text("a,a\n1,2\n")
    with pytest.raises(UnprocessableError):
        read_training_file(p)
    with pytest.raises(BadRequestError):
        read_training_file(tmp_path / "missing.csv")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(BadRequestError):
        read_training_file(tmp_path / "d.xlsx")


def test_npy_with_names_and_a_target(tmp_path):
    arr = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "d.npy", arr)
    X, y, names = read_training_file(tmp_path / "d.npy", feature_names=["a", "b", "label"], target="label")
    assert names == ["a", "b"] and y.tolist() == [2.0, 5.0, 8.0, 11.0]
    X, y, names = read_training_file(tmp_path / "d.npy")
    assert names == ["f0", "f1", "f2"] and y is None
    with pytest.raises(UnprocessableError):
        read_training_file(tmp_path / "d.npy", feature_names=["a"])


def test_parquet_reads_with_pyarrow_or_says_what_is_missing(tmp_path):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        (tmp_path / "d.parquet").write_bytes(b"PAR1")
        with pytest.raises(BadRequestError) as e:
            read_training_file(tmp_path / "d.parquet")
        assert "pyarrow" in e.value.message
        return
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": [0, 1]}), tmp_path / "d.parquet")
    X, y, names = read_training_file(tmp_path / "d.parquet", target="y")
    assert names == ["a"] and list(y) == [0, 1]
