"""A version's data-quality expectations: the suite given at registration (``mlops train`` passes the one
the training data met) or one inferred from the training columns, stored as YAML under its sha256 like an
artifact and referenced from the version record. ``load_expectations`` reads it back, verified — the hook
for the validation gate, the inference function's policy and the drift function (not wired yet)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.quality.suite import FORMAT, Suite, dumps, from_dict, loads
from mlops.registry import artifacts


def store_expectations(store: Any, columns: Mapping[str, Any] | None, given: Any) -> dict[str, Any] | None:
    """Store ``given`` (a Suite or its YAML text) or, without it, a suite inferred from ``columns``; its
    reference for the version record, or None (nothing given and no training columns)."""
    if given is None and columns is None:
        return None
    if isinstance(given, Suite):
        suite = given
    elif isinstance(given, (str, bytes)):
        suite = loads(given)
    elif isinstance(given, Mapping):
        suite = from_dict(given)
    else:
        from mlops.quality.inference import infer  # pyarrow: only when a suite is inferred

        suite = infer(dict(columns or {}))
    up = artifacts.upload(store, dumps(suite).encode(), content_type="application/yaml")
    return {
        "sha256": up["sha256"],
        "size": up["size"],
        "key": up["key"],
        "format": FORMAT,
        "digest": suite.digest(),
        "columns": len(suite.columns),
    }


def load_expectations(store: Any, record: Mapping[str, Any]) -> Suite | None:
    """The suite a version record references (verified by sha256), or None when it has none."""
    ref = record.get("expectations")
    if not ref:
        return None
    return loads(artifacts.fetch_verified(store, ref["sha256"], size=ref.get("size"), what="expectations"))
