"""Fixtures for the dataset tests: a file store, a registry on it (for the audit log) and sample tables."""

from __future__ import annotations

import datetime as dt

import pytest
from mlops.datasets import DatasetStore
from mlops.registry import Registry
from mlops.storage import FileStore

from tests.harness import ManualClock

UTC = dt.UTC


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(tmp_path / "store")


@pytest.fixture
def reg(store) -> Registry:
    return Registry(store, clock=ManualClock(), actor="alice")


@pytest.fixture
def ds(reg) -> DatasetStore:
    """Small parts and row groups, so a few rows already make several of each."""
    return DatasetStore.for_registry(reg, rows_per_part=7, row_group_rows=3)


def sample(n: int = 20, *, offset: int = 0):
    """A table with the types datasets must keep exactly, and nulls in most columns."""
    import decimal

    import pyarrow as pa

    start = dt.datetime(2026, 3, 1, tzinfo=UTC)
    rows = range(offset, offset + n)
    return pa.table(
        {
            "customer_id": pa.array([f"c-{i}" for i in rows], pa.string()),
            "ts": pa.array([start + dt.timedelta(hours=i) for i in rows], pa.timestamp("ns", tz="UTC")),
            "tenure": pa.array([None if i % 5 == 0 else i for i in rows], pa.int32()),
            "spend": pa.array([None if i % 4 == 0 else i * 1.5 for i in rows], pa.float64()),
            "active": pa.array([None if i % 6 == 0 else i % 2 == 0 for i in rows], pa.bool_()),
            "plan": pa.array([None if i % 3 == 0 else ["basic", "pro", "é€"][i % 3] for i in rows]),
            "blob": pa.array([bytes([i % 256]) * (i % 3) for i in rows], pa.binary()),
            "signup": pa.array([dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in rows], pa.date32()),
            "local_time": pa.array(
                [dt.datetime(2026, 1, 1, 8) + dt.timedelta(minutes=i) for i in rows], pa.timestamp("ms")
            ),
            "price": pa.array([decimal.Decimal(i) / 100 for i in rows], pa.decimal128(10, 2)),
            "tags": pa.array([[i, i + 1] if i % 2 else None for i in rows], pa.list_(pa.int64())),
        }
    )
