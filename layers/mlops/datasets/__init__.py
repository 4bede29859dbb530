"""Datasets as first-class, versioned, immutable records (issue 15, section 1).

A dataset version is a set of Parquet parts in the stack's object store (file, S3-compatible or OCI),
each named by its sha256, plus a JSON manifest that is the commit point::

    datasets/<name>/parts/<sha256>.parquet     zstd, parts (= row groups) of 1Mi rows
    datasets/<name>/versions/<n:010d>.json     the manifest, created exclusively (never changed)

The manifest records the content digest, the schema (column names, Arrow types, nullability, per-column
null counts, the exact Arrow schema), the entity keys and the event-time column (a timestamp), the row
count, the event-time range, the parts, the storage location and the lineage (sources, feature-group
versions, parent datasets, label source). See ``mlops.datasets.write.dataset_digest`` for the digest.

Use::

    from mlops.datasets import DatasetStore
    ds = DatasetStore.for_registry(registry)   # audited in the registry's log, as its actor
    # or DatasetStore(store, audit=fn, actor="alice") with fn(action, subject, details)
    v = ds.create("churn-train", table, entity_keys=["customer_id"], event_time="ts",
                  lineage={"sources": ["s3://raw/churn/2026-11"]})
    ds.read("churn-train", v.version, columns=["customer_id", "tenure"])
    ds.diff("churn-train:1", "churn-train:2")

Layer: core (beside ``mlops.storage``). It imports only storage, names, errors and times, so the registry
(above it) can check a model version's dataset references (``catalog.resolve_references``) without an
upward import, and the feature store and retraining services can build on it. pyarrow is imported only
when data is written or read; ``catalog`` and ``keys`` need none.
"""

from __future__ import annotations

from mlops.datasets.catalog import resolve_references
from mlops.datasets.keys import format_ref, parse_ref
from mlops.datasets.store import DatasetStore, DatasetVersion

__all__ = ["DatasetStore", "DatasetVersion", "format_ref", "parse_ref", "resolve_references"]
