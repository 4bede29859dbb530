"""Reference profiles: what drift detection keeps of the training data, computed once at registration.

A profile is a plain JSON document (lists, floats, ints, strings; no numpy types) stored with a
model version. ``build_reference_profile`` makes it; ``load_profile`` turns it back into arrays
once, so that every later window only sorts and counts its own data.

Profile shape (``format`` = ``mlops-drift-profile/1``)::

    {"format": "mlops-drift-profile/1", "max_sample": 50000, "seed": 0, "psi_bins": 10, "psi_edges": "midpoints",
     "features": {
       "<numeric feature>": {
         "kind": "numeric",
         "n": 120000,            # finite values in the reference data
         "n_missing": 12,        # NaN / +-inf / None (all counted as missing)
         "sample": [...],        # sorted finite values; all of them, or a deterministic
                                 # subsample of max_sample (seeded, without replacement)
         "bin_edges": [...],     # interior PSI edges: halfway between each reference decile (inverted-CDF)
                                 # and the next distinct value, deduplicated; bin i holds edges[i-1] < x <= edges[i]
         "bin_fractions": [...], # reference share per bin (len(bin_edges) + 1 values)
         "mean": 0.1, "std": 1.0, "min": -4.2, "max": 4.4, "q25": -0.6, "q75": 0.7},
       "<categorical feature>": {
         "kind": "categorical",
         "n": 120000, "n_missing": 0,
         "categories": ["a", "b"],   # category keys (see ``category_key``), sorted
         "counts": [70000, 50000]}}}

Statistics of a column without any finite value (``mean``, ``std``, ...) are ``null``.
Category keys are strings: a string stays itself, a bool becomes ``"true"``/``"false"``, an
integral number becomes its integer text (``1`` and ``1.0`` are both ``"1"``), any other number
its ``repr``; ``None`` and NaN are missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops.drift import stats
from mlops.errors import BadRequestError, UnprocessableError

PROFILE_FORMAT = "mlops-drift-profile/1"
PSI_EDGES = "midpoints"  # profiles without "psi_edges" put edges on data values: re-binned at load
KINDS = ("numeric", "categorical")
DEFAULT_PSI_BINS = 10


# ----------------------------------------------------------------------------- conversion


def numeric_values(values: Any) -> np.ndarray:
    """Return ``values`` as a float64 array (None and non-numbers become NaN)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    out = np.empty(arr.shape[0], dtype=np.float64)
    for i, v in enumerate(arr.tolist()):
        try:
            out[i] = float(v) if v is not None and not isinstance(v, str) else math.nan
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def split_finite(values: Any) -> tuple[np.ndarray, int]:
    """Return (finite values as float64, number of missing ones: NaN, +-inf, None)."""
    arr = numeric_values(values)
    finite = np.isfinite(arr)
    if finite.all():
        return arr, 0
    return arr[finite], int(arr.shape[0] - np.count_nonzero(finite))


def category_key(value: Any) -> str | None:
    """Canonical string key of one categorical value; None means missing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isfinite(f) and f == int(f):
            return str(int(f))
        return repr(f)
    return str(value)


def count_categories(values: Any) -> tuple[dict[str, int], int]:
    """Count category keys in ``values``; returns ({key: count}, number missing)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.shape[0] == 0:
        return {}, 0
    n_missing = 0
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        n_missing = int(np.count_nonzero(nan))
        arr = arr[~nan]
    if arr.dtype.kind in "iubfUS":
        uniq, cnt = np.unique(arr, return_counts=True)
        if (
            arr.dtype.kind in "iuU"
        ):  # keys are the integers' text / the strings themselves: no per-value calls
            return dict(zip(uniq.astype(str).tolist(), cnt.tolist(), strict=True)), n_missing
        counts: dict[str, int] = {}
        for u, c in zip(uniq.tolist(), cnt.tolist(), strict=True):
            key = category_key(u)
            if key is None:  # not reached: missing values were removed above
                n_missing += int(c)
                continue
            counts[key] = counts.get(key, 0) + int(c)  # 1 and 1.0 may share a key
        return counts, n_missing
    counts = {}
    for v in arr.tolist():
        key = category_key(v)
        if key is None:
            n_missing += 1
        else:
            counts[key] = counts.get(key, 0) + 1
    return counts, n_missing


# ----------------------------------------------------------------------------- build


