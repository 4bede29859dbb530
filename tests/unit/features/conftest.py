"""Shared helpers of the feature-store tests: a file store, a group registered from a dict, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from mlops.features.definition import parse_definition
from mlops.features.groups import register_group
from mlops.storage import FileStore

T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1_000_000)  # microseconds
NOW_S = datetime(2030, 1, 1, tzinfo=UTC).timestamp()  # the ingestion clock: far after every event


@pytest.fixture
def store(tmp_path):
    return FileStore(tmp_path / "store")


def register(store, name, *, keys=(("customer_id", "string"),), features=(("value", "float64"),), ttl="none"):
    doc = {
        "name": name,
        "entity_keys": [{"name": k, "type": t} for k, t in keys],
        "event_time": "event_ts",
        "ttl": ttl,
        "features": [{"name": f, "type": t} for f, t in features],
    }
    gv, _ = register_group(
        store, parse_definition(doc, f"{name}.yaml"), now=lambda: "2026-01-01T00:00:00Z", actor="t"
    )
    return gv


def ts(values_us):
    return pa.array(values_us, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
