"""Training data from a file, for ``mlops models register``: CSV (stdlib), NPY (numpy), Parquet (if pyarrow).

``read_training_file(path, target=..., feature_names=...)`` returns the feature columns in file
order as ``{name: 1-D array}`` (what ``Registry.register_version`` takes as ``X``) and the
target column (``y``) when ``target`` names one. CSV cells that all parse as integers become
int64, as numbers float64 (an empty cell is NaN), anything else strings (an empty cell is None).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from mlops.errors import BadRequestError, MlopsError, UnprocessableError

MAX_ROWS = 5_000_000


def _typed(name: str, cells: list[str]) -> np.ndarray:
    present = [c for c in cells if c.strip() != ""]
    try:
        ints = [int(c) for c in present]
        if len(present) == len(cells) and present:
            return np.array(ints, dtype=np.int64)
    except ValueError:
        pass
    try:
        [float(c) for c in present]
        if present:
            return np.array([float(c) if c.strip() != "" else math.nan for c in cells], dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(cells), dtype=object)
    for i, c in enumerate(cells):
        out[i] = c if c != "" else None
    return out


def _read_csv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise UnprocessableError(f"{path}: empty file", code="invalid_training_data") from None
        names = [h.strip() for h in header]
        if any(not n for n in names) or len(set(names)) != len(names):
            raise UnprocessableError(
                f"{path}: the header needs distinct, non-empty column names", code="invalid_training_data"
            )
        cols: list[list[str]] = [[] for _ in names]
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names):
                raise UnprocessableError(
                    f"{path}:{lineno}: {len(row)} cells, expected {len(names)}", code="invalid_training_data"
                )
            for i, cell in enumerate(row):
                cols[i].append(cell)
            if lineno > MAX_ROWS:
                raise UnprocessableError(
                    f"{path}: more than {MAX_ROWS} rows; sample it first", code="training_data_too_large"
                )
    return names, {n: _typed(n, c) for n, c in zip(names, cols, strict=True)}


def _read_npy(path: Path, feature_names: list[str] | None) -> tuple[list[str], dict[str, np.ndarray]]:
    arr = np.load(path, allow_pickle=False)
    if arr.dtype.names:
        names = list(arr.dtype.names)
        return names, {n: np.asarray(arr[n]) for n in names}
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise UnprocessableError(
            f"{path}: expected a 2-D array, got {arr.ndim}-D", code="invalid_training_data"
        )
    names = list(feature_names) if feature_names else [f"f{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise UnprocessableError(
            f"{path}: {arr.shape[1]} columns but {len(names)} names", code="feature_names_mismatch"
        )
    return names, {n: arr[:, i] for i, n in enumerate(names)}


def _read_parquet(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BadRequestError(
            "reading Parquet needs pyarrow (pip install pyarrow), or give CSV/NPY", code="parquet_unavailable"
        ) from None
    table = pq.read_table(path)
    names = [str(n) for n in table.column_names]
    return names, {n: np.asarray(table.column(n).to_pylist(), dtype=object) for n in names}


def read_training_file(
    path: str | Path, *, target: str | None = None, feature_names: list[str] | None = None
) -> tuple[dict[str, np.ndarray], Any, list[str]]:
    """(feature columns, target column or None, feature names in order) from a CSV, NPY or Parquet file."""
    p = Path(path)
    if not p.is_file():
        raise BadRequestError(f"training data file {p} does not exist", code="file_not_found")
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".txt", ".npy", ".parquet", ".pq"):
        raise BadRequestError(f"{p.name}: use a .csv, .npy or .parquet file", code="unsupported_data_format")
    try:
        if suffix in (".csv", ".txt"):
            names, cols = _read_csv(p)
        elif suffix == ".npy":
            names, cols = _read_npy(p, feature_names)
        else:
            names, cols = _read_parquet(p)
    except MlopsError:
        raise
    except UnicodeDecodeError as exc:
        raise UnprocessableError(
            f"{p}: not UTF-8 text (byte {exc.start})", code="invalid_training_data"
        ) from None
    except (ValueError, OSError, EOFError, csv.Error, TypeError, IndexError, KeyError) as exc:
        # numpy refuses a pickled or truncated .npy (allow_pickle=False), csv an oversized field, pyarrow a
        # file that is not Parquet: one line naming the file, never a traceback
        raise UnprocessableError(
            f"{p}: cannot read it as {suffix[1:]} ({type(exc).__name__}: {str(exc)[:160]})",
            code="invalid_training_data",
        ) from None
    y = None
    if target is not None:
        if target not in cols:
            raise BadRequestError(
                f"target column {target!r} is not in {p.name} (columns: {', '.join(names[:20])})",
                code="unknown_target",
            )
        y = cols.pop(target)
        names = [n for n in names if n != target]
    if feature_names and suffix != ".npy":
        missing = [n for n in feature_names if n not in cols]
        if missing:
            raise BadRequestError(
                f"feature columns {missing[:10]} are not in {p.name}", code="unknown_feature"
            )
        names = list(feature_names)
    return {n: cols[n] for n in names}, y, names