def _float_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def psi_bin_edges(values: np.ndarray, bins: int = DEFAULT_PSI_BINS) -> np.ndarray:
    """Interior PSI bin edges, halfway between distinct reference values (``PSI_EDGES`` = "midpoints").

    For each inverted-CDF quantile q at 1/bins..(bins-1)/bins, the edge is (q + the next larger
    distinct value) / 2; a quantile at the maximum gives no edge; duplicates are dropped. No
    reference value lies on an edge, so where an edge falls does not decide the PSI: an
    integer-valued feature shifted by +0.017 stays in its bins (edges at the integers themselves
    moved every value into the next bin: PSI 0.37 for a 0.01 sd shift, 0 for a -1e-9 one).
    """
    if values.shape[0] == 0 or bins < 2:
        return np.empty(0, dtype=np.float64)
    distinct = np.unique(values)
    qs = np.unique(np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf"))
    nxt = np.searchsorted(distinct, qs, side="right")
    inside = nxt < distinct.shape[0]
    qs, nxt = qs[inside], nxt[inside]
    return np.unique(qs + (distinct[nxt] - qs) / 2)


def bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` per bin (edges[i-1] < x <= edges[i]); zeros when ``values`` is empty."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.shape[0] + 1)
    total = values.shape[0]
    return counts / total if total else counts.astype(np.float64)


def _numeric_profile(values: Any, max_sample: int, seed: int, bins: int) -> dict[str, Any]:
    finite, n_missing = split_finite(values)
    n = int(finite.shape[0])
    if n > max_sample:
        rng = np.random.default_rng(seed)
        sample = np.sort(finite[rng.choice(n, size=max_sample, replace=False)])
    else:
        sample = np.sort(finite)
    edges = psi_bin_edges(finite, bins)
    out: dict[str, Any] = {
        "kind": "numeric",
        "n": n,
        "n_missing": n_missing,
        "sample": sample.tolist(),
        "bin_edges": edges.tolist(),
        "bin_fractions": bin_fractions(finite, edges).tolist(),
    }
    if n:
        q25, q75 = np.quantile(finite, [0.25, 0.75])
        out.update(
            mean=_float_or_none(finite.mean()),
            std=_float_or_none(finite.std()),
            min=float(sample[0]) if n <= max_sample else float(finite.min()),
            max=float(sample[-1]) if n <= max_sample else float(finite.max()),
            q25=float(q25),
            q75=float(q75),
        )
    else:
        out.update(mean=None, std=None, min=None, max=None, q25=None, q75=None)
    return out


def _categorical_profile(values: Any) -> dict[str, Any]:
    counts, n_missing = count_categories(values)
    keys = sorted(counts)
    return {
        "kind": "categorical",
        "n": int(sum(counts.values())),
        "n_missing": n_missing,
        "categories": keys,
        "counts": [int(counts[k]) for k in keys],
    }


def build_reference_profile(
    columns: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    *,
    max_sample: int = 50_000,
    seed: int = 0,
    psi_bins: int = DEFAULT_PSI_BINS,
) -> dict:
    """Profile the reference (training) data once; the result is JSON-serializable.

    ``kinds`` names every feature to profile as ``"numeric"`` or ``"categorical"``; each of them
    must be a column of ``columns``. Numeric samples above ``max_sample`` values are subsampled
    deterministically (``seed``), keeping the full count in ``n``.
    """
    if not isinstance(max_sample, int) or max_sample < 1:
        raise BadRequestError("max_sample must be a positive integer")
    if not isinstance(psi_bins, int) or psi_bins < 2:
        raise BadRequestError("psi_bins must be an integer >= 2")
    features: dict[str, Any] = {}
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise BadRequestError(f"feature {name!r}: kind must be one of {KINDS}, not {kind!r}")
        if name not in columns:
            raise UnprocessableError(f"feature {name!r} has no column in the reference data")
        if kind == "numeric":
            features[name] = _numeric_profile(columns[name], max_sample, seed, psi_bins)
        else:
            features[name] = _categorical_profile(columns[name])
    return {
        "format": PROFILE_FORMAT,
        "max_sample": max_sample,
        "seed": seed,
        "psi_bins": psi_bins,
        "psi_edges": PSI_EDGES,
        "features": features,
    }


# ----------------------------------------------------------------------------- load


@dataclass(frozen=True)
class NumericReference:
    """A numeric feature of a loaded profile, as arrays."""

    name: str
    n: int
    n_missing: int
    sample: np.ndarray  # sorted finite float64 values
    ks: stats.SortedReference  # the sample prepared for KS windows
    quantiles: np.ndarray  # stats.quantile_grid(sample): for Wasserstein-1
    bin_edges: np.ndarray
    bin_fractions: np.ndarray
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    q25: float | None
    q75: float | None
    kind: str = field(default="numeric", init=False)

    @property
    def missing_share(self) -> float:
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical feature of a loaded profile, as arrays."""

    name: str
    n: int
    n_missing: int
    categories: tuple[str, ...]
    counts: np.ndarray  # int64, aligned with categories
    index: Mapping[str, int]  # category -> position
    kind: str = field(default="categorical", init=False)


@dataclass(frozen=True)
class ReferenceProfile:
    """A profile loaded once for many windows (immutable; safe to cache per model version)."""

    features: Mapping[str, NumericReference | CategoricalReference]
    max_sample: int
    seed: int
    psi_bins: int
    document: Mapping[str, Any]

    @property
    def names(self) -> list[str]:
        return list(self.features)

    def to_dict(self) -> dict:
        """The JSON document this profile was loaded from."""
        return dict(self.document)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _numeric_reference(name: str, f: Mapping[str, Any], doc: Mapping[str, Any]) -> NumericReference:
    """One numeric feature of profile ``doc`` as arrays (re-binned if ``doc`` predates midpoint edges)."""
    sample = np.asarray(f["sample"], dtype=np.float64)
    if sample.shape[0] > 1 and np.any(sample[1:] < sample[:-1]):
        raise UnprocessableError(f"profile feature {name!r}: sample is not sorted")
    if not np.isfinite(sample).all():
        raise UnprocessableError(f"profile feature {name!r}: sample has non-finite values")
    edges = np.asarray(f["bin_edges"], dtype=np.float64)
    fractions = np.asarray(f["bin_fractions"], dtype=np.float64)
    if doc.get("psi_edges") != PSI_EDGES:  # a profile made before midpoint edges: re-bin from its sample
        edges = psi_bin_edges(sample, int(doc.get("psi_bins", DEFAULT_PSI_BINS)))
        fractions = bin_fractions(sample, edges)
    return NumericReference(
        name=name,
        n=int(f["n"]),
        n_missing=int(f.get("n_missing", 0)),
        sample=sample,
        ks=stats.SortedReference.prepare(sample),
        quantiles=stats.quantile_grid(sample),
        bin_edges=edges,
        bin_fractions=fractions,
        mean=_opt_float(f.get("mean")),
        std=_opt_float(f.get("std")),
        min=_opt_float(f.get("min")),
        max=_opt_float(f.get("max")),
        q25=_opt_float(f.get("q25")),
        q75=_opt_float(f.get("q75")),
    )


def _categorical_reference(name: str, f: Mapping[str, Any]) -> CategoricalReference:
    """One categorical feature of a profile document: its categories, counts and their index."""
    cats = tuple(str(c) for c in f["categories"])
    counts = np.asarray(f["counts"], dtype=np.int64)
    if counts.shape[0] != len(cats):
        raise UnprocessableError(f"profile feature {name!r}: categories and counts differ")
    return CategoricalReference(
        name=name,
        n=int(f["n"]),
        n_missing=int(f.get("n_missing", 0)),
        categories=cats,
        counts=counts,
        index={c: i for i, c in enumerate(cats)},
    )


def load_profile(d: Mapping[str, Any] | ReferenceProfile) -> ReferenceProfile:
    """Turn a profile document (from ``build_reference_profile`` / JSON) into arrays, once."""
    if isinstance(d, ReferenceProfile):
        return d
    if not isinstance(d, Mapping) or d.get("format") != PROFILE_FORMAT:
        raise UnprocessableError(f"not a drift profile (expected format {PROFILE_FORMAT!r})")
    raw = d.get("features")
    if not isinstance(raw, Mapping):
        raise UnprocessableError("drift profile has no 'features' object")
    features: dict[str, NumericReference | CategoricalReference] = {}
    try:
        for name, f in raw.items():
            if f["kind"] == "numeric":
                features[name] = _numeric_reference(name, f, d)
            elif f["kind"] == "categorical":
                features[name] = _categorical_reference(name, f)
            else:
                raise UnprocessableError(f"profile feature {name!r}: unknown kind {f['kind']!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise UnprocessableError(f"malformed drift profile: {exc!r}") from None
    for f in features.values():
        for part in (f, f.ks) if isinstance(f, NumericReference) else (f,):
            for arr in vars(part).values():
                if isinstance(arr, np.ndarray):
                    arr.setflags(write=False)
    return ReferenceProfile(
        features=features,
        max_sample=int(d.get("max_sample", 0)),
        seed=int(d.get("seed", 0)),
        psi_bins=int(d.get("psi_bins", DEFAULT_PSI_BINS)),
        document=d,
    )
